// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IVault} from "../interfaces/IVault.sol";

/// @title WithdrawalRequests
/// @notice The EIP-712 encoding of a member's signed withdrawal request (mirrored by the Python side).
library WithdrawalRequests {
    bytes32 internal constant TYPEHASH = keccak256(
        "WithdrawalRequest(address member,uint16 asset,uint128 amount,address to,uint256 nonce,uint64 deadline)"
    );

    /// @notice EIP-712 struct hash of a withdrawal request.
    function structHash(IVault.WithdrawalRequest calldata r) internal pure returns (bytes32) {
        return keccak256(abi.encode(TYPEHASH, r.member, r.asset, r.amount, r.to, r.nonce, r.deadline));
    }
}
