// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Review of issue 11 (rev11): actions between signing and inclusion.
contract Rev11FrontRunTest is VaultFixture {
    function setUp() public override {
        super.setUp();
        _fundDefaultFund(20_000 * USD_UNIT);
        _deposit(alice, USD, 100_000 * USD_UNIT);
        _deposit(alice, WETH, 10 * WETH_UNIT);
        _markWeth();
        Batch.Data memory b = _nextBatch();
        b.requirements = _one(_req(ALICE, 10_000 * USD_UNIT, 5_000 * USD_UNIT));
        _settle(b);
    }

    /// FINDING (liveness): the losing member makes the batch that books its loss revert. The engine signs a
    /// batch debiting alice's 95,000 loss (she holds 100,000 cash, IM 10,000); before it lands she requests a
    /// withdrawal of 90,000 cash (her free collateral before the loss allows it). The debit now needs an advance
    /// of 85,000 from a fund holding 20,000: DefaultFundExhausted, the whole batch (every other member's
    /// settlement too) reverts. Requests are not among the third-party actions the batch tolerates (deposit,
    /// cancel, execute); she can repeat it on every re-signed batch while her free collateral allows.
    function test_FINDING_loserRequestsWithdrawalAndRevertsTheBatch() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -95_000e6), _t(BOB, USD, 95_000e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(alice);
        vault.requestWithdrawal(USD, uint128(90_000 * USD_UNIT), alice);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.DefaultFundExhausted.selector, 20_000 * USD_UNIT, 85_000 * USD_UNIT)
        );
        vault.settle(b, sigs);
    }

    /// Same with a collateral row (e.g. a collateral transfer the engine books): a request of the weth the row
    /// debits makes it revert InsufficientBalance.
    function test_FINDING_requestOfDebitedCollateralRevertsTheBatch() public {
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, WETH, -int256(1 * WETH_UNIT)), _t(BOB, WETH, int256(1 * WETH_UNIT)));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(alice);
        vault.requestWithdrawal(WETH, uint128(10 * WETH_UNIT), alice);
        vm.expectRevert();
        vault.settle(b, sigs);
    }

    /// Refused: a third party's deposit or the owner's cancel does not break a signed batch.
    function test_depositAndCancelBetweenSigningAndInclusion_batchLands() public {
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, uint128(1_000 * USD_UNIT), alice);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -50_000e6), _t(BOB, USD, 50_000e6));
        b.approvedWithdrawals = _approval(id);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        _deposit(carol, USD, 1);
        vm.prank(alice);
        vault.cancelWithdrawal(id);
        vm.expectEmit();
        emit IVault.RowAdjusted(Batch.ROWS_APPROVALS, 0, bytes32(b.approvedWithdrawals[0]), 0);
        vault.settle(b, sigs);
    }

    /// FINDING (third party): the same with a relayer. Alice signed a withdrawal request earlier (EIP-712, any
    /// relayer may submit it until its deadline); whoever holds it submits it between the signing and the
    /// inclusion of the batch booking her loss, and the batch reverts.
    function test_FINDING_relayedSignedRequestRevertsTheBatch() public {
        IVault.WithdrawalRequest memory r =
            IVault.WithdrawalRequest(alice, USD, uint128(90_000 * USD_UNIT), alice, 0, uint64(block.timestamp + 1 days));
        bytes memory sig = _withdrawalSig(ALICE_KEY, r);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -95_000e6), _t(BOB, USD, 95_000e6));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.prank(address(0xBAD));
        vault.requestWithdrawalBySig(r, sig);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.DefaultFundExhausted.selector, 20_000 * USD_UNIT, 85_000 * USD_UNIT)
        );
        vault.settle(b, sigs);
    }
}
