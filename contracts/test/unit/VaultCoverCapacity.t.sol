// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice The waterfall's capacities are those at the start of the batch (issue 11, "rules that hold whatever
/// else a batch carries"): marks, transfers and requirement rows in the same batch as a COVER cannot shift the
/// loss from layers 1-3 (the defaulter's collateral, its contribution, operator capital) to the survivors.
/// Layer 1 is valued at the marks in force when the batch began (mark rows apply after the default rows);
/// transfer and contribution rows that would move a capacity are refused beside a COVER (and contributions
/// beside a DECLARE), judged on the batch's rows alone (CapacityMovedBesideCover); the others leave the draws
/// exactly as in the worked example of VaultDefaults.t.sol (L1 8,000, L2 10,000, L3 5,000, L4 10,000). What a
/// third party does between signing and inclusion (a deposit, a withdrawal request) cannot make it revert
/// (issue 11, fourth review, findings 1 and 3).
contract VaultCoverCapacityTest is DefaultsFixture {
    function _coverBatch() internal view returns (Batch.Data memory b) {
        b = _nextBatch();
        b.defaultActions = _three(
            _a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 4_200e6), _a(CAROL, Batch.ASSESS, 2_800e6)
        );
    }

    function _expectRefused(Batch.Data memory b, bytes32 row) internal {
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.CapacityMovedBesideCover.selector, row));
        vault.settle(b, sigs);
    }

    function setUp() public override {
        super.setUp();
        _setUpDefault();
        _declareAlice();
    }

    /// @dev Attack: the same batch haircuts the defaulter's collateral to nothing, so layer 1 would cover nothing
    /// and the pool (the survivors) pay its 8,000. Also a price cut, and a rise (collateral counted above its
    /// worth). Each lands, layer 1 draws at the mark in force when the batch began, and the new mark applies
    /// after the default rows (it is in force for the next batch).
    function test_markChangeOfTheDefaultersCollateralBesideCover_valuedAtTheStartingMark() public {
        bytes32[3] memory rows =
            [_mk(WETH, 10_000, 2000 * USD_UNIT), _mk(WETH, 2000, 1 * USD_UNIT), _mk(WETH, 2000, 2100 * USD_UNIT)];
        for (uint256 i; i < rows.length; ++i) {
            uint256 snap = vm.snapshotState();
            Batch.Data memory b = _coverBatch();
            b.marks = _one(rows[i]);
            vm.recordLogs();
            _settle(b);
            uint256[5][] memory d = _draws();
            _eqDraw(d[0], [uint256(1), ALICE, WETH, 5 * WETH_UNIT, 8_000e6], "L1 at the mark in force before");
            _eqDraw(d[3], [uint256(4), FUND, USD, 10_000e6, 10_000e6], "L4 pool unchanged");
            (, uint16 haircut, uint128 price) = Batch.unpackMark(rows[i]);
            (uint128 p, uint16 h) = vault.markOf(WETH);
            assertEq(p, price, "the batch's mark is in force afterwards");
            assertEq(h, haircut, "and its haircut");
            vm.revertToState(snap);
        }
    }

    /// @dev Fourth review, finding 1: a 1-satoshi deposit of another asset for the defaulter between signing
    /// and inclusion, beside a changed mark of that asset, used to revert the signed COVER
    /// (CapacityMovedBesideCover). Now it lands: the dust only adds to layer 1 (seized at the starting mark)
    /// and the last ASSESS is lowered by what it covers (RowAdjusted).
    function test_dustDepositForTheDefaulter_coverStillLands() public {
        MockERC20 wbtc = new MockERC20("Wrapped BTC", "WBTC", 8);
        vm.prank(governor);
        vault.listAsset(IERC20(address(wbtc)), uint128(60_000 * USD_UNIT), 3000);
        uint16 wbtcAsset = 2;
        Batch.Data memory b = _coverBatch();
        b.marks = _one(_mk(wbtcAsset, 3000, 59_000 * USD_UNIT));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        address griefer = address(0xBAD);
        wbtc.mint(griefer, 1);
        vm.startPrank(griefer);
        wbtc.approve(address(vault), 1);
        vault.deposit(alice, wbtcAsset, 1);
        vm.stopPrank();
        vm.recordLogs();
        vault.settle(b, sigs);
        assertEq(vault.debtOf(ALICE), 0, "covered");
        assertEq(vault.balanceOf(ALICE, wbtcAsset), 0, "the dust is seized into layer 1");
        assertEq(vault.balanceOf(FUND, wbtcAsset), 1, "by the default fund");
    }

    /// @dev Fourth review, finding 1 (second form): the defaulter-to-be requests a 1-wei withdrawal before
    /// the batch carrying its DECLARE lands; the DECLARE recalls it and the COVER beside a changed mark lands.
    function test_defaulterWithdrawalRequestBeforeDeclare_batchStillLands() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 1999 * USD_UNIT));
        b.transfers = _two(_t(CAROL, USD, -20_000e6), _t(DAVE, USD, 20_000e6));
        b.defaultActions = _two(_a(CAROL, Batch.DECLARE, 0), _a(CAROL, Batch.COVER, 1));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(carol);
        vault.requestWithdrawal(USD, 1, carol);
        vault.settle(b, sigs);
        assertTrue(vault.inDefault(CAROL), "declared");
    }

    /// @dev Fourth review, finding 3: a contribution return in the batch that DECLAREs and COVERs would take
    /// a survivor's stake out of the pool ahead of the loss (and out of its assessment cap stored at the
    /// DECLARE); a top-up would have new money pay an old loss. Any contribution row beside a DECLARE or a
    /// COVER is refused, whatever its sign.
    function test_contributionRowBesideDeclareOrCover_refused() public {
        bytes32[2] memory rows = [_c(BOB, -6_000e6), _c(BOB, 1_000e6)];
        for (uint256 i; i < rows.length; ++i) {
            Batch.Data memory b = _coverBatch(); // alice is declared (setUp): a COVER
            b.contributions = _one(rows[i]);
            _expectRefused(b, rows[i]);
            b = _nextBatch(); // a DECLARE alone
            b.defaultActions = _one(_a(CAROL, Batch.DECLARE, 0));
            b.contributions = _one(rows[i]);
            _expectRefused(b, rows[i]);
        }
    }

    /// @dev Attack: the same batch moves operator capital (layer 3) away before the COVER.
    function test_operatorCapitalDebitBesideCover_refused() public {
        Batch.Data memory b = _coverBatch();
        b.transfers = _two(_t(DAVE, USD, 5_000e6), _t(OPCAP, USD, -5_000e6));
        _expectRefused(b, b.transfers[1]);
    }

    /// @dev Attack: the same batch moves the defaulter's collateral (layer 1) to a colluder before the COVER.
    function test_defaulterCollateralDebitBesideCover_refused() public {
        Batch.Data memory b = _coverBatch();
        b.transfers = _two(_t(ALICE, WETH, -int256(5 * WETH_UNIT)), _t(DAVE, WETH, int256(5 * WETH_UNIT)));
        _expectRefused(b, b.transfers[0]);
    }

    /// @dev Rows that move no capacity are allowed beside the COVER and leave layers 1-4 drawing exactly what
    /// the worked example draws: requirement rows (the defaulter's IM to 0, a survivor's raised), a mark row
    /// restating the mark in force, survivors' transfers, and credits to operator capital and the defaulter's
    /// collateral (they can only add to layers 1-3; here zero-sum between survivors, and operator capital
    /// credited from a survivor's cash).
    function test_rowsThatMoveNoCapacity_drawsUnchanged() public {
        Batch.Data memory b = _coverBatch();
        b.requirements = _two(_req(ALICE, 0, 0), _req(BOB, 1_000e6, 500e6));
        b.marks = _one(_mk(WETH, 2000, 2000 * USD_UNIT));
        b.transfers = _two(_t(BOB, USD, -1e6), _t(CAROL, USD, 1e6));
        vm.recordLogs();
        _settle(b);
        uint256[5][] memory d = _draws();
        assertEq(d.length, 6, "six draws");
        _eqDraw(d[0], [uint256(1), ALICE, WETH, 5 * WETH_UNIT, 8_000e6], "L1 collateral at the batch's start");
        _eqDraw(d[1], [uint256(2), ALICE, USD, 10_000e6, 10_000e6], "L2 own contribution");
        _eqDraw(d[2], [uint256(3), OPCAP, USD, 5_000e6, 5_000e6], "L3 operator capital");
        _eqDraw(d[3], [uint256(4), FUND, USD, 10_000e6, 10_000e6], "L4 pool");
    }

    /// @dev The mark change in a batch of its own first (visible, and banded/delayed by the loosening rules),
    /// then the COVER: the waterfall values the collateral at the mark in force when the COVER's batch began.
    function test_markChangeInItsOwnBatch_thenCover() public {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 1000 * USD_UNIT));
        _settle(b);
        b = _nextBatch();
        // L1 4,000; L2 10,000; L3 5,000; L4 10,000; 11,000 assessed pro rata 6:4
        b.defaultActions = _three(
            _a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 6_600e6), _a(CAROL, Batch.ASSESS, 4_400e6)
        );
        vm.recordLogs();
        _settle(b);
        uint256[5][] memory d = _draws();
        _eqDraw(d[0], [uint256(1), ALICE, WETH, 5 * WETH_UNIT, 4_000e6], "L1 at the posted mark");
        assertEq(vault.debtOf(ALICE), 0, "covered");
    }
}
