// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Batch} from "../libraries/Batch.sol";

/// @title IVault
/// @notice crossclear's collateral vault: events, custom errors and external functions, shared by the
/// contract, its tests and the ABI the Python side loads.
///
/// Accounts are numbered (uint32): 1 = fee account, 2 = default fund, 3 = operator capital, members
/// from 4 in order of admission. Assets are numbered (uint16): 0 = the settlement asset (the USD
/// stablecoin in which variation margin, funding and fees are paid), then listed collateral.
interface IVault {
    /// @notice One signature over a batch digest. Signatures come sorted by signer, ascending, so a
    /// signer can count only once. `signature` is 65-byte ECDSA for an EOA signer or whatever the
    /// signer contract's EIP-1271 `isValidSignature` accepts.
    struct SignerSignature {
        address signer;
        bytes signature;
    }

    /// @notice A member's off-chain signed withdrawal request (EIP-712; EIP-1271 for contract members).
    struct WithdrawalRequest {
        address member;
        uint16 asset;
        uint128 amount;
        address to;
        uint256 nonce;
        uint64 deadline;
    }

    struct Withdrawal {
        uint32 account;
        uint16 asset;
        uint128 amount;
        address to;
        uint64 readyAt; // executable from this time (request time + delay, or batch approval time)
        uint8 status; // 1 = pending, 2 = executed, 3 = cancelled
    }

    // ------------------------------------------------------------------ events

    event MemberAdmitted(address indexed member, uint32 indexed account);
    event AssetListed(uint16 indexed asset, address indexed token, uint8 decimals);
    event SignersUpdated(address[] signers, uint8 threshold);
    event WithdrawalDelayUpdated(uint64 delay);
    event EscapePeriodUpdated(uint64 period);
    event Deposited(uint32 indexed account, uint16 indexed asset, address indexed from, uint256 amount);
    event WithdrawalRequested(
        uint256 indexed id, uint32 indexed account, uint16 indexed asset, uint128 amount, address to, uint64 readyAt
    );
    event WithdrawalApproved(uint256 indexed id);
    event WithdrawalExecuted(uint256 indexed id);
    event WithdrawalCancelled(uint256 indexed id);
    /// @notice One event per batch: the rows are in the transaction's calldata, which an auditor decodes.
    event BatchSettled(uint64 indexed sequence, bytes32 indexed digest, bytes32 fillsRoot, uint64 asOf, uint256 transfers);
    /// @notice The default fund advanced `amount` of settlement asset to pay a member's cash debit.
    event LiquidityAdvanced(uint32 indexed account, uint128 amount);
    /// @notice A member's cash credit (or deposit) repaid `amount` of its advance to the default fund.
    event AdvanceRepaid(uint32 indexed account, uint128 amount);
    event WindDownTriggered(uint64 lastSequence, uint64 lastSettledAt);
    event WindDownWithdrawal(uint32 indexed account, uint16 indexed asset, address to, uint256 amount, uint256 seizedForDebt);
    /// @notice A member's default-fund contribution changed by `amount` (settlement-asset base units; < 0 is a
    /// return to its cash, or a wind-down payout); `value` is its contribution value afterwards.
    event ContributionChanged(uint32 indexed account, int256 amount, uint256 value);
    /// @notice A batch recorded a margin call on `account` (amount 0 clears it).
    event MarginCalled(uint32 indexed account, uint128 amount, uint64 deadline);
    event DefaultDeclared(uint32 indexed account);
    event DefaultClosed(uint32 indexed account);
    /// @notice One draw of the waterfall covering `defaulter`'s debt: `layer` 1 its collateral (`amount` of
    /// `asset` seized into the default fund), 2 its contribution, 3 operator capital, 4 the survivors' pool,
    /// 5 an assessment of `account`. `value` (settlement-asset base units) is what the draw covered.
    event WaterfallDraw(
        uint32 indexed defaulter, uint8 indexed layer, uint32 account, uint16 asset, uint256 amount, uint256 value
    );

    // ------------------------------------------------------------------ errors

