// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Random batches, single-field mutations and an independent struct-hash reference, shared by the
/// batch codec and the vault digest fuzz tests.
abstract contract BatchRandom {
    bytes32 internal constant TYPEHASH_REFERENCE = keccak256(
        "Batch(uint64 sequence,bytes32 prevHash,uint64 asOf,bytes32 fillsRoot,bytes32[] transfers,bytes32[] requirements,bytes32[] marks,uint256[] approvedWithdrawals,bytes32 contextHash,bytes32[] contributions,bytes32[] marginCalls,bytes32[] defaultActions,uint64 validUntil)"
    );

    function referenceStructHash(Batch.Data memory b) public pure returns (bytes32) {
        bytes32[14] memory enc = [
            TYPEHASH_REFERENCE,
            bytes32(uint256(b.sequence)),
            b.prevHash,
            bytes32(uint256(b.asOf)),
            b.fillsRoot,
            keccak256(abi.encodePacked(b.transfers)),
            keccak256(abi.encodePacked(b.requirements)),
            keccak256(abi.encodePacked(b.marks)),
            keccak256(abi.encodePacked(b.approvedWithdrawals)),
            b.contextHash,
            keccak256(abi.encodePacked(b.contributions)),
            keccak256(abi.encodePacked(b.marginCalls)),
            keccak256(abi.encodePacked(b.defaultActions)),
            bytes32(uint256(b.validUntil))
        ];
        return keccak256(abi.encodePacked(enc));
    }

    function randomBatch(uint256 seed, uint256 nT, uint256 nR, uint256 nM, uint256 nW)
        public
        pure
        returns (Batch.Data memory b)
    {
        b.sequence = uint64(uint256(keccak256(abi.encode(seed, "seq"))));
        b.prevHash = keccak256(abi.encode(seed, "prev"));
        b.asOf = uint64(uint256(keccak256(abi.encode(seed, "asOf"))));
        b.fillsRoot = keccak256(abi.encode(seed, "root"));
        b.contextHash = keccak256(abi.encode(seed, "context"));
        b.transfers = _words(seed, "t", nT);
        b.requirements = _words(seed, "r", nR);
        b.marks = _words(seed, "m", nM);
        bytes32[] memory w = _words(seed, "w", nW);
        b.approvedWithdrawals = new uint256[](nW);
        for (uint256 i; i < nW; ++i) {
            b.approvedWithdrawals[i] = uint256(w[i]);
        }
        // the default-management arrays: lengths derived from the seed (0..2 rows each)
        b.contributions = _words(seed, "c", seed % 3);
        b.marginCalls = _words(seed, "mc", (seed >> 8) % 3);
        b.defaultActions = _words(seed, "da", (seed >> 16) % 3);
        b.validUntil = uint64(uint256(keccak256(abi.encode(seed, "validUntil"))));
    }

    function mutate(Batch.Data memory b, uint256 field, uint256 salt) public pure returns (Batch.Data memory c) {
        c = _copy(b);
        uint256 d = salt == 0 ? 1 : salt; // a non-zero xor delta
        if (field == 0) c.sequence ^= uint64(d) | 1;
        else if (field == 1) c.prevHash ^= bytes32(d);
        else if (field == 2) c.asOf ^= uint64(d) | 1;
        else if (field == 3) c.fillsRoot ^= bytes32(d);
        else if (field == 4) c.transfers[d % c.transfers.length] ^= bytes32(d);
        else if (field == 5) c.requirements[d % c.requirements.length] ^= bytes32(d);
        else if (field == 6) c.marks[d % c.marks.length] ^= bytes32(d);
        else if (field == 7) c.approvedWithdrawals[d % c.approvedWithdrawals.length] ^= d;
        else if (field == 8) c.transfers = _push(c.transfers, bytes32(d));
        else if (field == 9) c.marks = _pop(c.marks);
        else if (field == 10) {
            // swap two transfer rows (order is signed too)
            (c.transfers[0], c.transfers[1]) = (c.transfers[1], c.transfers[0]);
            if (c.transfers[0] == c.transfers[1]) c.transfers[0] ^= bytes32(uint256(1));
        } else if (field == 11) {
            c.approvedWithdrawals = new uint256[](0);
        } else if (field == 12) {
            c.contextHash ^= bytes32(d);
        } else if (field == 13) {
            c.contributions = _push(c.contributions, bytes32(d));
        } else if (field == 14) {
            c.marginCalls = _push(c.marginCalls, bytes32(d));
        } else if (field == 15) {
            c.defaultActions = _push(c.defaultActions, bytes32(d));
        } else {
            c.validUntil ^= uint64(d) | 1;
        }
    }

    function _words(uint256 seed, string memory tag, uint256 n) private pure returns (bytes32[] memory w) {
        w = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            w[i] = keccak256(abi.encode(seed, tag, i));
        }
    }

    function _copy(Batch.Data memory b) private pure returns (Batch.Data memory c) {
        c.sequence = b.sequence;
        c.prevHash = b.prevHash;
        c.asOf = b.asOf;
        c.fillsRoot = b.fillsRoot;
        c.contextHash = b.contextHash;
        c.validUntil = b.validUntil;
        c.transfers = _push(b.transfers, bytes32(0));
        c.transfers = _pop(c.transfers);
        c.requirements = _pop(_push(b.requirements, bytes32(0)));
        c.marks = _pop(_push(b.marks, bytes32(0)));
        c.contributions = _pop(_push(b.contributions, bytes32(0)));
        c.marginCalls = _pop(_push(b.marginCalls, bytes32(0)));
        c.defaultActions = _pop(_push(b.defaultActions, bytes32(0)));
        c.approvedWithdrawals = new uint256[](b.approvedWithdrawals.length);
        for (uint256 i; i < b.approvedWithdrawals.length; ++i) {
            c.approvedWithdrawals[i] = b.approvedWithdrawals[i];
        }
    }

    function _push(bytes32[] memory a, bytes32 x) private pure returns (bytes32[] memory r) {
        r = new bytes32[](a.length + 1);
        for (uint256 i; i < a.length; ++i) {
            r[i] = a[i];
        }
        r[a.length] = x;
    }

    function _pop(bytes32[] memory a) private pure returns (bytes32[] memory r) {
        r = new bytes32[](a.length - 1);
        for (uint256 i; i + 1 < a.length; ++i) {
            r[i] = a[i];
        }
    }
}
