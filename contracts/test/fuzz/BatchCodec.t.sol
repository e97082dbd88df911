// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "../utils/Test.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {BatchHarness} from "./BatchHarness.sol";
import {BatchRandom} from "./BatchRandom.sol";

/// @notice Row packing round-trips and the batch struct hash against an independent reference
/// (the EIP-712 rules written out by hand, with the type string spelled out rather than imported).
contract BatchCodecFuzzTest is Test, BatchRandom {
    BatchHarness internal h;

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

    function testFuzz_contributionRoundTrip(uint32 account, int128 amount) public view {
        bytes32 w = h.packContribution(account, amount);
        (uint32 a, int128 m) = h.unpackContribution(w);
        assertEq(uint256(a), uint256(account), "account");
        assertEq(int256(m), int256(amount), "amount");
        assertEq(uint256(w) & (((uint256(1) << 96) - 1) << 128), 0, "bits 223..128 zero");
        assertEq(uint256(w), (uint256(account) << 224) | uint256(uint128(amount)), "layout");
    }

    function testFuzz_marginCallRoundTrip(uint32 account, uint64 deadline, uint128 amount) public view {
        bytes32 w = h.packMarginCall(account, deadline, amount);
        (uint32 a, uint64 d, uint128 m) = h.unpackMarginCall(w);
        assertEq(uint256(a), uint256(account), "account");
        assertEq(uint256(d), uint256(deadline), "deadline");
        assertEq(uint256(m), uint256(amount), "amount");
        assertEq(uint256(w) & (((uint256(1) << 32) - 1) << 128), 0, "bits 159..128 zero");
        assertEq(uint256(w), (uint256(account) << 224) | (uint256(deadline) << 160) | amount, "layout");
    }

    function testFuzz_defaultActionRoundTrip(uint32 account, uint8 action, uint128 amount) public view {
        bytes32 w = h.packDefaultAction(account, action, amount);
        (uint32 a, uint8 act, uint128 m) = h.unpackDefaultAction(w);
        assertEq(uint256(a), uint256(account), "account");
        assertEq(uint256(act), uint256(action), "action");
        assertEq(uint256(m), uint256(amount), "amount");
        assertEq(uint256(w) & (((uint256(1) << 88) - 1) << 128), 0, "bits 215..128 zero");
        assertEq(uint256(w), (uint256(account) << 224) | (uint256(action) << 216) | amount, "layout");
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
        Batch.Data memory c = mutate(b, field % 17, salt);
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
        Batch.Data memory d = randomBatch(0, 0, 0, 0, 0); // seed 0: the three default arrays are empty
        Batch.Data memory e = randomBatch(0, 0, 0, 0, 0);
        d.contributions = new bytes32[](1);
        e.defaultActions = new bytes32[](1);
        assertTrue(h.structHash(d) != h.structHash(e), "row in contributions vs row in defaultActions");
    }
}
