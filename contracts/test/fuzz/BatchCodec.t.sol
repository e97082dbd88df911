// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "../utils/Test.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {BatchHarness} from "./BatchHarness.sol";

/// @notice Row packing round-trips and the batch struct hash against an independent reference
/// (the EIP-712 rules written out by hand, with the type string spelled out rather than imported).
contract BatchCodecFuzzTest is Test {
    BatchHarness internal h;

    bytes32 internal constant TYPEHASH_REFERENCE = keccak256(
        "Batch(uint64 sequence,bytes32 prevHash,uint64 asOf,bytes32 fillsRoot,bytes32[] transfers,bytes32[] requirements,bytes32[] marks,uint256[] approvedWithdrawals)"
    );
    uint256 internal constant TRANSFER_GAP_MASK = ((uint256(1) << 80) - 1) << 128; // bits 207..128
    uint256 internal constant MARK_GAP_MASK = ((uint256(1) << 96) - 1) << 128; // bits 223..128

    function setUp() public {
        h = new BatchHarness();
    }

    // ------------------------------------------------------------------ transfers

    function testFuzz_transferRoundTrip(uint32 account, uint16 asset, int128 amount) public view {
        bytes32 w = h.packTransfer(account, asset, amount);
        (uint32 a, uint16 s, int128 m) = h.unpackTransfer(w);
        assertEq(uint256(a), uint256(account), "account");
        assertEq(uint256(s), uint256(asset), "asset");
        assertEq(int256(m), int256(amount), "amount");
        assertEq(uint256(w) & TRANSFER_GAP_MASK, 0, "reserved bits must stay zero");
        // The layout is the documented one, bit for bit (the Python side packs the same way).
        uint256 expected = (uint256(account) << 224) | (uint256(asset) << 208) | uint256(uint128(amount));
        assertEq(w, bytes32(expected), "layout");
    }

    function testFuzz_transferPackingInjective(uint32 a1, uint16 s1, int128 m1, uint32 a2, uint16 s2, int128 m2)
        public
        view
    {
        bool same = a1 == a2 && s1 == s2 && m1 == m2;
        assertEq(h.packTransfer(a1, s1, m1) == h.packTransfer(a2, s2, m2), same, "distinct rows, distinct words");
    }

    /// @dev Any word unpacks to fields that re-pack to the word with its reserved bits cleared, so the
    /// reserved bits are the only information a decoder drops (a vault must reject non-zero ones).
    function testFuzz_transferUnpackRepack(bytes32 w) public view {
        (uint32 a, uint16 s, int128 m) = h.unpackTransfer(w);
        assertEq(h.packTransfer(a, s, m), bytes32(uint256(w) & ~TRANSFER_GAP_MASK), "repack");
    }

    function testFuzz_transferSignExtremes(uint32 account, uint16 asset) public view {
        int128[4] memory xs = [type(int128).min, type(int128).max, int128(-1), int128(1)];
        for (uint256 i; i < xs.length; ++i) {
            (,, int128 m) = h.unpackTransfer(h.packTransfer(account, asset, xs[i]));
            assertEq(int256(m), int256(xs[i]), "extreme amount");
        }
    }

    // ------------------------------------------------------------------ requirements and marks

    function testFuzz_requirementRoundTrip(uint32 account, uint112 im, uint112 mm) public view {
        bytes32 w = h.packRequirement(account, im, mm);
        (uint32 a, uint112 i, uint112 m) = h.unpackRequirement(w);
        assertEq(uint256(a), uint256(account), "account");
        assertEq(uint256(i), uint256(im), "im");
        assertEq(uint256(m), uint256(mm), "mm");
    }

    function testFuzz_markRoundTrip(uint16 asset, uint16 haircutBps, uint128 price) public view {
        bytes32 w = h.packMark(asset, haircutBps, price);
        (uint16 s, uint16 hc, uint128 p) = h.unpackMark(w);
        assertEq(uint256(s), uint256(asset), "asset");
        assertEq(uint256(hc), uint256(haircutBps), "haircut");
        assertEq(uint256(p), uint256(price), "price");
        assertEq(uint256(w) & MARK_GAP_MASK, 0, "reserved bits must stay zero");
    }

    // ------------------------------------------------------------------ struct hash

    function test_typehashMatchesSpelledOutType() public pure {
        assertEq(Batch.TYPEHASH, TYPEHASH_REFERENCE, "type hash");
    }

    function testFuzz_structHashMatchesReference(uint256 seed, uint8 nT, uint8 nR, uint8 nM, uint8 nW) public view {
        Batch.Data memory b = randomBatch(seed, nT % 12, nR % 6, nM % 6, nW % 6);
        assertEq(h.structHash(b), referenceStructHash(b), "struct hash");
    }

    /// @dev Changing any single field (or a single row) changes the hash, and an empty array hashes
    /// differently from an array holding one zero word.
    function testFuzz_structHashSensitiveToEveryField(uint256 seed, uint8 field, uint256 salt) public view {
        Batch.Data memory b = randomBatch(seed, 3, 2, 2, 2);
        bytes32 before = h.structHash(b);
        Batch.Data memory c = mutate(b, field % 12, salt);
        assertTrue(h.structHash(c) != before, "mutation must change the hash");
    }

    function test_emptyVersusZeroWord() public view {
        Batch.Data memory a = randomBatch(1, 0, 0, 0, 0);
        Batch.Data memory b = randomBatch(1, 0, 0, 0, 0);
        b.transfers = new bytes32[](1);
        assertTrue(h.structHash(a) != h.structHash(b), "[] vs [0]");
        // moving a row from one array to another is visible too
        Batch.Data memory c = randomBatch(1, 0, 0, 0, 0);
        c.requirements = new bytes32[](1);
        assertTrue(h.structHash(b) != h.structHash(c), "row in transfers vs row in requirements");
    }

    // ------------------------------------------------------------------ helpers (shared by the vault digest test)

    function referenceStructHash(Batch.Data memory b) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TYPEHASH_REFERENCE,
                b.sequence,
                b.prevHash,
                b.asOf,
                b.fillsRoot,
                keccak256(abi.encodePacked(b.transfers)),
                keccak256(abi.encodePacked(b.requirements)),
                keccak256(abi.encodePacked(b.marks)),
                keccak256(abi.encodePacked(b.approvedWithdrawals))
            )
        );
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
        b.transfers = _words(seed, "t", nT);
        b.requirements = _words(seed, "r", nR);
        b.marks = _words(seed, "m", nM);
        bytes32[] memory w = _words(seed, "w", nW);
        b.approvedWithdrawals = new uint256[](nW);
        for (uint256 i; i < nW; ++i) {
            b.approvedWithdrawals[i] = uint256(w[i]);
        }
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
        } else {
            c.approvedWithdrawals = new uint256[](0);
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
        c.transfers = _push(b.transfers, bytes32(0));
        c.transfers = _pop(c.transfers);
        c.requirements = _pop(_push(b.requirements, bytes32(0)));
        c.marks = _pop(_push(b.marks, bytes32(0)));
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
