// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {IVaultMain} from "../../src/interfaces/IVaultMain.sol";
import {IVaultExtension} from "../../src/interfaces/IVaultExtension.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Governance through OpenZeppelin's TimelockController: the timelock holds GOVERNOR_ROLE, so
/// signer-set, delay and asset-list changes take schedule → wait → execute; direct calls are refused;
/// the guardian pauses but cannot unpause; a pause never blocks withdrawals or the escape hatch.
contract GovernanceTest is VaultFixture {
    uint256 internal constant MIN_DELAY = 2 days;
    TimelockController internal timelock;
    address internal proposer = address(0x9409); // e.g. the operator's governance Safe
    address internal attacker = address(0xA77AC);
    bytes32 internal constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    bytes32 internal constant READY = bytes32(uint256(1) << uint8(TimelockController.OperationState.Ready));
    uint256 internal saltCounter;

    function setUp() public override {
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0); // anyone may execute a ready operation
        timelock = new TimelockController(MIN_DELAY, proposers, executors, address(0));
        governor = address(timelock); // the fixture deploys the vault with the timelock as governor
        super.setUp();
    }

    // ------------------------------------------------------------------ helpers

    function _schedule(bytes memory data) internal returns (bytes32 id, bytes32 salt) {
        salt = bytes32(++saltCounter);
        id = timelock.hashOperation(address(vault), 0, data, bytes32(0), salt);
        vm.prank(proposer);
        timelock.schedule(address(vault), 0, data, bytes32(0), salt, MIN_DELAY);
    }

    function _execute(bytes memory data, bytes32 salt) internal {
        timelock.execute(address(vault), 0, data, bytes32(0), salt);
    }

    /// schedule, check that executing early fails with the timelock's own error, wait, execute.
    function _governed(bytes memory data) internal {
        (bytes32 id, bytes32 salt) = _schedule(data);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnexpectedOperationState.selector, id, READY));
        _execute(data, salt);
        vm.warp(block.timestamp + MIN_DELAY - 1);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnexpectedOperationState.selector, id, READY));
        _execute(data, salt);
        vm.warp(block.timestamp + 1);
        _execute(data, salt);
        assertTrue(timelock.isOperationDone(id), "done");
    }

    function _unauthorized(address who) internal {
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, GOVERNOR_ROLE));
    }

    // ------------------------------------------------------------------ governed parameters

    function test_timelockIsTheOnlyGovernor() public view {
        assertTrue(IAccessControl(address(vault)).hasRole(GOVERNOR_ROLE, address(timelock)), "timelock governs");
        assertFalse(IAccessControl(address(vault)).hasRole(GOVERNOR_ROLE, proposer), "proposer does not");
    }

    function test_setSignersThroughTimelock() public {
        address[] memory set = new address[](2);
        (set[0], set[1]) = (vm.addr(0x111), vm.addr(0x222));
        bytes memory data = abi.encodeCall(IVaultExtension.setSigners, (set, 2));

        _unauthorized(proposer);
        vm.prank(proposer);
        vault.setSigners(set, 2);
        _unauthorized(attacker);
        vm.prank(attacker);
        vault.setSigners(set, 2);

        _governed(data);
        assertEq(uint256(vault.threshold()), 2, "threshold");
        assertTrue(vault.isSigner(set[0]) && vault.isSigner(set[1]), "new signers");
        assertFalse(vault.isSigner(signerAddrs[0]), "old signers removed");

        // the old quorum can no longer settle; the new one can
        Batch.Data memory b = _nextBatch();
        IVault.SignerSignature[] memory old = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownSigner.selector, old[0].signer));
        vault.settle(b, old);
        uint256[] memory keys = new uint256[](2);
        (keys[0], keys[1]) = (0x111, 0x222);
        vault.settle(b, _sign(b, keys));
        assertEq(uint256(vault.lastSequence()), 1, "new signers settle");
    }

    function test_setWithdrawalDelayThroughTimelock() public {
        bytes memory data = abi.encodeCall(IVaultExtension.setWithdrawalDelay, (uint64(3 days)));
        _unauthorized(attacker);
        vm.prank(attacker);
        vault.setWithdrawalDelay(0);
        _governed(data);
        assertEq(uint256(vault.withdrawalDelay()), 3 days, "delay");

        _deposit(alice, USD, 10e6);
        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 1e6, alice);
        assertEq(uint256(vault.withdrawal(id).readyAt), block.timestamp + 3 days, "new delay applies");
    }

    function test_setEscapePeriodThroughTimelock() public {
        _unauthorized(attacker);
        vm.prank(attacker);
        vault.setEscapePeriod(1);
        _governed(abi.encodeCall(IVaultExtension.setEscapePeriod, (uint64(30 days))));
        assertEq(uint256(vault.nextEscapePeriod()), 30 days, "escape period scheduled");
        _settle(_nextBatch());
        assertEq(uint256(vault.escapePeriod()), 30 days, "escape period in force");
    }

    function test_listAssetThroughTimelock() public {
        MockERC20 wbtc = new MockERC20("Wrapped Bitcoin", "WBTC", 8);
        _unauthorized(attacker);
        vm.prank(attacker);
        vault.listAsset(IERC20(address(wbtc)), uint128(60_000e6), 1500);
        uint16 before = vault.assetCount();
        _governed(abi.encodeCall(IVaultMain.listAsset, (IERC20(address(wbtc)), uint128(60_000e6), uint16(1500))));
        assertEq(uint256(vault.assetCount()), uint256(before) + 1, "listed");
        assertEq(address(vault.assetToken(before)), address(wbtc), "token");
        _deposit(alice, before, 1e8);
        assertEq(vault.balanceOf(ALICE, before), 1e8, "usable");
    }

    function test_onlyProposerSchedules() public {
        bytes memory data = abi.encodeCall(IVaultExtension.setWithdrawalDelay, (uint64(0)));
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, attacker, timelock.PROPOSER_ROLE()
            )
        );
        vm.prank(attacker);
        timelock.schedule(address(vault), 0, data, bytes32(0), bytes32(0), MIN_DELAY);
        // nor with a delay shorter than the minimum
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockInsufficientDelay.selector, MIN_DELAY - 1, MIN_DELAY));
        vm.prank(proposer);
        timelock.schedule(address(vault), 0, data, bytes32(0), bytes32(0), MIN_DELAY - 1);
    }

    function test_cancelledOperationCannotExecute() public {
        bytes memory data = abi.encodeCall(IVaultExtension.setWithdrawalDelay, (uint64(0)));
        (bytes32 id, bytes32 salt) = _schedule(data);
        vm.prank(proposer); // proposers are cancellers
        timelock.cancel(id);
        vm.warp(block.timestamp + MIN_DELAY);
        vm.expectRevert(abi.encodeWithSelector(TimelockController.TimelockUnexpectedOperationState.selector, id, READY));
        _execute(data, salt);
        assertEq(uint256(vault.withdrawalDelay()), WITHDRAWAL_DELAY, "unchanged");
    }

    // ------------------------------------------------------------------ guardian

    function test_guardianPausesButCannotUnpause() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, attacker, keccak256("GUARDIAN_ROLE"))
        );
        vm.prank(attacker);
        vault.pause();
        vm.prank(guardian);
        vault.pause();
        assertTrue(Pausable(address(vault)).paused(), "paused");
        _unauthorized(guardian);
        vm.prank(guardian);
        vault.unpause();
        _governed(abi.encodeCall(IVaultMain.unpause, ()));
        assertFalse(Pausable(address(vault)).paused(), "unpaused by governance");
    }

    /// Deposits (cures) are allowed while paused; settlement is not.
    function test_pauseStopsSettlementNotDeposits() public {
        usd.mint(alice, 1e6);
        vm.prank(alice);
        usd.approve(address(vault), 1e6);
        vm.prank(guardian);
        vault.pause();
        vm.prank(alice);
        vault.deposit(alice, USD, 1e6);
        assertEq(vault.balanceOf(ALICE, USD), 1e6, "deposited while paused");
        Batch.Data memory b = _nextBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.settle(b, sigs);
    }

    /// A pause holds executions, and the paused time counts toward neither a withdrawal's delay nor the escape
    /// period; requests, cancellations and the wind-down itself are never blocked, and the pause lapses by
    /// itself after MAX_PAUSE, so the hatch still opens with no batch and no governance.
    function test_pauseHoldsWithdrawalsAndTheEscapeClockButNeverTrapsFunds() public {
        _markWeth();
        _deposit(alice, USD, 100e6);
        _deposit(alice, WETH, 2e18);
        _deposit(bob, USD, 50e6);
        vm.prank(alice);
        uint256 early = vault.requestWithdrawal(USD, 10e6, alice);
        uint256 requestedAt = block.timestamp;

        vm.warp(requestedAt + WITHDRAWAL_DELAY / 2);
        vm.prank(guardian);
        vault.pause();
        uint256 pausedAt = block.timestamp;

        vm.prank(alice);
        uint256 id = vault.requestWithdrawal(USD, 20e6, alice);
        vm.prank(alice);
        vault.cancelWithdrawal(id);
        vm.warp(requestedAt + WITHDRAWAL_DELAY); // ready but for the pause
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.executeWithdrawal(early);

        // the pause lapses by itself; the withdrawal waits the rest of its delay after it
        uint256 pauseEnd = pausedAt + vault.MAX_PAUSE();
        uint64 due = uint64(pauseEnd + (requestedAt + WITHDRAWAL_DELAY - pausedAt));
        vm.warp(pauseEnd);
        assertFalse(vault.paused(), "lapsed");
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotReady.selector, early, due));
        vault.executeWithdrawal(early);
        vm.warp(due);
        vault.executeWithdrawal(early);
        assertEq(usd.balanceOf(alice), 10e6, "withdrawn after the pause plus the remaining delay");

        // no batch since set-up: the escape period counts only unpaused time
        uint64 opensAt = uint64(vault.lastSettledAt() + ESCAPE_PERIOD + vault.MAX_PAUSE());
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(IVault.EscapeHatchNotOpen.selector, opensAt));
        vault.triggerWindDown();
        vm.warp(opensAt);
        vm.prank(attacker);
        vault.triggerWindDown();
        assertTrue(vault.woundDown(), "wound down");
        vm.prank(alice);
        vault.windDownWithdraw(USD, alice);
        vm.prank(alice);
        vault.windDownWithdraw(WETH, alice);
        vm.prank(bob);
        vault.windDownWithdraw(USD, bob);
        assertEq(usd.balanceOf(alice), 100e6, "alice has all her cash");
        assertEq(weth.balanceOf(alice), 2e18, "and her collateral");
        assertEq(usd.balanceOf(bob), 50e6, "bob too");
        assertEq(vault.totalOwed(USD), 0, "nothing owed");
    }

    /// A pause cannot be renewed back to back: the next one only PAUSE_COOLDOWN after the last ended, so the
    /// escape hatch opens within 2 x escapePeriod + MAX_PAUSE of the last batch whatever the guardian does.
    function test_pauseCooldown_PauseCoolingDown() public {
        vm.prank(guardian);
        vault.pause();
        vm.warp(block.timestamp + vault.MAX_PAUSE());
        uint64 until = uint64(block.timestamp + vault.PAUSE_COOLDOWN());
        vm.expectRevert(abi.encodeWithSelector(IVault.PauseCoolingDown.selector, until));
        vm.prank(guardian);
        vault.pause();
        vm.warp(until);
        vm.prank(guardian);
        vault.pause();
        assertEq(uint256(vault.pauseClock()), vault.MAX_PAUSE(), "the clock holds the first pause");
    }
}