    error ZeroAddress();
    error NotMember(address account);
    error AlreadyMember(address account);
    error UnknownAccount(uint32 account);
    error UnknownAsset(uint16 asset);
    error AssetAlreadyListed(address token);
    error TooManyAssets();
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    /// @notice The vault's token balance rose by `received`, not `expected` (fee-on-transfer, rebasing).
    error TransferAmountMismatch(uint256 expected, uint256 received);
    error InsufficientBalance(uint32 account, uint16 asset, uint256 balance, uint256 needed);
    /// @notice Haircut collateral less debt would fall below the posted initial margin.
    error InsufficientMargin(uint32 account, int256 freeCollateral);
    error WithdrawalNotFound(uint256 id);
    error WithdrawalNotPending(uint256 id);
    error WithdrawalNotReady(uint256 id, uint64 readyAt);
    error NotWithdrawalOwner(uint256 id, address caller);
    error SignatureExpired(uint64 deadline);
    error InvalidNonce(uint256 expected, uint256 given);
    error InvalidMemberSignature(address member);
    // settlement
    error BadSequence(uint64 expected, uint64 given);
    error BadPrevHash(bytes32 expected, bytes32 given);
    error StaleAsOf(uint64 last, uint64 given);
    error FutureAsOf(uint64 nowTs, uint64 given);
    error NonZeroSum(uint16 asset, int256 sum);
    error MalformedRow(bytes32 row);
    error InvalidRequirement(uint32 account, uint112 im, uint112 mm);
    error InvalidHaircut(uint16 asset, uint16 haircutBps);
    error SignersNotAscending(address signer);
    error UnknownSigner(address signer);
    error InvalidSignature(address signer);
    error BelowThreshold(uint256 valid, uint256 threshold);
    error DefaultFundExhausted(uint256 available, uint256 needed);
    // defaults and the default fund
    /// @notice A contribution return while a default is open.
    error ContributionLocked();
    /// @notice A member in default cannot request or execute withdrawals (nor be assessed).
    error MemberInDefault(uint32 account);
    error NotInDefault(uint32 account);
    error AlreadyInDefault(uint32 account);
    /// @notice CLOSE of a default whose debt is not fully covered.
    error DebtOutstanding(uint32 account, uint256 debt);
    /// @notice More than is available: a COVER above the debt, ASSESS rows above the uncovered remainder, a
    /// contribution return above the contribution value.
    error OverDraw(uint256 available, uint256 amount);
    /// @notice A COVER left `remaining` uncovered after layer 4 and the ASSESS rows did not cover it exactly.
    error Uncovered(uint256 remaining);
    /// @notice An ASSESS row while an earlier layer (the survivors' pool, layer 4) still has value.
    error LayerNotExhausted(uint8 layer);
    /// @notice Assessments of `account` for one default would exceed `cap` (ASSESSMENT_CAP_MULTIPLE × its
    /// contribution value at the DECLARE); `amount` is the cumulative total.
    error AssessmentAboveCap(uint32 account, uint256 amount, uint256 cap);
    /// @notice A batch whose transfer rows paid out of the default fund's cash (net) would leave that cash
    /// plus the outstanding advances of members not in an open default below the pool's value (what the
    /// members' contributions claim), checked once the batch's default rows have applied.
    error PoolUnderfunded(uint256 cash, uint256 advances, uint256 poolValue);
    // governance, escape hatch
    error InvalidThreshold(uint256 threshold, uint256 signers);
    /// @notice A signer appears twice in a signer set (added; not in the first interface draft).
    error DuplicateSigner(address signer);
    /// @notice The token's decimals() exceed 36, which the valuation arithmetic does not support (added).
    error UnsupportedDecimals(uint8 decimals);
    error InvalidDelay(uint64 delay);
    error EscapeHatchNotOpen(uint64 opensAt);
    error WoundDown();
    error NotWoundDown();

    // ------------------------------------------------------------------ members and assets

    /// @notice Admit a member (operator role). Contract accounts (a DAO's Safe) are welcome.
    /// @param member The member's address; it authorises withdrawals by calling or by EIP-1271.
    /// @return account The member's account number, used in batches.
    function admitMember(address member) external returns (uint32 account);

    /// @notice List an ERC-20 as collateral (governance role, behind the timelock).
    /// @param token The token; its decimals() are read and honoured.
    /// @return asset The asset number, used in batches.
    function listAsset(IERC20 token) external returns (uint16 asset);

    // ------------------------------------------------------------------ deposits and withdrawals

    /// @notice Deposit `amount` of `asset` for `member`; anyone may pay. Credits exactly what arrived and
    /// reverts if that differs from `amount`. Settlement-asset deposits repay the member's advance first.
    /// @param member The admitted member credited.
    /// @param asset The listed asset number.
    /// @param amount Token base units pulled from the caller (approve first).
    function deposit(address member, uint16 asset, uint256 amount) external;

    /// @notice Request a withdrawal of the caller's own collateral. The amount leaves the balance at once
    /// (it is pending) and the request must leave haircut collateral less debt at or above initial margin.
    /// @param asset The asset number.
    /// @param amount Base units to withdraw.
    /// @param to Recipient of the tokens.
    /// @return id The withdrawal id.
    function requestWithdrawal(uint16 asset, uint128 amount, address to) external returns (uint256 id);

    /// @notice Request a withdrawal on behalf of a member that signed it (EIP-712; EIP-1271 for contracts).
    /// @param req The signed request; `nonce` must equal `withdrawalNonce(member)`.
    /// @param signature The member's signature over `withdrawalRequestDigest(req)`.
    /// @return id The withdrawal id.
    function requestWithdrawalBySig(WithdrawalRequest calldata req, bytes calldata signature)
        external
        returns (uint256 id);

    /// @notice Pay out a pending withdrawal once its delay has passed (or a batch approved it); anyone may
    /// call. The margin check is made again against the latest posted marks and requirements.
    /// @param id The withdrawal id.
    function executeWithdrawal(uint256 id) external;

    /// @notice Cancel a pending withdrawal (its owner only); the amount returns to the balance.
    /// @param id The withdrawal id.
    function cancelWithdrawal(uint256 id) external;

