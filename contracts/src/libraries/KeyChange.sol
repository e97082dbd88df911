// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title KeyChange
/// @notice The EIP-712 message a venue signs to consent to a change of its own signing key: register
/// `newKey` (address(0): end the current key) valid from `validFrom` (0: when the change executes), at
/// the venue's `nonce` (each change uses the next one, so a signature cannot be replayed).
library KeyChange {
    bytes32 internal constant TYPEHASH =
        keccak256("KeyChange(string venue,address newKey,uint64 validFrom,uint256 nonce)");

    /// @notice The struct hash (EIP-712 `hashStruct`) of a key change.
    function hash(string memory venue, address newKey, uint64 validFrom, uint256 nonce)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(TYPEHASH, keccak256(bytes(venue)), newKey, validFrom, nonce));
    }
}
