// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Loosening is bounded (docs/contracts.md, "Trust model"): decreases of a member's IM/MM and of a
/// haircut count only after the governed loosening delay L, and a collateral's mark may rise at most the
/// governed band b above the period's anchor (its last non-zero price before the period's first mark row);
/// tightening (IM up, haircut up, price down) applies at once.
contract VaultLooseningTest is VaultFixture {
    uint64 internal constant L = 2 days;
    uint16 internal constant BAND = 1_000; // 10 % per period

    function setUp() public override {
        super.setUp();
        vm.startPrank(governor);
        vault.setLooseningDelay(L);
        vault.setMarkBand(BAND);
        vm.stopPrank();
        _deposit(alice, USD, 300_000 * USD_UNIT);
        _deposit(bob, WETH, 100 * WETH_UNIT);
    }

    function _batchWith(bytes32[] memory requirements, bytes32[] memory marks) internal view returns (Batch.Data memory b) {
        b = _nextBatch();
        b.requirements = requirements;
        b.marks = marks;
    }

    function _expectRevertSettle(Batch.Data memory b, bytes memory err) internal {
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(err);
        vault.settle(b, sigs);
    }

    function _im(uint32 account) internal view returns (uint256 im) {
        (im,) = vault.requirementOf(account);
    }

    // ------------------------------------------------------------------ requirements

    function test_requirementDecrease_waitsTheLooseningDelay() public {
        _settle(_batchWith(_one(_req(ALICE, 200_000e6, 100_000e6)), new bytes32[](0)));
        Batch.Data memory b = _batchWith(_one(_req(ALICE, 0, 0)), new bytes32[](0));
        uint64 until = uint64(block.timestamp + L);
        vm.expectEmit();
        emit IVault.RequirementDecreaseQueued(ALICE, 200_000e6, 100_000e6, until);
        _settle(b);
        (uint112 pim, uint112 pmm) = vault.postedRequirementOf(ALICE);
        assertEq(uint256(pim) + pmm, 0, "posted: 0");
        assertEq(_im(ALICE), 200_000e6, "in force: the old IM");
        assertEq(vault.freeCollateral(ALICE), 100_000e6, "free collateral at the old IM");
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.InsufficientMargin.selector, ALICE, int256(-1)));
        vault.requestWithdrawal(USD, 100_000e6 + 1, alice);
        vm.warp(until - 1);
        assertEq(_im(ALICE), 200_000e6, "still the old IM one second before");
        vm.warp(until);
        assertEq(_im(ALICE), 0, "the decrease counts after L");
        vm.prank(alice);
        vault.requestWithdrawal(USD, 300_000e6, alice);
    }

    /// @dev A second decrease while one waits keeps the requirement in force then, for L from the second.
    function test_requirementDecrease_again_restartsFromTheOneInForce() public {
        _settle(_batchWith(_one(_req(ALICE, 200_000e6, 100_000e6)), new bytes32[](0)));
        _settle(_batchWith(_one(_req(ALICE, 150_000e6, 100_000e6)), new bytes32[](0)));
        vm.warp(block.timestamp + L - 1);
        _settle(_batchWith(_one(_req(ALICE, 50_000e6, 10_000e6)), new bytes32[](0)));
        uint256 second = block.timestamp;
        vm.warp(second + L - 1);
        (uint256 im, uint256 mm) = vault.requirementOf(ALICE);
        assertEq(im, 200_000e6, "the IM in force at the second decrease");
        assertEq(mm, 100_000e6, "and its MM");
        vm.warp(second + L);
        (im, mm) = vault.requirementOf(ALICE);
        assertEq(im, 50_000e6, "posted IM after L");
        assertEq(mm, 10_000e6, "posted MM after L");
    }

    /// @dev An increase applies at once, also above a waiting floor; an MM decrease alone waits too.
    function test_requirementIncrease_atOnce() public {
        _settle(_batchWith(_one(_req(ALICE, 100_000e6, 50_000e6)), new bytes32[](0)));
        assertEq(_im(ALICE), 100_000e6, "increase at once");
        _settle(_batchWith(_one(_req(ALICE, 100_000e6, 10_000e6)), new bytes32[](0)));
        (, uint256 mm) = vault.requirementOf(ALICE);
        assertEq(mm, 50_000e6, "an MM decrease waits");
        _settle(_batchWith(_one(_req(ALICE, 250_000e6, 200_000e6)), new bytes32[](0)));
        (uint256 im, uint256 mm2) = vault.requirementOf(ALICE);
        assertEq(im, 250_000e6, "raised at once above the floor");
        assertEq(mm2, 200_000e6, "MM too");
    }

    /// @dev With L = 0 (a fresh deployment) a decrease counts at once and queues nothing.
    function test_zeroDelay_decreaseAtOnce() public {
        vm.prank(governor);
        vault.setLooseningDelay(0);
        _settle(_batchWith(_one(_req(ALICE, 200_000e6, 100_000e6)), new bytes32[](0)));
        _settle(_batchWith(_one(_req(ALICE, 0, 0)), new bytes32[](0)));
        assertEq(_im(ALICE), 0, "at once");
    }

    /// @dev Not retroactive: a decrease already waiting keeps its `until` when governance changes L.
    function test_setLooseningDelay_notRetroactive_governorOnly() public {
        _settle(_batchWith(_one(_req(ALICE, 200_000e6, 100_000e6)), new bytes32[](0)));
        _settle(_batchWith(_one(_req(ALICE, 0, 0)), new bytes32[](0)));
        uint256 until = block.timestamp + L;
        vm.prank(governor);
        vault.setLooseningDelay(0);
        vm.warp(until - 1);
        assertEq(_im(ALICE), 200_000e6, "the waiting decrease keeps its until");
        vm.warp(until);
        assertEq(_im(ALICE), 0, "counts at its until");
        vm.expectRevert();
        vm.prank(alice);
        vault.setLooseningDelay(1);
        vm.expectRevert();
        vm.prank(alice);
        vault.setMarkBand(1);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidDelay.selector, uint64(366 days)));
        vm.prank(governor);
        vault.setLooseningDelay(366 days);
        (uint64 delay, uint16 band) = vault.loosening();
        assertEq(delay, 0, "delay");
        assertEq(band, BAND, "band");
    }

    // ------------------------------------------------------------------ haircuts

    function test_haircutDecrease_waitsTheLooseningDelay() public {
        _markWeth(); // 2000, 20 % haircut: bob's 100 weth count 160,000
        assertEq(vault.freeCollateral(BOB), 160_000e6, "at 20 %");
        Batch.Data memory b = _batchWith(new bytes32[](0), _one(_mk(WETH, 0, 2000 * USD_UNIT)));
        uint64 until = uint64(block.timestamp + L);
        vm.expectEmit();
        emit IVault.HaircutDecreaseQueued(WETH, 2000, until);
        _settle(b);
        (, uint16 h) = vault.markOf(WETH);
        assertEq(h, 2000, "the haircut in force is still 20 %");
        assertEq(vault.freeCollateral(BOB), 160_000e6, "valued at 20 % until L");
        vm.warp(until);
        (, h) = vault.markOf(WETH);
        assertEq(h, 0, "0 % after L");
        assertEq(vault.freeCollateral(BOB), 200_000e6, "valued at 0 %");
    }

    function test_haircutIncrease_atOnce() public {
        _markWeth();
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 5000, 2000 * USD_UNIT))));
        assertEq(vault.freeCollateral(BOB), 100_000e6, "50 % at once");
    }

    // ------------------------------------------------------------------ the mark band

    function test_markRiseBeyondTheBand_refused() public {
        _markWeth(); // the first price of an asset is free: it has no anchor
        vm.warp((block.timestamp / 1 days + 1) * 1 days); // a new period: anchor 2000
        uint256 max = 2200 * USD_UNIT;
        _expectRevertSettle(
            _batchWith(new bytes32[](0), _one(_mk(WETH, 2000, max + 1))),
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(max + 1), max)
        );
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, max))));
        // a fall and a rise again within the period: still against the period's anchor
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, 1000 * USD_UNIT))));
        _expectRevertSettle(
            _batchWith(new bytes32[](0), _one(_mk(WETH, 2000, max + 1))),
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(max + 1), max)
        );
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, max))));
        // many batches in one period cannot compound the band
        _expectRevertSettle(
            _batchWith(new bytes32[](0), _two(_mk(WETH, 2000, max), _mk(WETH, 2000, max * 11 / 10))),
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(max * 11 / 10), max)
        );
        // the next period's anchor is the last price: 2200 → 2420
        vm.warp(block.timestamp + 1 days);
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, 2420 * USD_UNIT))));
        (uint128 price,) = vault.markOf(WETH);
        assertEq(price, 2420 * USD_UNIT, "(1 + b) per period");
    }

    /// @dev A fall is never refused (a crash must be markable), however far.
    function test_markFall_atOnce() public {
        _markWeth();
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, 1))));
        (uint128 price,) = vault.markOf(WETH);
        assertEq(price, 1, "crashed to 1");
    }

    /// @dev Marking an asset at 0 and re-pricing it later does not escape the band: the anchor is the last
    /// non-zero price.
    function test_markZeroThenRepriced_heldToTheBand() public {
        _markWeth();
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, 0))));
        vm.warp(block.timestamp + 3 days);
        uint256 max = 2200 * USD_UNIT;
        _expectRevertSettle(
            _batchWith(new bytes32[](0), _one(_mk(WETH, 2000, 1e30))),
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(1e30), max)
        );
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, max))));
    }

    /// @dev With no band (0, a fresh deployment) a rise is free.
    function test_noBand_riseFree() public {
        vm.prank(governor);
        vault.setMarkBand(0);
        _markWeth();
        _settle(_batchWith(new bytes32[](0), _one(_mk(WETH, 2000, 20_000 * USD_UNIT))));
        (uint128 price,) = vault.markOf(WETH);
        assertEq(price, 20_000 * USD_UNIT, "no band");
    }
}
