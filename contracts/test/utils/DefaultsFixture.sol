// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "./VaultFixture.sol";
import {Vm} from "./Vm.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice The default-management test set-up (VaultDefaults.t.sol's worked example, shared with the tests of
/// the waterfall's capacities beside a COVER): row builders, a defaulted alice, and the WaterfallDraw reader.
abstract contract DefaultsFixture is VaultFixture {
    bytes32 internal constant DRAW_SIG = keccak256("WaterfallDraw(uint32,uint8,uint32,uint16,uint256,uint256)");

    function _c(uint32 account, int256 amount) internal pure returns (bytes32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return Batch.packContribution(account, int128(amount));
    }

    function _a(uint32 account, uint8 action, uint256 amount) internal pure returns (bytes32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return Batch.packDefaultAction(account, action, uint128(amount));
    }

    function _three(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function _settleActions(bytes32[] memory actions) internal {
        Batch.Data memory b = _nextBatch();
        b.defaultActions = actions;
        _settle(b);
    }

    function _expectRevertActions(bytes32[] memory actions, bytes memory err) internal {
        Batch.Data memory b = _nextBatch();
        b.defaultActions = actions;
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(err);
        vault.settle(b, sigs);
    }

    function _setUpDefault() internal {
        _markWeth();
        _fundDefaultFund(50_000 * USD_UNIT); // the fund's own cash, which advances
        _deposit(alice, USD, 10_000 * USD_UNIT);
        _deposit(bob, USD, 20_000 * USD_UNIT);
        _deposit(carol, USD, 20_000 * USD_UNIT);
        _deposit(alice, WETH, 5 * WETH_UNIT);
        _deposit(dave, USD, 5_000 * USD_UNIT);
        Batch.Data memory b = _nextBatch();
        // operator capital 5,000 from dave; then alice loses 50,000 to dave: 40,000 advanced
        b.transfers = _two(_t(DAVE, USD, -5_000e6), _t(OPCAP, USD, 5_000e6));
        b.contributions = _three(_c(ALICE, 10_000e6), _c(BOB, 6_000e6), _c(CAROL, 4_000e6));
        _settle(b);
        b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -40_000e6), _t(DAVE, USD, 40_000e6));
        _settle(b);
        assertEq(vault.debtOf(ALICE), 40_000e6, "alice owes 40,000");
        assertEq(vault.contributionOf(ALICE), 10_000e6, "alice contribution");
        (uint256 value,) = vault.defaultFundPool();
        assertEq(value, 20_000e6, "pool");
        assertEq(vault.operatorCapital(), 5_000e6, "operator capital");
    }

    function _declareAlice() internal {
        _settleActions(_one(_a(ALICE, Batch.DECLARE, 0)));
        assertTrue(vault.inDefault(ALICE), "in default");
        assertEq(vault.openDefaults(), 1, "one open");
    }

    /// @dev The WaterfallDraw events of the last recorded logs, as (layer, account, asset, amount, value).
    function _draws() internal returns (uint256[5][] memory out) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == DRAW_SIG) ++n;
        }
        out = new uint256[5][](n);
        n = 0;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != DRAW_SIG) continue;
            assertEq(uint256(logs[i].topics[1]), uint256(ALICE), "defaulter topic");
            (uint32 account, uint16 asset, uint256 amount, uint256 value) =
                abi.decode(logs[i].data, (uint32, uint16, uint256, uint256));
            out[n++] = [uint256(logs[i].topics[2]), account, asset, amount, value];
        }
    }

    function _eqDraw(uint256[5] memory got, uint256[5] memory want, string memory what) internal pure {
        for (uint256 i; i < 5; ++i) {
            assertEq(got[i], want[i], what);
        }
    }
}
