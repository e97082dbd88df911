// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IVault} from "../interfaces/IVault.sol";

/// @title Signatures
/// @notice The k-of-n check of risk signers over a batch digest. Every signature scheme the vault accepts
/// (65-byte ECDSA for EOAs, EIP-1271 for contract signers) goes through here and nowhere else.
library Signatures {
    /// @notice Revert unless `sigs` holds at least `threshold` valid signatures of distinct registered
    /// signers over `digest`.
    /// @dev Strictly ascending signer addresses make a duplicate impossible without a second pass, and the
    /// zero address can never pass (it is not greater than the initial `prev`). Every listed signature must
    /// be valid: a bad one reverts rather than being skipped, so a submitter cannot pad the list.
    /// ECDSA goes through OpenZeppelin's `tryRecover`, which rejects malleable (high-s) signatures.
    function verify(
        bytes32 digest,
        IVault.SignerSignature[] calldata sigs,
        mapping(address => bool) storage isSigner,
        uint256 threshold
    ) internal view {
        address prev;
        uint256 n = sigs.length;
        for (uint256 i; i < n; ++i) {
            IVault.SignerSignature calldata s = sigs[i];
            address signer = s.signer;
            if (signer <= prev) revert IVault.SignersNotAscending(signer);
            if (!isSigner[signer]) revert IVault.UnknownSigner(signer);
            if (!SignatureChecker.isValidSignatureNowCalldata(signer, digest, s.signature)) {
                revert IVault.InvalidSignature(signer);
            }
            prev = signer;
        }
        if (n < threshold) revert IVault.BelowThreshold(n, threshold);
    }
}
