// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 1: anyone makes a signed COVER batch revert with a 1-wei deposit (or, before its
/// DECLARE lands, the defaulter with a 1-wei withdrawal request).
/// `Vault._refuseCapacityMovesBesideCover` refuses a mark row changing asset X when a COVERed account holds
/// any X, or has any pending withdrawal (`_coveredHolds`), judged on the state at inclusion. Both are
/// third-party controlled: `deposit` is open to anyone for any member (even one in default, even while
/// paused). The batch below (COVER + ASSESS, plus the engine's ordinary re-mark of an asset the defaulter
/// does not hold) lands as signed; after a 1-wei deposit of that asset for the defaulter, the same signed
/// batch reverts. The engine (offchain/settlement/builder.py `assemble`) puts every changed collateral mark
/// in every batch, default rows included, and nowhere knows this rule.
contract Rev11R4DustDepositBlocksCover is DefaultsFixture {
    MockERC20 internal wbtc;
    uint16 internal constant WBTC = 2;

    function setUp() public override {
        super.setUp();
        wbtc = new MockERC20("Wrapped BTC", "WBTC", 8);
        vm.prank(governor);
        vault.listAsset(IERC20(address(wbtc)), uint128(60_000 * USD_UNIT), 3000);
        _setUpDefault();
        _declareAlice();
    }

    /// The COVER of VaultCoverCapacity's worked example, with a (falling) wbtc mark alice has nothing to do with.
    function _signedCover() internal view returns (Batch.Data memory b, IVault.SignerSignature[] memory sigs) {
        b = _nextBatch();
        b.marks = _one(_mk(WBTC, 3000, 59_000 * USD_UNIT));
        b.defaultActions = _three(
            _a(ALICE, Batch.COVER, 40_000e6), _a(BOB, Batch.ASSESS, 4_200e6), _a(CAROL, Batch.ASSESS, 2_800e6)
        );
        sigs = _sign(b, _quorum());
    }

    function test_control_theSignedCoverLands() public {
        (Batch.Data memory b, IVault.SignerSignature[] memory sigs) = _signedCover();
        vault.settle(b, sigs);
        assertEq(vault.debtOf(ALICE), 0, "covered");
    }

    function test_harm_oneWeiDepositByAnyoneRevertsTheSignedCover() public {
        (Batch.Data memory b, IVault.SignerSignature[] memory sigs) = _signedCover();
        // front-runner: anyone, 1 satoshi (worth 0.0006 usd) for the defaulter
        address griefer = address(0xBAD);
        wbtc.mint(griefer, 1);
        vm.startPrank(griefer);
        wbtc.approve(address(vault), 1);
        vault.deposit(alice, WBTC, 1);
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IVault.CapacityMovedBesideCover.selector, b.marks[0]));
        vault.settle(b, sigs);
        assertEq(vault.debtOf(ALICE), 40_000e6, "the default stays uncovered");
        assertTrue(vault.inDefault(ALICE), "still open");
    }

    /// The same with the DECLARE in the batch: the defaulter-to-be (free collateral still >= 0 at the vault's
    /// last state) requests 1 wei before inclusion: `_pendingIds` is non-empty, so every changed mark of ANY
    /// asset is refused.
    function _declareCarolBatch() internal view returns (Batch.Data memory b) {
        b = _nextBatch();
        b.marks = _one(_mk(WBTC, 3000, 59_000 * USD_UNIT));
        b.transfers = _two(_t(CAROL, USD, -20_000e6), _t(DAVE, USD, 20_000e6));
        b.defaultActions = _two(_a(CAROL, Batch.DECLARE, 0), _a(CAROL, Batch.COVER, 1));
    }

    function test_control_declarePlusCoverLands() public {
        _settle(_declareCarolBatch());
        assertTrue(vault.inDefault(CAROL), "declared");
    }

    function test_harm_defaulterWithdrawalRequestRevertsDeclarePlusCover() public {
        // a fresh defaulter: carol, with wbtc-free collateral and some cash; its loss is in the same batch
        Batch.Data memory b = _declareCarolBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        // carol holds 16,000 cash and no IM: 1 wei request passes the margin check
        vm.prank(carol);
        vault.requestWithdrawal(USD, 1, carol);
        vm.expectRevert(abi.encodeWithSelector(IVault.CapacityMovedBesideCover.selector, b.marks[0]));
        vault.settle(b, sigs);
    }
}
