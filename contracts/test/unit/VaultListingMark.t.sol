// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Issue 11 review, finding 9: an asset could be deposited before its first mark, and that first mark
/// (the quorum's) was free of the band, outside the trust model's bound on margin manipulation. Governance now
/// lists an asset with its first mark, which anchors the band: the asset is never held unpriced, and the
/// quorum's first mark row is banded like any other. Also the band's other rules (the review's PoC).
contract VaultListingMarkTest is VaultFixture {
    uint16 internal constant BAND = 1_000; // 10 %

    function setUp() public override {
        super.setUp();
        vm.startPrank(governor);
        vault.setLooseningDelay(2 days);
        vault.setMarkBand(BAND);
        vm.stopPrank();
        _markWeth(); // 2000, 20 % haircut: the listing's mark again
    }

    function _listWbtc() internal returns (uint16 wbtcId) {
        MockERC20 wbtc = new MockERC20("WBTC", "WBTC", 8);
        vm.prank(governor);
        wbtcId = vault.listAsset(IERC20(address(wbtc)), uint128(60_000 * USD_UNIT), 1500);
    }

    /// The PoC: dave deposits 1 wbtc and the quorum's first mark prices it at a trillion usd. Now the wbtc is
    /// worth governance's listing mark from its deposit (51,000 after the 15 % haircut), and the trillion is
    /// refused: the band around the listing price allows at most 66,000.
    function test_firstMarkRowIsBandedAroundTheListingPrice() public {
        uint16 wbtcId = _listWbtc();
        _deposit(dave, wbtcId, 1e8);
        assertEq(vault.freeCollateral(DAVE), int256(51_000 * USD_UNIT), "valued at the listing's mark at once");
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(DAVE, 51_000 * USD_UNIT + 1, 0));
        _settle(b);
        assertEq(vault.freeCollateral(DAVE), int256(-1), "all of it held");
        b = _nextBatch();
        b.marks = _one(_mk(wbtcId, 1500, 1e12 * USD_UNIT));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, wbtcId, uint128(1e12 * USD_UNIT), 66_000 * USD_UNIT)
        );
        vault.settle(b, sigs);
        // one band step is what the quorum gets, as for any marked asset: 66,000 × 0.85 = 56,100
        b.marks = _one(_mk(wbtcId, 1500, 66_000 * USD_UNIT));
        _settle(b);
        assertEq(vault.freeCollateral(DAVE), int256(56_100 * USD_UNIT - 51_000 * USD_UNIT - 1), "one band step");
    }

    /// A first mark lowering governance's haircut is a loosening: the listing's haircut stays in force for L.
    function test_firstMarkRowLoweringTheListingHaircutWaits() public {
        uint16 wbtcId = _listWbtc();
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(wbtcId, 0, 60_000 * USD_UNIT));
        vm.expectEmit();
        emit IVault.HaircutDecreaseQueued(wbtcId, 1500, uint64(block.timestamp + 2 days));
        _settle(b);
        (, uint16 haircut) = vault.markOf(wbtcId);
        assertEq(uint256(haircut), 1500, "the listing's haircut in force");
    }

    /// The band's anchor in a later period is the price at its start; the listing's anchors only its own.
    function test_listingAnchorsItsPeriodOnly() public {
        uint16 wbtcId = _listWbtc();
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(wbtcId, 1500, 50_000 * USD_UNIT)); // a fall: never refused
        _settle(b);
        b = _nextBatch();
        b.marks = _one(_mk(wbtcId, 1500, 66_000 * USD_UNIT)); // back up to the listing's band, same period
        _settle(b);
        vm.warp((block.timestamp / vault.OUTFLOW_PERIOD() + 1) * vault.OUTFLOW_PERIOD());
        b = _nextBatch();
        b.marks = _one(_mk(wbtcId, 1500, 72_601 * USD_UNIT));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, wbtcId, uint128(72_601 * USD_UNIT), 72_600 * USD_UNIT)
        );
        vault.settle(b, sigs);
    }

    /// Many batches in one period cannot compound the band; at a period boundary it steps once; a price posted
    /// at 0 keeps the old anchor; the settlement asset cannot be re-marked.
    function test_bandAcrossBatchesAndThePeriodBoundary() public {
        uint256 periodEnd = (block.timestamp / vault.OUTFLOW_PERIOD() + 1) * vault.OUTFLOW_PERIOD();
        vm.warp(periodEnd - 1);
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 2200 * USD_UNIT));
        _settle(b);
        b = _nextBatch();
        b.marks = _two(_mk(WETH, 2000, 1 * USD_UNIT), _mk(WETH, 2000, 2201 * USD_UNIT)); // fall, then rise
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(2201 * USD_UNIT), 2200 * USD_UNIT)
        );
        vault.settle(b, sigs);
        // a fall to 0 in this period, then the next period: the price at its start is 0, so the anchor stays
        // the old one (2000, max 2200), not the last non-zero price (2200)
        b.marks = _one(_mk(WETH, 2000, 0));
        _settle(b);
        vm.warp(periodEnd);
        b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 2201 * USD_UNIT));
        sigs = _sign(b, _quorum());
        vm.expectRevert(
            abi.encodeWithSelector(IVault.MarkOutsideBand.selector, WETH, uint128(2201 * USD_UNIT), 2200 * USD_UNIT)
        );
        vault.settle(b, sigs);
        b.marks = _one(_mk(USD, 0, 2 * USD_UNIT));
        sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.SettlementMarkFixed.selector, uint128(2 * USD_UNIT)));
        vault.settle(b, sigs);
    }
}
