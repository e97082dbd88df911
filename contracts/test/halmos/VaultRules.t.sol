// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Vm} from "../utils/Vm.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {VaultStorage} from "../../src/VaultStorage.sol";
import {VaultHarness} from "./VaultHarness.sol";

/// @notice Halmos proofs (`check_*`: every input symbolic, every path explored) of the vault's batch rules, on
/// the real Vault code through VaultHarness. Run by `tests/contracts/test_halmos.py` (docs/contracts.md,
/// "Symbolic proofs" gives each one's statement and bounds). Forge ignores `check_` functions.
contract VaultRulesTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint32 internal constant ACCOUNTS = 5; // fee, default fund, operator capital, two members
    uint16 internal constant ASSETS = 2; // usd (settlement) and one collateral
    uint32 internal constant MEMBER = 4;
    uint16 internal constant COLLATERAL = 1;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant PERIOD = 1 days; // VaultBase.OUTFLOW_PERIOD
    /// @dev Times up to 2**32 - 366 days (the year 2105): a requirement floor keeps its `until` in its top 32 bits.
    uint256 internal constant MAX_TIME = 2 ** 32 - 366 days;

    VaultHarness internal h;

    function setUp() public {
        h = new VaultHarness();
        h.setCounts(ACCOUNTS, ASSETS);
    }

    // ---------------------------------------------------------------- outflow budget

    /// @notice Approvals release at most the asset's budget per period: from any reachable outflow state (used
    /// within budget, a next budget only for a later period), two approvals at any time leave `used` equal to
    /// this period's earlier use plus exactly what they were granted, and within the budget in force.
    function check_approvalsStayWithinTheOutflowBudget(
        uint112 budget,
        uint112 used,
        uint32 period,
        uint112 nextBudget,
        uint32 from,
        bool set,
        uint128 a1,
        uint128 a2,
        uint64 t
    ) public {
        vm.assume(used <= budget && (!set || from > period));
        uint256 now_ = t / PERIOD;
        vm.assume(now_ >= period && now_ <= type(uint32).max);
        h.setOutflow(
            COLLATERAL, VaultStorage.Outflow(budget, used, period), VaultStorage.NextBudget(nextBudget, from, set)
        );
        vm.warp(t);
        bool ok1 = h.spendOutflow(COLLATERAL, a1);
        bool ok2 = h.spendOutflow(COLLATERAL, a2);
        VaultStorage.Outflow memory o = h.outflow(COLLATERAL);
        uint256 inForce = set && now_ >= from ? nextBudget : budget;
        uint256 earlier = now_ == period ? used : 0;
        uint256 granted = (ok1 ? uint256(a1) : 0) + (ok2 ? uint256(a2) : 0);
        assert(o.period == now_);
        assert(o.budget == inForce);
        assert(o.used == earlier + granted);
        assert(o.used <= o.budget);
    }

    // ---------------------------------------------------------------- loosening

    function _requirementRow(uint112 im, uint112 mm) internal pure returns (bytes32) {
        return Batch.packRequirement(MEMBER, im, mm);
    }

    /// @notice A lower IM or MM cannot count before the loosening delay, however a batch sequences its rows: two
    /// requirement rows for one member (any values, e.g. a decrease then another) leave margin checks using at
    /// least the requirement in force before the batch, per component, until `delay` has passed, and the last
    /// posted one from then on.
    function check_requirementDecreaseWaitsTheDelay(
        uint112 im0,
        uint112 mm0,
        uint112 im1,
        uint112 mm1,
        uint112 im2,
        uint112 mm2,
        uint64 delay,
        uint64 t0,
        uint64 dt
    ) public {
        vm.assume(mm0 <= im0 && delay != 0 && delay <= 365 days && t0 < MAX_TIME && dt < MAX_TIME);
        h.setRequirement(MEMBER, (uint256(im0) << 112) | mm0, 0);
        h.setLoosening(delay, 0);
        vm.warp(t0);
        bytes32[] memory rows = new bytes32[](2);
        (rows[0], rows[1]) = (_requirementRow(im1, mm1), _requirementRow(im2, mm2));
        try h.applyRequirements(rows) {
            vm.warp(uint256(t0) + dt);
            (uint256 im, uint256 mm) = h.requirementInForce(MEMBER);
            assert(im >= im2 && mm >= mm2); // never below the posted one
            if (dt < delay) {
                assert(im >= im0 && mm >= mm0);
            } else {
                assert(im == im2 && mm == mm2);
            }
        } catch {}
    }

    function _markRow(uint16 haircutBps, uint128 price) internal pure returns (bytes32) {
        return Batch.packMark(COLLATERAL, haircutBps, price);
    }

    /// @notice A lower haircut cannot count before the loosening delay: after two mark rows for one collateral
    /// (any haircuts), valuations use at least the haircut in force before the batch until `delay` has passed,
    /// and the last posted one from then on.
    function check_haircutDecreaseWaitsTheDelay(uint16 h0, uint16 h1, uint16 h2, uint64 delay, uint64 t0, uint64 dt)
        public
    {
        vm.assume(h0 <= BPS && delay != 0 && delay <= 365 days && t0 < MAX_TIME && dt < MAX_TIME);
        h.setMark(COLLATERAL, 2000e6, h0, 18);
        h.setLoosening(delay, 0);
        vm.warp(t0);
        bytes32[] memory rows = new bytes32[](2);
        (rows[0], rows[1]) = (_markRow(h1, 2000e6), _markRow(h2, 2000e6));
        try h.applyMarks(rows) {
            vm.warp(uint256(t0) + dt);
            uint256 inForce = h.effectiveHaircut(COLLATERAL);
            assert(inForce >= h2);
            if (dt < delay) {
                assert(inForce >= h0);
            } else {
                assert(inForce == h2);
            }
        } catch {}
    }
}
