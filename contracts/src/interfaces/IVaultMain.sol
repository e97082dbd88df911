// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Batch} from "../libraries/Batch.sol";
import {IVault} from "./IVault.sol";

/// @title IVaultMain
/// @notice The functions the Vault contract itself implements: the hot paths (settlement, deposits) and the
/// roles' one-line actions. Everything else is in IVaultExtension, served by the vault's fallback.
interface IVaultMain is IVault {
    // ------------------------------------------------------------------ members and assets

    /// @notice Admit a member (operator role). Contract accounts (a DAO's Safe) are welcome.
    /// @param member The member's address; it authorises withdrawals by calling or by EIP-1271.
    /// @return account The member's account number, used in batches.
    function admitMember(address member) external returns (uint32 account);

    /// @notice List an ERC-20 as collateral with its first mark (governance role, behind the timelock). The
    /// mark band anchors on that price, so the quorum's marks can never set an asset's first price (issue 11,
    /// finding 9): no holding is ever valued at a quorum's price that the band did not bound.
    /// @param token The token; its decimals() are read and honoured.
    /// @param price The first mark: settlement-asset base units per whole token, > 0 (ListingUnpriced).
    /// @param haircutBps The first haircut, at most 10,000 (InvalidHaircut).
    /// @return asset The asset number, used in batches.
    function listAsset(IERC20 token, uint128 price, uint16 haircutBps) external returns (uint16 asset);

    // ------------------------------------------------------------------ deposits and withdrawals

    /// @notice Deposit `amount` of `asset` for `member`; anyone may pay. Credits exactly what arrived and
    /// reverts if that differs from `amount`. Settlement-asset deposits repay the member's advance first.
    /// @param member The admitted member credited.
    /// @param asset The listed asset number.
    /// @param amount Token base units pulled from the caller (approve first).
    function deposit(address member, uint16 asset, uint256 amount) external;

    // ------------------------------------------------------------------ settlement

    /// @notice Apply a signed settlement batch atomically.
    /// @param batch The batch (see Batch.Data).
    /// @param signatures At least `threshold` registered signers' signatures over `batchDigest(batch)`,
    /// sorted by signer address ascending.
    function settle(Batch.Data calldata batch, SignerSignature[] calldata signatures) external;

    // ------------------------------------------------------------------ governance and guardian

    /// @notice Pause settlement and withdrawal execution (guardian role) for at most MAX_PAUSE; deposits,
    /// requests, cancellations and the escape hatch stay open, and paused time counts toward no delay.
    function pause() external;

    /// @notice Lift a pause (governance role).
    function unpause() external;

    // ------------------------------------------------------------------ views

    function batchDigest(Batch.Data calldata batch) external view returns (bytes32);

}