    // ------------------------------------------------------------------ settlement

    /// @notice Apply a signed settlement batch atomically.
    /// @param batch The batch (see Batch.Data).
    /// @param signatures At least `threshold` registered signers' signatures over `batchDigest(batch)`,
    /// sorted by signer address ascending.
    function settle(Batch.Data calldata batch, SignerSignature[] calldata signatures) external;

    // ------------------------------------------------------------------ escape hatch

    /// @notice Start the wind-down once no batch has landed for `escapePeriod`; anyone may call.
    function triggerWindDown() external;

    /// @notice After wind-down, withdraw the caller's whole balance of `asset`, less its recorded debt
    /// (collateral that covers an outstanding advance, at the last marks, goes to the default fund).
    /// @param asset The asset number.
    /// @param to Recipient of the tokens.
    function windDownWithdraw(uint16 asset, address to) external;

    /// @notice After wind-down, pay out a system account (fee account, default fund, operator capital)
    /// to `to` (governance role).
    function windDownWithdrawSystem(uint32 account, uint16 asset, address to) external;

    // ------------------------------------------------------------------ governance and guardian

    /// @notice Replace the risk-signer set and threshold (governance role, behind the timelock).
    function setSigners(address[] calldata signers, uint8 threshold) external;

    /// @notice Set the delay between a withdrawal request and its execution (governance role).
    function setWithdrawalDelay(uint64 delay) external;

    /// @notice Set how long without a batch opens the escape hatch (governance role).
    function setEscapePeriod(uint64 period) external;

    /// @notice Pause deposits and settlement (guardian role). Never pauses withdrawals or the escape hatch.
    function pause() external;

    /// @notice Lift a pause (governance role).
    function unpause() external;

    // ------------------------------------------------------------------ views

    function batchDigest(Batch.Data calldata batch) external view returns (bytes32);
    function withdrawalRequestDigest(WithdrawalRequest calldata req) external view returns (bytes32);
    function domainSeparator() external view returns (bytes32);
    function balanceOf(uint32 account, uint16 asset) external view returns (uint256);
    function debtOf(uint32 account) external view returns (uint256);
    function requirementOf(uint32 account) external view returns (uint112 im, uint112 mm);
    function markOf(uint16 asset) external view returns (uint128 price, uint16 haircutBps);
    /// @notice Haircut collateral value less debt less initial margin, in settlement-asset base units
    /// (rounded down: conservative against the member).
    function freeCollateral(uint32 account) external view returns (int256);
    function accountOf(address member) external view returns (uint32);
    function memberOf(uint32 account) external view returns (address);
    function accountCount() external view returns (uint32);
    function assetCount() external view returns (uint16);
    function assetToken(uint16 asset) external view returns (IERC20);
    /// @notice Sum of all balances plus pending withdrawals of `asset`: what the vault owes.
    function totalOwed(uint16 asset) external view returns (uint256);
    function withdrawal(uint256 id) external view returns (Withdrawal memory);
    function withdrawalNonce(address member) external view returns (uint256);
    function lastSequence() external view returns (uint64);
    function lastBatchHash() external view returns (bytes32);
    function lastAsOf() external view returns (uint64);
    function lastSettledAt() external view returns (uint64);
    function signers() external view returns (address[] memory);
    function threshold() external view returns (uint8);
    function isSigner(address signer) external view returns (bool);
    function withdrawalDelay() external view returns (uint64);
    function escapePeriod() external view returns (uint64);
    function woundDown() external view returns (bool);

    // ------------------------------------------------------------------ defaults and the default fund

    /// @notice A member's default-fund contribution value now (its pool shares × pool value / shares, floor).
    /// @param account The member account.
    /// @return The value in settlement-asset base units.
    function contributionOf(uint32 account) external view returns (uint256);

    /// @notice The pool of members' contributions: total value (settlement-asset base units) and shares.
    /// @return value Σ contribution values (held in the default fund's cash, or owed to it by debtors).
    /// @return shares Total shares outstanding.
    function defaultFundPool() external view returns (uint256 value, uint256 shares);

    /// @notice Whether `account` is in an open default (declared and not closed).
    /// @param account The member account.
    /// @return True between DECLARE and CLOSE.
    function inDefault(uint32 account) external view returns (bool);

    /// @notice Whether `account` was ever declared in default (stays true after CLOSE).
    /// @param account The member account.
    /// @return True once declared.
    function defaulted(uint32 account) external view returns (bool);

    /// @notice How many defaults are open; while any is, contributions cannot be returned.
    /// @return The number of declared, not yet closed, defaults.
    function openDefaults() external view returns (uint256);

    /// @notice The last margin call a batch recorded on `account`.
    /// @param account The member account.
    /// @return amount Settlement-asset base units (0: no call).
    /// @return deadline Unix seconds by which the call must be met.
    function marginCallOf(uint32 account) external view returns (uint128 amount, uint64 deadline);

    /// @notice Operator capital (skin in the game, waterfall layer 3): account 3's settlement-asset cash.
    /// @return The balance in settlement-asset base units.
    function operatorCapital() external view returns (uint256);
}
