// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {Vm} from "../utils/Vm.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

interface IMintable {
    function mint(address to, uint256 amount) external;
}

interface IPausable {
    function paused() external view returns (bool);
}

interface IERC20Meta {
    function decimals() external view returns (uint8);
}

/// @notice The invariant suite's actor: drives the vault through every external path (deposits,
/// withdrawals by call and by signature, execution, cancellation, signed valid and invalid batches,
/// donations, pause, wind-down; contribution and margin-call rows; a default cycle DECLARE → a debit of
/// the defaulter causing an advance → COVER (+ ASSESS once layers 1-4 run out) → CLOSE; invalid default
/// rows) and keeps ghost accounting that the invariants compare with the vault. As the engine, it declares
/// a member, advances to a defaulter and pays out of the fund only within the fund's slack (cash + advances
/// of members not in default - pool value); the vault itself refuses only the payouts (PoolUnderfunded).
/// @dev forge runs the suite with `fail_on_revert = false`, so a failed check inside a handler call is
/// not reported by a revert: it is written to `violation`, which `invariant_handlerChecks` asserts empty.
/// Every call catches the vault's reverts, so every call counts as a step of the run.
contract VaultHandler {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint32 internal constant FEE = 1;
    uint32 internal constant FUND = 2;
    uint32 internal constant OPCAP = 3;
    uint32 internal constant FIRST_MEMBER = 4;

    bytes32 internal constant LIQUIDITY_ADVANCED = keccak256("LiquidityAdvanced(uint32,uint128)");
    bytes32 internal constant ADVANCE_REPAID = keccak256("AdvanceRepaid(uint32,uint128)");
    bytes32 internal constant WATERFALL_DRAW = keccak256("WaterfallDraw(uint32,uint8,uint32,uint16,uint256,uint256)");
    bytes32 internal constant WIND_DOWN_WITHDRAWAL =
        keccak256("WindDownWithdrawal(uint32,uint16,address,uint256,uint256)");
    /// @dev Settlement runs under a realistic gas cap, so a rejection that burns gas shows as a wrong error.
    uint256 internal constant SETTLE_GAS = 15_000_000;
    uint256 internal lastSeized; // set by _windDownEvents
    /// @dev What the last `_settleRows` batch recalled, (account << 16 | asset) => amount (finding 7's rule for
    /// contribution and ASSESS rows: a debit beyond the member's cash brings its pending cash back first).
    mapping(uint256 => int256) internal lastRecalled;
    bytes32 internal constant ROW_ADJUSTED = keccak256("RowAdjusted(uint8,uint256,bytes32,uint256)");
    /// @dev Set by _debtEvents: bit k for an approval row k (< 256) the settle skipped with RowAdjusted.
    uint256 internal lastApprovalSkips;
    bytes32 internal constant WITHDRAWAL_RECALLED = keccak256("WithdrawalRecalled(uint256)");
    /// @dev settleAdversarial: the withdrawals the signed batch, landing as signed, recalled (finding 7).
    uint256[] internal signedRecalls;
    bytes4 internal constant ENFORCED_PAUSE = bytes4(keccak256("EnforcedPause()"));

    struct Config {
        ICrossclearVault vault;
        IERC20[] tokens; // index = asset number
        address[] members;
        uint256[] memberKeys;
        uint256[] signerKeys; // registered risk signers' keys
        address governor;
        address guardian;
        uint256[] maxDeposit; // per asset, base units
        uint128[] maxPrice; // per asset, settlement base units per whole token
    }

    struct Pending {
        uint256 id;
        uint32 account;
        uint16 asset;
        uint128 amount;
        address owner;
        address to;
    }

    struct Snap {
        uint256[][] bal; // [account][asset], account 0 unused
        uint256[] debt; // [account]
        uint256[] owed; // [asset]
        uint256[] held; // [asset] token.balanceOf(vault)
        uint64 seq;
        bytes32 lastHash;
    }

    ICrossclearVault public immutable vault;
    IERC20[] internal tokens;
    address[] internal members;
    uint256[] internal memberKeys;
    uint256[] internal signerKeys; // sorted by address, ascending
    address internal governor;
    address internal guardian;
    uint256[] internal maxDeposit;
    uint128[] internal maxPrice;
    uint32 public immutable accountCount; // 3 system accounts + members
    uint16 public immutable assetCount;

    // ------------------------------------------------------------------ ghosts
    mapping(uint16 => uint256) public ghostDonated;
    mapping(uint16 => uint256) public ghostPending;
    uint64 public ghostSequence;
    bytes32 public ghostLastHash;
    uint64 public ghostLastAsOf;
    uint256 public ghostAdvanced; // Σ LiquidityAdvanced
    uint256 public ghostRepaid; // Σ AdvanceRepaid
    uint256 public ghostSeizedCover; // debt covered by wind-down seizures
    uint256 public ghostWaterfallCover; // debt covered by COVER/ASSESS (Σ WaterfallDraw values)
    /// @dev Default fund's cash + Σ members' debt - pool value, followed exactly: it moves only by the fund's
    /// own cash rows and by L1 draws (collateral replaces the debt it covers); checked until wind-down.
    int256 public ghostFundEquity;
    uint256 public ghostReturnsWhileOpen; // contribution returns accepted while openDefaults > 0
    uint32 public ghostDefaulter; // the handler's one open default (0: none)
    bool public ghostBackingWaived; // the adversary advanced to a defaulter beyond the pool's backing
    mapping(uint32 => uint256) internal ghostCap; // 2 × contribution at the DECLARE
    /// @dev asset => period => Σ amounts batch approvals made instantly ready in it
    mapping(uint16 => mapping(uint32 => uint256)) internal ghostInstant;
    mapping(uint32 => uint256) internal ghostAssessed; // for the open default
    string public violation;
    mapping(uint32 => uint256) internal ghostExitAt; // first requestExit
    mapping(uint32 => uint256) internal ghostArmedAt; // last forceWindDown that armed
    mapping(uint32 => bool) internal ghostVetoed;
    Pending[] internal pending;
    uint256[] internal finished; // executed or cancelled withdrawal ids (a sample, for approval attempts)

    // call statistics, printed by the suite's afterInvariant-free summary test
    mapping(bytes32 => uint256) public count;

    constructor(Config memory c) {
        vault = c.vault;
        for (uint256 i; i < c.tokens.length; ++i) {
            tokens.push(c.tokens[i]);
            maxDeposit.push(c.maxDeposit[i]);
            maxPrice.push(c.maxPrice[i]);
        }
        for (uint256 i; i < c.members.length; ++i) {
            members.push(c.members[i]);
            memberKeys.push(c.memberKeys[i]);
        }
        uint256[] memory sk = _sortKeys(c.signerKeys);
        for (uint256 i; i < sk.length; ++i) {
            signerKeys.push(sk[i]);
        }
        governor = c.governor;
        guardian = c.guardian;
        accountCount = uint32(3 + c.members.length);
        assetCount = uint16(c.tokens.length);
        ghostSequence = c.vault.lastSequence();
        ghostLastHash = c.vault.lastBatchHash();
        ghostLastAsOf = c.vault.lastAsOf();
        for (uint16 a; a < assetCount; ++a) {
            uint256 held = c.tokens[a].balanceOf(address(c.vault));
            ghostDonated[a] = held - c.vault.totalOwed(a);
        }        (, ghostFundEquity) = fundSlack();
    }

    // ================================================================== actions

    /// @notice Anyone deposits for a member; settlement-asset deposits repay its advance first.
    function deposit(uint256 m, uint256 a, uint256 amount) external {
        (address member, uint32 acct) = _member(m);
        uint16 asset = uint16(a % assetCount);
        amount = _bound(amount, 1, maxDeposit[asset]);
        IMintable(address(tokens[asset])).mint(address(this), amount);
        tokens[asset].approve(address(vault), amount);
        Snap memory s0 = _snap();
        vm.recordLogs();
        try vault.deposit(member, asset, amount) {
            count["deposit"]++;
            (uint256 adv, uint256 rep) = _debtEvents();
            Snap memory s1 = _snap();
            _check(!vault.woundDown(), "deposit accepted after wind-down");
            _check(adv == 0, "deposit advanced liquidity");
            ghostRepaid += rep;
            _check(s1.held[asset] == s0.held[asset] + amount, "deposit: vault received != amount");
            _check(s1.owed[asset] == s0.owed[asset] + amount, "deposit: totalOwed != +amount");
            int256[][] memory expect = _zeroDeltas();
            expect[acct][asset] = int256(amount);
            _checkDeltas(s0, s1, expect, "deposit");
        } catch (bytes memory err) {
            count["deposit.reverted"]++;
            _checkUnchanged(s0, "deposit revert");
            bytes4 sel = bytes4(err);
            _check(sel == IVault.WoundDown.selector && vault.woundDown(), "deposit: unexpected revert");
        }
    }

    /// @notice A member asks to withdraw (by call, or by an EIP-712 signature that anyone relays).
    function requestWithdrawal(uint256 m, uint256 a, uint256 amount, bool bySig) external {
        (address member, uint32 acct) = _member(m);
        Pending memory p = Pending(0, acct, uint16(a % assetCount), 0, member, _recipient(m));
        uint256 bal = vault.balanceOf(acct, p.asset);
        if (bal == 0) {
            count["request.skipped"]++;
            return;
        }
        p.amount = uint128(_bound(amount, 1, bal + bal / 8)); // sometimes more than the balance
        Snap memory s0 = _snap();
        (bool ok, uint256 id, bytes memory err) = bySig
            ? _requestBySig(memberKeys[m % members.length], p)
            : _requestByCall(member, p.asset, p.amount, p.to);
        if (ok) {
            p.id = id;
            count[bySig ? bytes32("request.bySig") : bytes32("request")]++;
            _afterRequest(s0, p, bal);
        } else {
            count["request.reverted"]++;
            _checkUnchanged(s0, "request revert");
            bytes4 sel = bytes4(err);
            _check(
                sel == IVault.InsufficientBalance.selector || sel == IVault.InsufficientMargin.selector
                    || (sel == IVault.WoundDown.selector && vault.woundDown())
                    || (sel == IVault.MemberInDefault.selector && vault.inDefault(acct))
                    || (sel == IVault.TooManyPendingWithdrawals.selector && _pendingOf(acct) >= 8),
                "request: unexpected revert"
            );
            if (sel == IVault.InsufficientBalance.selector) _check(p.amount > bal, "InsufficientBalance within balance");
        }
    }

    function _afterRequest(Snap memory s0, Pending memory p, uint256 bal) internal {
        Snap memory s1 = _snap();
        _check(p.amount <= bal, "request beyond balance accepted");
        _check(!vault.woundDown(), "request accepted after wind-down");
        _check(!vault.inDefault(p.account), "request accepted from a member in default");
        _check(s1.owed[p.asset] == s0.owed[p.asset], "request changed totalOwed");
        int256[][] memory expect = _zeroDeltas();
        expect[p.account][p.asset] = -int256(uint256(p.amount));
        _checkDeltas(s0, s1, expect, "request");
        _check(vault.freeCollateral(p.account) >= 0, "request left freeCollateral < 0");
        IVault.Withdrawal memory w = vault.withdrawal(p.id);
        _check(
            w.account == p.account && w.asset == p.asset && w.amount == p.amount && w.to == p.to && w.status == 1
                && w.readyAt == block.timestamp + vault.withdrawalDelay(),
            "request: stored withdrawal differs"
        );
        pending.push(p);
        ghostPending[p.asset] += p.amount;
    }

    function _requestByCall(address member, uint16 asset, uint256 amount, address to)
        internal
        returns (bool ok, uint256 id, bytes memory err)
    {
        vm.prank(member);
        try vault.requestWithdrawal(asset, uint128(amount), to) returns (uint256 id_) {
            (ok, id) = (true, id_);
        } catch (bytes memory e) {
            err = e;
        }
    }

    function _requestBySig(uint256 key, Pending memory p) internal returns (bool ok, uint256 id, bytes memory err) {
        uint256 nonce0 = vault.withdrawalNonce(p.owner);
        IVault.WithdrawalRequest memory req = IVault.WithdrawalRequest({
            member: p.owner,
            asset: p.asset,
            amount: p.amount,
            to: p.to,
            nonce: nonce0,
            deadline: uint64(block.timestamp + 1 hours)
        });
        try vault.requestWithdrawalBySig(req, _ecdsa(key, vault.withdrawalRequestDigest(req))) returns (uint256 id_) {
            (ok, id) = (true, id_);
            _check(vault.withdrawalNonce(p.owner) == nonce0 + 1, "bySig: nonce not consumed");
        } catch (bytes memory e) {
            err = e;
            _check(vault.withdrawalNonce(p.owner) == nonce0, "bySig: nonce consumed by a failed request");
        }
    }

    function _ecdsa(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @notice Execute a pending withdrawal, usually after warping to its ready time.
    function executeWithdrawal(uint256 i, uint256 warpSeed) external {
        if (pending.length == 0) {
            count["execute.skipped"]++;
            return;
        }
        uint256 idx = i % pending.length;
        Pending memory p = pending[idx];
        IVault.Withdrawal memory w = vault.withdrawal(p.id);
        // paused time since readyAt was set does not count toward it
        w.readyAt += vault.pauseClock() - w.pauseClock;
        if (block.timestamp < w.readyAt && warpSeed % 5 != 0) {
            vm.warp(w.readyAt + (warpSeed % 3));
            w.readyAt = vault.withdrawal(p.id).readyAt + (vault.pauseClock() - w.pauseClock);
        }
        Snap memory s0 = _snap();
        uint256 toBefore = tokens[p.asset].balanceOf(p.to);
        bool woundBefore = vault.woundDown();
        try vault.executeWithdrawal(p.id) {
            count["execute"]++;
            // executed after a veto: the veto no longer unserves the exit (fourth review, finding 9)
            if (!woundBefore) ghostVetoed[w.account] = false;
            Snap memory s1 = _snap();
            _check(block.timestamp >= w.readyAt || vault.woundDown(), "executed before readyAt");
            _check(!_paused() || vault.woundDown(), "executed while paused");
            _check(vault.withdrawal(p.id).status == 2, "execute: status != executed");
            // In wind-down a member with debt gives up what of the withdrawal covers it (to the default fund).
            uint256 seized = s1.bal[FUND][p.asset] - s0.bal[FUND][p.asset];
            uint256 covered = s0.debt[p.account] - s1.debt[p.account];
            if (seized != 0 || covered != 0) {
                _check(vault.woundDown(), "execute: seized for debt outside wind-down");
                count["execute.seized"]++;
                ghostSeizedCover += covered;
            }
            _check(seized <= p.amount, "execute: seized more than the withdrawal");
            _check(tokens[p.asset].balanceOf(p.to) == toBefore + p.amount - seized, "execute: recipient got != amount - seized");
            _check(s1.owed[p.asset] + p.amount - seized == s0.owed[p.asset], "execute: totalOwed != -(amount - seized)");
            int256[][] memory expect = _zeroDeltas();
            expect[FUND][p.asset] = int256(seized);
            _checkDeltasRaw(s0, s1, expect, "execute");
            // The rule under test: outside wind-down no executed withdrawal leaves free collateral < 0.
            if (!vault.woundDown()) _check(vault.freeCollateral(p.account) >= 0, "execute left freeCollateral < 0");
            _removePending(idx);
        } catch (bytes memory err) {
            count["execute.reverted"]++;
            _checkUnchanged(s0, "execute revert");
            bytes4 sel = bytes4(err);
            _check(
                (sel == IVault.WithdrawalNotReady.selector && block.timestamp < w.readyAt)
                    || (sel == ENFORCED_PAUSE && _paused() && !vault.woundDown())
                    || (sel == IVault.InsufficientMargin.selector && !vault.woundDown())
                    || (sel == IVault.WoundDown.selector && vault.woundDown())
                    || (sel == IVault.MemberInDefault.selector && vault.inDefault(p.account) && !vault.woundDown()),
                "execute: unexpected revert"
            );
            if (sel == IVault.WoundDown.selector) count["execute.woundDown"]++;
        }
    }

    /// @notice The owner cancels (or a stranger tries to).
    function cancelWithdrawal(uint256 i, bool stranger) external {
        if (pending.length == 0) {
            count["cancel.skipped"]++;
            return;
        }
        uint256 idx = i % pending.length;
        Pending memory p = pending[idx];
        Snap memory s0 = _snap();
        address caller = stranger ? address(0xBAD) : p.owner;
        vm.recordLogs();
        vm.prank(caller);
        try vault.cancelWithdrawal(p.id) {
            count["cancel"]++;
            (uint256 adv, uint256 rep) = _debtEvents();
            ghostRepaid += rep;
            _check(adv == 0, "cancel advanced liquidity");
            _check(!stranger, "stranger cancelled a withdrawal");
            Snap memory s1 = _snap();
            _check(s1.owed[p.asset] == s0.owed[p.asset], "cancel changed totalOwed");
            _check(vault.withdrawal(p.id).status == 3, "cancel: status != cancelled");
            int256[][] memory expect = _zeroDeltas();
            expect[p.account][p.asset] = int256(uint256(p.amount));
            _checkDeltas(s0, s1, expect, "cancel");
            _removePending(idx);
        } catch (bytes memory err) {
            count["cancel.reverted"]++;
            _checkUnchanged(s0, "cancel revert");
            _check(stranger && bytes4(err) == IVault.NotWithdrawalOwner.selector, "cancel: unexpected revert");
        }
    }

    /// @notice Settle a random valid batch: zero-sum transfers (cash debits beyond a member's cash are
    /// advanced by the default fund), requirement and mark updates, instant withdrawal approvals.
    function settleValid(uint256 seed) external {
        (Batch.Data memory b, int256[][] memory t) = _validBatch(seed);
        IVault.SignerSignature[] memory sigs = _sign(b, signerKeys.length);
        if (seed % 2 == 0) sigs = _truncate(sigs, vault.threshold()); // exactly threshold, or all signers
        bytes32 digest = vault.batchDigest(b);
        Snap memory s0 = _snap();
        bool[] memory waiting = new bool[](b.approvedWithdrawals.length); // not ready before the batch
        for (uint256 k; k < waiting.length; ++k) {
            (uint64 id,,,) = Batch.unpackApproval(b.approvedWithdrawals[k]);
            IVault.Withdrawal memory w = vault.withdrawal(id);
            waiting[k] = w.readyAt + (vault.pauseClock() - w.pauseClock) > block.timestamp;
        }
        vm.recordLogs();
        try vault.settle{gas: SETTLE_GAS}(b, sigs) {
            count["settle.valid"]++;
            (uint256 adv, uint256 rep) = _debtEvents();
            ghostAdvanced += adv;
            ghostRepaid += rep;
            if (adv > 0) count["settle.advanced"]++;
            Snap memory s1 = _snap();
            _check(!_paused() && !vault.woundDown(), "settle accepted while paused or wound down");
            _check(s1.seq == s0.seq + 1, "sequence did not advance by one");
            _check(s1.lastHash == digest, "lastBatchHash != digest");
            _check(vault.lastAsOf() == b.asOf, "lastAsOf not stored");
            _check(vault.lastSettledAt() == block.timestamp, "lastSettledAt not now");
            ghostSequence = s1.seq;
            ghostLastHash = digest;
            ghostLastAsOf = b.asOf;
            ghostFundEquity += t[FUND][0];
            _checkSettlementDeltas(s0, s1, t, _takeRecalled(), adv, rep);
            _checkPosted(b);
            for (uint256 k; k < b.approvedWithdrawals.length; ++k) {
                (uint64 id,, uint16 asset, uint128 amount) = Batch.unpackApproval(b.approvedWithdrawals[k]);
                (uint112 budget, uint112 used, uint32 period) = vault.outflowOf(asset);
                // instant, or skipped because the asset's budget for this period could not take it
                if (!waiting[k]) continue; // ready anyway: the row proves nothing about the budget
                IVault.Withdrawal memory w = vault.withdrawal(id);
                if (w.readyAt + (vault.pauseClock() - w.pauseClock) <= block.timestamp) {
                    ghostInstant[asset][period] += amount;
                    count["approve.instant"]++;
                } else if (w.status == 4) {
                    // a debit beyond its owner's balance in this same batch recalled it (transfers run before
                    // approvals, issue 11 finding 7): no longer pending, so its approval is skipped
                    _check((lastApprovalSkips >> k) & 1 == 1, "approval of a recalled request not skipped");
                    count["approve.recalled"]++;
                } else {
                    _check(uint256(used) + amount > budget, "approval skipped within the outflow budget");
                    _check((lastApprovalSkips >> k) & 1 == 1, "approval over the budget not skipped");
                    count["approve.overBudget"]++;
                }
                // the bound: what approvals released early in one period never exceeds its budget
                _check(ghostInstant[asset][period] <= budget, "instant outflow above the period's budget");
            }
        } catch (bytes memory err) {
            count["settle.valid.reverted"]++;
            _checkUnchanged(s0, "valid settle revert");
            bytes4 sel = bytes4(err);
            bool excused = (sel == ENFORCED_PAUSE && _paused()) || (sel == IVault.WoundDown.selector && vault.woundDown());
            if (!excused) _violation("valid batch rejected", sel);
        }
    }

    /// @notice The adversary (issue 11): a compromised quorum signs an arbitrary mix — the engine's rows plus
    /// every member's cash to one colluder, its IM to 0 and approvals of every pending withdrawal — with the
    /// transfer rows in any order; between signing and inclusion a front-runner deposits, cancels or executes
    /// (`front`). Checked: a batch that would have landed still lands (a third party cannot make it revert,
    /// but for executing a ready withdrawal the signed batch's debit recalled: it left the vault); value
    /// is neither created nor burnt (totalOwed of every asset unchanged by the settle); approvals never
    /// release more before the delay than the period's budget.
    function settleAdversarial(uint256 seed, uint256 front) external {
        (Batch.Data memory b, int256[][] memory t) = _validBatch(seed);
        uint256 r = uint256(keccak256(abi.encode(seed, "adversary")));
        uint32 colluder = _memberAccount(r);
        for (uint32 acct = FIRST_MEMBER; acct < FIRST_MEMBER + members.length; ++acct) {
            uint256 bal = vault.balanceOf(acct, 0);
            if (acct == colluder || bal == 0 || bal > uint256(uint128(type(int128).max))) continue;
            b.transfers = _append(b.transfers, Batch.packTransfer(acct, 0, -int128(int256(bal))));
            b.transfers = _append(b.transfers, Batch.packTransfer(colluder, 0, int128(int256(bal))));
        }
        for (uint256 i = b.transfers.length; i > 1; --i) {
            uint256 j = uint256(keccak256(abi.encode(r, i))) % i;
            (b.transfers[i - 1], b.transfers[j]) = (b.transfers[j], b.transfers[i - 1]);
        }
        b.requirements = _append(b.requirements, Batch.packRequirement(colluder, 0, 0));
        b.approvedWithdrawals = new uint256[](0); // each pending withdrawal once (the engine's rows name some)
        for (uint256 k; k < pending.length && k < 8; ++k) {
            Pending memory p = pending[k];
            b.approvedWithdrawals = _appendU(b.approvedWithdrawals, Batch.packApproval(uint64(p.id), p.account, p.asset, p.amount));
        }
        IVault.SignerSignature[] memory sigs = _sign(b, vault.threshold());
        // would it land as signed?
        uint256 snap = vm.snapshotState();
        bool landsAsSigned;
        vm.recordLogs();
        try vault.settle{gas: SETTLE_GAS}(b, sigs) {
            landsAsSigned = true;
        } catch {}
        Vm.Log[] memory logs = vm.getRecordedLogs();
        // kept in memory: revertToState also reverts this handler's storage (a push here would be undone)
        uint256[] memory recalls = new uint256[](logs.length);
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(vault) && logs[i].topics.length > 1 && logs[i].topics[0] == WITHDRAWAL_RECALLED) {
                recalls[n++] = uint256(logs[i].topics[1]);
            }
        }
        vm.revertToState(snap);
        delete signedRecalls;
        for (uint256 i; i < n; ++i) {
            signedRecalls.push(recalls[i]);
        }
        // the front-runner, between signing and inclusion
        front %= 4;
        if (front == 1) this.deposit(r >> 8, r >> 16, 1 + (r >> 24) % 1_000_000);
        else if (front == 2 && pending.length != 0) this.cancelWithdrawal(r >> 8, false);
        else if (front == 3 && pending.length != 0) this.executeWithdrawal(r >> 8, 0); // no warp: the batch stays valid
        _settleAdversarial(b, sigs, t, landsAsSigned);
    }

    function _settleAdversarial(
        Batch.Data memory b,
        IVault.SignerSignature[] memory sigs,
        int256[][] memory t,
        bool landsAsSigned
    ) internal {
        Snap memory s0 = _snap();
        bool[] memory waiting = new bool[](b.approvedWithdrawals.length);
        for (uint256 k; k < waiting.length; ++k) {
            (uint64 id,,,) = Batch.unpackApproval(b.approvedWithdrawals[k]);
            IVault.Withdrawal memory w = vault.withdrawal(id);
            waiting[k] = w.status == 1 && w.readyAt + (vault.pauseClock() - w.pauseClock) > block.timestamp;
        }
        bytes32 digest = vault.batchDigest(b);
        vm.recordLogs();
        try vault.settle{gas: SETTLE_GAS}(b, sigs) {
            count["settle.adversarial"]++;
            _takeRecalled(); // requests a debit beyond the balance brought back leave the ghost's list
            (uint256 adv, uint256 rep) = _debtEvents();
            ghostAdvanced += adv;
            ghostRepaid += rep;
            Snap memory s1 = _snap();
            for (uint16 a; a < assetCount; ++a) {
                _check(s1.owed[a] == s0.owed[a], "adversarial batch created or burnt value");
            }
            (ghostSequence, ghostLastHash, ghostLastAsOf) = (s1.seq, digest, b.asOf);
            ghostFundEquity += t[FUND][0]; // the added rows move members' cash only
            // the quorum may advance to a member in default (shuffled rows debit before they credit): the
            // vault does not refuse that (docs/contracts.md, the pool's backing), so the honest engine's
            // discipline (backing >= the pool's value) no longer holds from here on
            (int256 notInDefault,) = fundSlack();
            if (notInDefault < 0) ghostBackingWaived = true;
            for (uint256 k; k < b.approvedWithdrawals.length; ++k) {
                if (!waiting[k]) continue;
                (uint64 id,, uint16 asset, uint128 amount) = Batch.unpackApproval(b.approvedWithdrawals[k]);
                IVault.Withdrawal memory w = vault.withdrawal(id);
                (uint112 budget,, uint32 period) = vault.outflowOf(asset);
                if (w.readyAt + (vault.pauseClock() - w.pauseClock) <= block.timestamp) {
                    ghostInstant[asset][period] += amount;
                    count["adversarial.instant"]++;
                }
                _check(ghostInstant[asset][period] <= budget, "adversary released more than the period's budget");
            }
        } catch (bytes memory err) {
            count["settle.adversarial.reverted"]++;
            _checkUnchanged(s0, "adversarial settle revert");
            bytes4 sel = bytes4(err);
            bool excused = (sel == ENFORCED_PAUSE && _paused()) || (sel == IVault.WoundDown.selector && vault.woundDown());
            // A ready withdrawal executed in between had been what the signed batch's debit recalled (finding
            // 7): it left the vault, so the debit is short again, as it was before recalls existed. Excused
            // only for the shortfall's own errors.
            if (sel == IVault.DefaultFundExhausted.selector || sel == IVault.InsufficientBalance.selector) {
                for (uint256 i; i < signedRecalls.length; ++i) {
                    if (vault.withdrawal(signedRecalls[i]).status == 2) {
                        excused = true;
                        count["adversarial.recallExecutedAway"]++;
                        break;
                    }
                }
            }
            if (landsAsSigned && !excused) _violation("a front-runner made a signed batch revert", sel);
        }
    }

    /// @notice Settle a batch with exactly one defect; it must revert with the matching error and change
    /// nothing.
    function settleInvalid(uint256 seed, uint256 kind) external {
        kind %= 19;
        (Batch.Data memory b,) = _validBatch(seed);
        uint256 nSig = vault.threshold();
        bytes4 want;
        IVault.SignerSignature[] memory sigs;
        uint256 r = uint256(keccak256(abi.encode(seed, "defect")));
        if (kind == 10 && ghostLastAsOf == 0) kind = 0;
        if (kind == 0) {
            b.sequence = (r % 2 == 0) ? b.sequence + 1 + uint64(r % 5) : b.sequence - 1; // skipped or stale
            want = IVault.BadSequence.selector;
        } else if (kind == 1) {
            b.prevHash = keccak256(abi.encode(r));
            want = IVault.BadPrevHash.selector;
        } else if (kind == 2) {
            b.transfers = _append(b.transfers, Batch.packTransfer(_memberAccount(r), uint16(r % assetCount), 1));
            want = IVault.NonZeroSum.selector;
        } else if (kind == 8) {
            // a non-zero reserved bit in one row (append a zero-sum pair and corrupt one of them)
            uint32 acct = _memberAccount(r);
            b.transfers = _append(b.transfers, Batch.packTransfer(acct, 0, 0));
            b.transfers[b.transfers.length - 1] |= bytes32(uint256(1) << (128 + (r % 80)));
            want = IVault.MalformedRow.selector;
        } else if (kind == 9) {
            b.asOf = uint64(block.timestamp + 1 + (r % 1 days));
            want = IVault.FutureAsOf.selector;
        } else if (kind == 10) {
            b.asOf = ghostLastAsOf - 1;
            want = IVault.StaleAsOf.selector;
        } else if (kind == 11) {
            // a row for an account that does not exist (the vault reports any bad row as malformed)
            uint32 ghost = accountCount + 1 + uint32(r % 100);
            b.transfers = _append(b.transfers, Batch.packTransfer(ghost, 0, 5));
            b.transfers = _append(b.transfers, Batch.packTransfer(_memberAccount(r), 0, -5));
            want = IVault.MalformedRow.selector;
            if (r % 2 == 0) {
                // or an asset that does not exist
                b.transfers[b.transfers.length - 2] = Batch.packTransfer(_memberAccount(r), assetCount + uint16(r % 10), 5);
                b.transfers[b.transfers.length - 1] = Batch.packTransfer(FEE, assetCount + uint16(r % 10), -5);
            }
        } else if (kind == 12) {
            b.marks = _append(b.marks, Batch.packMark(assetCount + uint16(r % 10), 100, 1e6));
            want = IVault.UnknownAsset.selector;
        } else if (kind == 13) {
            // a system account pays more than it holds (no advance for system accounts or collateral)
            uint16 asset = uint16(r % assetCount);
            uint256 have = vault.balanceOf(OPCAP, asset) + _creditsIn(b.transfers, OPCAP, asset) + 1;
            b.transfers = _append(b.transfers, Batch.packTransfer(OPCAP, asset, -int128(int256(have))));
            b.transfers = _append(b.transfers, Batch.packTransfer(_memberAccount(r), asset, int128(int256(have))));
            want = IVault.InsufficientBalance.selector;
        } else if (kind == 14) {
            // a member's cash debit beyond its cash, its pending cash withdrawals (which the debit recalls
            // first) and the whole default fund
            uint32 acct = _memberAccount(r);
            uint256 big = vault.balanceOf(acct, 0) + _pendingOf(acct, 0) + vault.balanceOf(FUND, 0) + _totalCash() + 1;
            b.transfers = _append(b.transfers, Batch.packTransfer(acct, 0, -int128(int256(big))));
            b.transfers = _append(b.transfers, Batch.packTransfer(FEE, 0, int128(int256(big))));
            want = IVault.DefaultFundExhausted.selector;
        } else if (kind == 15) {
            uint16 asset = assetCount > 1 ? uint16(1 + r % (assetCount - 1)) : 0;
            b.marks = _append(b.marks, Batch.packMark(asset, uint16(10_001 + r % 50_000), 1e6));
            want = IVault.InvalidHaircut.selector;
        } else if (kind == 16) {
            b.approvedWithdrawals = _appendU(b.approvedWithdrawals, type(uint128).max - (r % 1000));
            want = IVault.WithdrawalNotFound.selector;
        } else if (kind == 17) {
            // maintenance above initial margin, or a requirement for a system account
            bytes32 row = r % 2 == 0
                ? Batch.packRequirement(_memberAccount(r), 100, 101 + uint112(r % 1000))
                : Batch.packRequirement(uint32(1 + r % 3), 100, 50);
            b.requirements = _append(b.requirements, row);
            want = IVault.InvalidRequirement.selector;
        } else if (kind == 18) {
            if (finished.length == 0) {
                b.sequence += 1;
                want = IVault.BadSequence.selector;
            } else {
                // an approval that does not bind the withdrawal it names (a finished one: a pending one with
                // a mismatch is refused the same way)
                uint256 id = finished[r % finished.length];
                IVault.Withdrawal memory w = vault.withdrawal(id);
                b.approvedWithdrawals =
                    _appendU(b.approvedWithdrawals, Batch.packApproval(uint64(id), w.account, w.asset, w.amount + 1));
                want = IVault.ApprovalMismatch.selector;
            }
        }
        if (kind >= 3 && kind <= 7) {
            (sigs, want) = _badSignatures(b, kind, r, nSig);
        } else {
            sigs = _sign(b, nSig);
        }
        Snap memory s0 = _snap();
        try vault.settle{gas: SETTLE_GAS}(b, sigs) {
            _violation(string.concat("invalid batch accepted, kind ", vm.toString(kind)), bytes4(0));
            ghostSequence = vault.lastSequence();
            _takeRecalled(); // requests a debit beyond the balance brought back leave the ghost's list
            ghostLastHash = vault.lastBatchHash();
            ghostLastAsOf = vault.lastAsOf();
        } catch (bytes memory err) {
            count["settle.invalid.rejected"]++;
            _checkUnchanged(s0, "invalid settle revert");
            bytes4 sel = bytes4(err);
            bool excused = (sel == ENFORCED_PAUSE && _paused()) || (sel == IVault.WoundDown.selector && vault.woundDown());
            // a bad signature may surface as itself or, when counted out, as being below threshold
            bool alt = kind == 4 && sel == IVault.BelowThreshold.selector;
            if (sel != want && !excused && !alt) {
                _violation(string.concat("invalid batch, kind ", vm.toString(kind), ": wrong error"), sel);
            }
        }
    }

    /// @notice Tokens sent straight to the vault: never credited to anyone, never owed.
    function donate(uint256 a, uint256 amount) external {
        uint16 asset = uint16(a % assetCount);
        amount = _bound(amount, 1, maxDeposit[asset]);
        IMintable(address(tokens[asset])).mint(address(vault), amount);
        ghostDonated[asset] += amount;
        count["donate"]++;
    }

    /// @notice Guardian pauses; governor unpauses (rarely, so most of a run is unpaused).
    function togglePause(uint256 seed) external {
        if (_paused()) {
            if (seed % 2 != 0) return;
            vm.prank(governor);
            vault.unpause();
            count["unpause"]++;
        } else {
            if (seed % 16 != 0) return;
            vm.prank(guardian);
            try vault.pause() {
                count["pause"]++;
            } catch (bytes memory err) {
                _check(bytes4(err) == IVault.PauseCoolingDown.selector, "pause: unexpected revert");
                count["pause.coolingDown"]++;
            }
        }
    }

    /// @notice A member asks to exit (issue 11 review 3: the forced-exit path is in the campaign).
    function requestExit(uint256 m) external {
        (address member, uint32 acct) = _member(m);
        vm.prank(member);
        try vault.requestExit() {
            count["requestExit"]++;
            if (ghostExitAt[acct] == 0) ghostExitAt[acct] = block.timestamp;
        } catch (bytes memory err) {
            count["requestExit.reverted"]++;
            _check(bytes4(err) == IVault.WoundDown.selector && vault.woundDown(), "requestExit: unexpected revert");
        }
    }

    /// @notice Anyone forces a member's exit (sometimes after letting time pass). The bound checked: the
    /// wind-down never opens while paused, before E after the request, nor before WIND_DOWN_GRACE after a call
    /// armed it; a served exit (IM in force 0, no veto since the last execution, no open default, no contribution
    /// held while no default is open) never arms; an armed exit lapses (ExitLapsed, the request cleared) only
    /// WIND_DOWN_GRACE + WIND_DOWN_WINDOW or more after the arming.
    function forceWindDown(uint256 m, uint256 warpSeed) external {
        (, uint32 acct) = _member(m);
        if (warpSeed % 8 == 0) vm.warp(block.timestamp + (warpSeed % 2 days));
        bool wasPaused = _paused();
        (uint112 im,) = vault.requirementOf(acct);
        bool inDefault = vault.inDefault(acct);
        // a contribution held while no default is open is unserved (fourth review, finding 5)
        bool stakeHeld = vault.contributionOf(acct) != 0 && vault.openDefaults() == 0;
        vm.recordLogs();
        try vault.forceWindDown(acct) {
            _check(!wasPaused, "forceWindDown while paused");
            _check(ghostExitAt[acct] != 0, "forceWindDown without a request");
            _check(block.timestamp >= ghostExitAt[acct] + vault.escapePeriod(), "forced exit before E");
            _check(im != 0 || ghostVetoed[acct] || inDefault || stakeHeld, "forced exit of a served request");
            if (vault.woundDown()) {
                count["forceWindDown"]++;
                _check(ghostArmedAt[acct] != 0 && block.timestamp >= ghostArmedAt[acct] + 1 days, "wind-down before the grace");
            } else if (_lapsed()) {
                count["forceWindDown.lapsed"]++;
                _check(ghostArmedAt[acct] != 0 && block.timestamp >= ghostArmedAt[acct] + 2 days, "lapsed before the window");
                (ghostExitAt[acct], ghostArmedAt[acct], ghostVetoed[acct]) = (0, 0, false); // asks again from scratch
            } else {
                count["forceWindDown.armed"]++;
                ghostArmedAt[acct] = block.timestamp;
            }
        } catch (bytes memory err) {
            count["forceWindDown.reverted"]++;
            bytes4 sel = bytes4(err);
            _check(
                sel == IVault.NoExitRequest.selector || sel == IVault.ExitServed.selector
                    || sel == IVault.ExitNotOverdue.selector || sel == IVault.WoundDown.selector
                    || sel == Pausable.EnforcedPause.selector,
                "forceWindDown: unexpected revert"
            );
            _check(sel != IVault.ExitServed.selector || (im == 0 && !inDefault), "ExitServed with an IM or in default");
        }
    }

    /// @dev Whether the recorded logs hold an ExitLapsed.
    function _lapsed() private returns (bool) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == IVault.ExitLapsed.selector) return true;
        }
        return false;
    }

    /// @notice The guardian vetoes a pending withdrawal back to its owner's balance (as a cancel: settlement
    /// cash repays an advance first). A veto of a member asking to exit makes that exit unserved for good.
    function vetoWithdrawal(uint256 i) external {
        if (pending.length == 0) {
            count["veto.skipped"]++;
            return;
        }
        uint256 idx = i % pending.length;
        Pending memory p = pending[idx];
        Snap memory s0 = _snap();
        vm.recordLogs();
        vm.prank(guardian);
        try vault.vetoWithdrawal(p.id) {
            count["veto"]++;
            (uint256 adv, uint256 rep) = _debtEvents();
            ghostRepaid += rep;
            _check(adv == 0, "veto advanced liquidity");
            _check(!vault.woundDown(), "veto after the wind-down");
            Snap memory s1 = _snap();
            _check(s1.owed[p.asset] == s0.owed[p.asset], "veto changed totalOwed");
            _check(vault.withdrawal(p.id).status == 3, "veto: status != cancelled");
            int256[][] memory expect = _zeroDeltas();
            expect[p.account][p.asset] = int256(uint256(p.amount));
            _checkDeltas(s0, s1, expect, "veto");
            if (ghostExitAt[p.account] != 0) ghostVetoed[p.account] = true;
            _removePending(idx);
        } catch (bytes memory err) {
            count["veto.reverted"]++;
            _checkUnchanged(s0, "veto revert");
            _check(bytes4(err) == IVault.WoundDown.selector && vault.woundDown(), "veto: unexpected revert");
        }
    }

    /// @notice Let time pass; now and then past the escape period, then anyone triggers wind-down.
    function warpAndWindDown(uint256 seed) external {
        if (vault.woundDown()) {
            count["windDown.already"]++;
            return;
        }
        uint64 opensAt = vault.escapeHatchOpensAt();
        // a pause only ever moves the hatch later, never earlier
        _check(opensAt >= vault.lastSettledAt() + vault.escapePeriod(), "the escape hatch opens early");
        if (seed % 128 == 0) {
            if (block.timestamp < opensAt) vm.warp(opensAt + (seed % 3));
        } else {
            vm.warp(block.timestamp + (seed % 2 hours));
        }
        opensAt = vault.escapeHatchOpensAt(); // a pause in force moved it on with the clock
        try vault.triggerWindDown() {
            count["windDown"]++;
            _check(block.timestamp >= opensAt, "wind-down before the escape period");
            _check(vault.woundDown(), "wind-down flag not set");
        } catch (bytes memory err) {
            count["windDown.reverted"]++;
            _check(
                bytes4(err) == IVault.EscapeHatchNotOpen.selector && block.timestamp < opensAt,
                "triggerWindDown: unexpected revert"
            );
        }
    }

    /// @notice After wind-down a member takes its whole balance of an asset, less collateral seized for
    /// its debt (which goes to the default fund's estate), plus its pro-rata part of that estate (netting its
    /// debt first); before it, the call must revert. Every claimant is paid its whole due: none is left after.
    function windDownWithdraw(uint256 m, uint256 a) external {
        (address member, uint32 acct) = _member(m);
        uint16 asset = uint16(a % assetCount);
        address to = _recipient(m);
        Snap memory s0 = _snap();
        uint256 toBefore = tokens[asset].balanceOf(to);
        uint256 due0 = vault.woundDown() ? vault.estateClaimOf(acct, asset) : 0;
        vm.recordLogs();
        vm.prank(member);
        try vault.windDownWithdraw(asset, to) {
            count["windDownWithdraw"]++;
            if (due0 != 0) count["windDownWithdraw.estate"]++;
            (uint256 adv, uint256 rep) = _windDownEvents();
            _check(adv == 0, "wind-down withdrawal advanced liquidity");
            ghostRepaid += rep;
            Snap memory s1 = _snap();
            uint256 toAfter = tokens[asset].balanceOf(to);
            _check(toAfter >= toBefore, "wind-down: negative payout");
            uint256 paid = toAfter >= toBefore ? toAfter - toBefore : 0;
            int256 fundDelta = int256(s1.bal[FUND][asset]) - int256(s0.bal[FUND][asset]);
            _check(s1.bal[acct][asset] == 0, "wind-down withdrawal left a balance");
            // paid + what the estate gained (seized, netted, less the part it paid) == the balance
            _check(int256(paid) + fundDelta == int256(s0.bal[acct][asset]), "paid + seized != balance");
            _check(fundDelta >= -int256(due0), "wind-down: the estate paid more than the member's due");
            // a member without debt is paid its whole due at once (a debtor's due nets its debt and re-enters the
            // estate, of which it then owns its part again: it claims again)
            if (s0.debt[acct] == 0) _check(vault.estateClaimOf(acct, asset) == 0, "wind-down: a claimant left unpaid");
            _check(s1.owed[asset] + paid == s0.owed[asset], "wind-down: totalOwed != -paid");
            _check(s1.debt[acct] <= s0.debt[acct], "wind-down increased debt");
            uint256 covered = s0.debt[acct] >= s1.debt[acct] ? s0.debt[acct] - s1.debt[acct] : 0;
            if (due0 == 0) {
                _check(fundDelta >= 0, "wind-down: the fund paid without a claim");
                // The debt goes down only by what was seized for it. (The fund's balance may be unchanged even so:
                // a debtor that holds pool shares gets its part of the estate its own seizure just grew.)
                if (lastSeized == 0) _check(covered == 0, "debt covered without seizure");
                _check(fundDelta <= int256(lastSeized), "wind-down: the estate grew by more than the seizure");
            }
            if (covered > rep) ghostSeizedCover += covered - rep;
            int256[][] memory expect = _zeroDeltas();
            expect[acct][asset] = -int256(s0.bal[acct][asset]);
            expect[FUND][asset] = fundDelta;
            _checkDeltasRaw(s0, s1, expect, "windDownWithdraw");
        } catch (bytes memory err) {
            count["windDownWithdraw.reverted"]++;
            _checkUnchanged(s0, "windDownWithdraw revert");
            bytes4 sel = bytes4(err);
            _check(
                (sel == IVault.NotWoundDown.selector && !vault.woundDown())
                    || (sel == Pausable.EnforcedPause.selector && _paused()),
                "windDownWithdraw: unexpected revert"
            );
        }
    }

    /// @notice After wind-down the governor pays out a system account.
    function windDownWithdrawSystem(uint256 acctSeed, uint256 a) external {
        if (!vault.woundDown()) {
            count["windDownSystem.skipped"]++;
            return;
        }
        uint32 acct = uint32(1 + acctSeed % 3);
        uint16 asset = uint16(a % assetCount);
        Snap memory s0 = _snap();
        uint256 toBefore = tokens[asset].balanceOf(governor);
        vm.prank(governor);
        try vault.windDownWithdrawSystem(acct, asset, governor) {
            count["windDownSystem"]++;
            Snap memory s1 = _snap();
            uint256 paid = tokens[asset].balanceOf(governor) - toBefore;
            (, uint256 shares) = vault.defaultFundPool();
            _check(acct != FUND || shares == 0, "system payout of the estate while shares claim it");
            _check(paid == s0.bal[acct][asset], "system payout != balance");
            _check(s1.owed[asset] + paid == s0.owed[asset], "system payout: totalOwed != -paid");
            int256[][] memory expect = _zeroDeltas();
            expect[acct][asset] = -int256(paid);
            _checkDeltasRaw(s0, s1, expect, "windDownWithdrawSystem");
        } catch (bytes memory err) {
            count["windDownSystem.reverted"]++;
            _checkUnchanged(s0, "windDownWithdrawSystem revert");
            bytes4 sel = bytes4(err);
            (, uint256 shares) = vault.defaultFundPool();
            _check(
                (sel == IVault.ClaimantsRemain.selector && acct == FUND && shares != 0)
                    || (sel == IVault.DefaultsOpen.selector && acct == OPCAP && vault.openDefaults() != 0),
                "windDownWithdrawSystem: unexpected revert"
            );
        }
    }

    /// @notice After wind-down anyone closes a default still open (closeDefaultAfterWindDown): the defaulter's
    /// balances and estate part first, then operator capital up to the debt left; the rest stays its debt.
    /// Before it, or for a member not in default, the call must revert.
    function closeDefaultAfterWindDown(uint256 m) external {
        (, uint32 acct) = _member(m);
        Snap memory s0 = _snap();
        uint256 open0 = vault.openDefaults();
        bool wasOpen = vault.inDefault(acct);
        vm.recordLogs();
        vm.prank(address(0xC105E));
        try vault.closeDefaultAfterWindDown(acct) {
            count["closeAfterWindDown"]++;
            vm.getRecordedLogs();
            Snap memory s1 = _snap();
            _check(vault.woundDown() && wasOpen, "closed a default that was not open, or before the wind-down");
            _check(!vault.inDefault(acct) && vault.openDefaults() == open0 - 1, "close: the default is still open");
            _check(s1.debt[acct] <= s0.debt[acct], "close: debt rose");
            uint256 drawn = s0.bal[OPCAP][0] - s1.bal[OPCAP][0];
            uint256 reduced = s0.debt[acct] - s1.debt[acct];
            _check(drawn <= reduced, "close: operator capital paid more than the debt it covered");
            if (drawn != 0 || s1.debt[acct] != 0) {
                // operator capital (L3) only once the defaulter's own balances are drawn (L1)
                for (uint16 a; a < assetCount; ++a) {
                    if (s1.bal[acct][a] != 0) _check(false, "close: operator capital drawn before the defaulter's balances");
                }
            }
            if (s1.debt[acct] != 0) _check(s1.bal[OPCAP][0] == 0, "close: debt left while operator capital had cash");
            for (uint16 a; a < assetCount; ++a) {
                _check(s1.owed[a] == s0.owed[a], "close: totalOwed changed");
            }
            ghostWaterfallCover += drawn; // its layer-3 WaterfallDraw
            ghostSeizedCover += reduced - drawn; // its seizures and nettings
            _check(vault.defaulted(acct), "close: the defaulted flag lost");
            if (acct == ghostDefaulter) ghostDefaulter = 0;
        } catch (bytes memory err) {
            vm.getRecordedLogs();
            count["closeAfterWindDown.reverted"]++;
            _checkUnchanged(s0, "closeDefaultAfterWindDown revert");
            bytes4 sel = bytes4(err);
            _check(
                (sel == IVault.NotWoundDown.selector && !vault.woundDown())
                    || (sel == IVault.NotInDefault.selector && vault.woundDown() && !wasOpen),
                "closeDefaultAfterWindDown: unexpected revert"
            );
        }
    }

    // ================================================================== default management

    /// @notice A contribution row (in from the member's cash, or out to it), alone in a batch. Expected
    /// rejections: a return while a default is open (ContributionLocked), above the contribution
    /// (OverDraw), beyond the fund's cash (InsufficientBalance), a payment beyond the member's cash
    /// (InsufficientBalance, no advance).
    function contribute(uint256 m, uint256 amount, bool out) external {
        if (vault.woundDown() || _paused()) return;
        (, uint32 acct) = _member(m);
        uint256 value0 = vault.contributionOf(acct);
        int256 signed;
        bytes4 want;
        if (out) {
            if (value0 == 0 && amount % 4 != 0) return;
            uint256 a = _bound(amount, 1, value0 + value0 / 16 + 1);
            signed = -int256(a);
            if (vault.openDefaults() != 0) want = IVault.ContributionLocked.selector;
            else if (a > value0) want = IVault.OverDraw.selector;
            else if (a > vault.balanceOf(FUND, 0)) want = IVault.InsufficientBalance.selector;
        } else {
            // sometimes beyond its cash: its pending cash withdrawals are recalled first (finding 7's rule)
            uint256 a = vault.balanceOf(acct, 0); // its cash, then the amount
            uint256 reach = a + _pendingCash(acct);
            if (reach == 0 && amount % 4 != 0) return;
            a = _bound(amount, 1, a / 4 + 1 + (amount % 8 == 0 ? reach : 0));
            signed = int256(a);
            if (a > reach) want = IVault.InsufficientBalance.selector;
        }
        Batch.Data memory b = _emptyBatch(amount);
        b.contributions = new bytes32[](1);
        b.contributions[0] = Batch.packContribution(acct, int128(signed));
        uint256 open0 = vault.openDefaults();
        (uint256 pool0,) = vault.defaultFundPool();
        Snap memory s0 = _snap();
        (bool ok, bytes memory err,) = _settleRows(b, s0);
        if (!ok) {
            count["contribute.rejected"]++;
            if (bytes4(err) != want || want == bytes4(0)) _violation("contribution: unexpected revert", bytes4(err));
            return;
        }
        count[out ? bytes32("contribute.out") : bytes32("contribute.in")]++;
        _checkContributionRecall(acct, signed, s0.bal[acct][0]);
        _check(want == bytes4(0), "contribution accepted that must revert");
        if (out && open0 != 0) ghostReturnsWhileOpen++;
        Snap memory s1 = _snap();
        (uint256 pool1,) = vault.defaultFundPool();
        _check(int256(pool1) == int256(pool0) + signed, "contribution: pool value != +amount");
        {
            uint256 value1 = vault.contributionOf(acct);
            if (out) _check(value1 + uint256(-signed) <= value0, "return: contribution fell by less than the amount");
            else _check(value1 <= value0 + uint256(signed), "contribution rose by more than the amount");
        }
        _checkDeltas(s0, s1, _contributionDeltas(acct, signed), "contribution");
    }

    /// @dev A contribution's balance moves: the member's cash (plus what it recalled) to the fund's, or back.
    function _contributionDeltas(uint32 acct, int256 signed) internal view returns (int256[][] memory expect) {
        expect = _zeroDeltas();
        expect[acct][0] = -signed + lastRecalled[uint256(acct) << 16];
        expect[FUND][0] = signed;
    }

    /// @dev A contribution recalls pending cash only when it asks for more than the member's cash.
    function _checkContributionRecall(uint32 acct, int256 signed, uint256 cash0) internal {
        int256 recalled = lastRecalled[uint256(acct) << 16];
        if (recalled == 0) return;
        count["contribute.recalled"]++;
        _check(signed > 0 && uint256(signed) > cash0, "contribution recalled what its cash covered");
    }

    /// @notice A margin-call row (amount 0 clears), alone or with a malformed twin that must revert.
    function marginCall(uint256 m, uint128 amount, uint64 deadline, bool malformed) external {
        if (vault.woundDown() || _paused()) return;
        (, uint32 acct) = _member(m);
        if (amount % 5 == 0) amount = 0;
        Batch.Data memory b = _emptyBatch(amount);
        b.marginCalls = new bytes32[](1);
        b.marginCalls[0] = Batch.packMarginCall(acct, deadline, amount);
        if (malformed) {
            b.marginCalls[0] = deadline % 2 == 0
                ? b.marginCalls[0] | bytes32(uint256(1) << (128 + deadline % 32))
                : Batch.packMarginCall(uint32(deadline % 4), deadline, amount); // account 0 or a system account
        }
        (uint128 a0, uint64 d0) = vault.marginCallOf(acct);
        Snap memory s0 = _snap();
        (bool ok, bytes memory err,) = _settleRows(b, s0);
        (uint128 a1, uint64 d1) = vault.marginCallOf(acct);
        if (malformed) {
            count["marginCall.malformed"]++;
            _check(!ok && bytes4(err) == IVault.MalformedRow.selector, "malformed margin call not MalformedRow");
            _check(a1 == a0 && d1 == d0, "rejected margin call stored");
            return;
        }
        if (!ok) return _violation("valid margin call rejected", bytes4(err));
        count["marginCall"]++;
        _check(a1 == amount && d1 == deadline, "margin call not stored");
        _checkUnchangedBalances(s0, _snap(), "margin call");
    }

    /// @notice One step of the default cycle on one member at a time: DECLARE (a member whose debt the
    /// fund's slack covers) → a debit of the defaulter beyond its cash (an advance) → COVER (+ ASSESS rows
    /// when layers 1-4 run out) → CLOSE once the debt is 0.
    function defaultStep(uint256 seed) external {
        if (vault.woundDown() || _paused()) return;
        uint32 x = ghostDefaulter;
        if (x == 0) return _declare(seed);
        uint256 debt = vault.debtOf(x);
        uint256 r = seed % 8;
        if (debt == 0 && r < 2) return _close(x, seed);
        if (debt == 0 || r < 3) return _advanceDefaulter(x, seed);
        if (debt != 0) return _cover(x, seed);
    }

    function _declare(uint256 seed) internal {
        (, uint32 x) = _member(seed);
        if (vault.debtOf(x) > _slack()) {
            count["declare.skipped"]++;
            return;
        }
        Batch.Data memory b = _emptyBatch(seed);
        b.defaultActions = _one(Batch.packDefaultAction(x, Batch.DECLARE, 0));
        b.marginCalls = _one(Batch.packMarginCall(x, 0, 0)); // the call is cleared with the DECLARE
        uint256 open0 = vault.openDefaults();
        // its pending withdrawals come back to its balance (cash repaying its debt first), nothing else moves;
        // taken before the settle, whose _takeRecalled drops recalled requests from the ghost's list
        int256[][] memory expect = _zeroDeltas();
        uint256[] memory ids = new uint256[](pending.length);
        uint256 n;
        for (uint256 i = pending.length; i > 0; --i) {
            Pending memory p = pending[i - 1];
            if (p.account != x) continue;
            expect[x][p.asset] += int256(uint256(p.amount));
            ids[n++] = p.id;
        }
        Snap memory s0 = _snap();
        (bool ok, bytes memory err,) = _settleRows(b, s0);
        if (!ok) return _violation("valid DECLARE rejected", bytes4(err));
        count["declare"]++;
        _check(vault.inDefault(x) && vault.defaulted(x), "DECLARE: not in default");
        _check(vault.openDefaults() == open0 + 1, "DECLARE: openDefaults");
        for (uint256 i; i < n; ++i) {
            _check(vault.withdrawal(ids[i]).status == 4, "DECLARE: a pending withdrawal not recalled");
            count["declare.recalled"]++;
        }
        _checkDeltas(s0, _snap(), expect, "DECLARE");
        ghostDefaulter = x;
        for (uint32 a = FIRST_MEMBER; a <= accountCount; ++a) {
            ghostCap[a] = 2 * vault.contributionOf(a);
            ghostAssessed[a] = 0;
        }
    }

    function _close(uint32 x, uint256 seed) internal {
        Batch.Data memory b = _emptyBatch(seed);
        b.defaultActions = _one(Batch.packDefaultAction(x, Batch.CLOSE, 0));
        uint256 open0 = vault.openDefaults();
        Snap memory s0 = _snap();
        (bool ok, bytes memory err,) = _settleRows(b, s0);
        if (!ok) return _violation("valid CLOSE rejected", bytes4(err));
        count["close"]++;
        _check(!vault.inDefault(x) && vault.defaulted(x), "CLOSE: still open or flag lost");
        _check(vault.openDefaults() + 1 == open0, "CLOSE: openDefaults");
        _checkUnchangedBalances(s0, _snap(), "CLOSE");
        ghostDefaulter = 0;
    }

    /// @dev The defaulter's close-out loss: its cash and `s` more (advanced by the fund) go to a survivor.
    function _advanceDefaulter(uint32 x, uint256 seed) internal {
        uint256 room = _slack();
        uint256 fundCash = vault.balanceOf(FUND, 0);
        if (fundCash < room) room = fundCash;
        if (room == 0) {
            count["advanceDefaulter.skipped"]++;
            return;
        }
        uint256 s = _bound(seed >> 8, 1, room / (seed % 3 == 0 ? 1 : 4) + 1);
        if (s > room) s = room;
        (Batch.Data memory b, int256[][] memory expect) =
            _advanceBatch(x, x == accountCount ? FIRST_MEMBER : x + 1, vault.balanceOf(x, 0) + s, seed);
        Snap memory s0 = _snap();
        (bool ok, bytes memory err, uint256[5][] memory draws) = _settleRows(b, s0);
        if (!ok) return _violation("defaulter's advance rejected", bytes4(err));
        count["advanceDefaulter"]++;
        _check(draws.length == 0, "advance: waterfall drawn");
        delete room;
        _check(vault.debtOf(x) == s0.debt[x] + s, "advance: debt != +shortfall");
        _checkDeltas(s0, _snap(), expect, "advance to the defaulter");
    }

    function _advanceBatch(uint32 x, uint32 y, uint256 total, uint256 seed)
        internal
        view
        returns (Batch.Data memory b, int256[][] memory expect)
    {
        b = _emptyBatch(seed);
        b.transfers = _two(Batch.packTransfer(x, 0, -int128(int256(total))), Batch.packTransfer(y, 0, int128(int256(total))));
        expect = _zeroDeltas();
        expect[x][0] = -int256(total);
        expect[y][0] = int256(total);
        if (seed % 2 == 0) {
            // its collateral goes too (so that a later COVER runs past layer 1 and, often, into ASSESS)
            for (uint16 a = 1; a < assetCount; ++a) {
                uint256 bal = vault.balanceOf(x, a);
                if (bal == 0) continue;
                b.transfers = _append(b.transfers, Batch.packTransfer(x, a, -int128(int256(bal))));
                b.transfers = _append(b.transfers, Batch.packTransfer(y, a, int128(int256(bal))));
                (expect[x][a], expect[y][a]) = (-int256(bal), int256(bal));
            }
            // and operator capital is paid out (the operator may take it back between defaults)
            uint256 cap = vault.balanceOf(OPCAP, 0);
            if (cap != 0) {
                b.transfers = _append(b.transfers, Batch.packTransfer(OPCAP, 0, -int128(int256(cap))));
                b.transfers = _append(b.transfers, Batch.packTransfer(FEE, 0, int128(int256(cap))));
                (expect[OPCAP][0], expect[FEE][0]) = (-int256(cap), int256(cap));
            }
        }
    }

    /// @dev Pre-batch capacities of layers 1-4 for `x` (L1 per asset, in haircut value).
    struct Layers {
        uint256[] l1; // [asset], 0 for the settlement asset
        uint256 l2;
        uint256 l3;
        uint256 pool;
    }

    function _layers(uint32 x) internal view returns (Layers memory c) {
        c.l1 = new uint256[](assetCount);
        for (uint16 a = 1; a < assetCount; ++a) {
            uint256 bal = vault.balanceOf(x, a);
            (uint128 price, uint16 hc) = vault.markOf(a);
            uint256 dec = IERC20Meta(address(tokens[a])).decimals();
            c.l1[a] = bal * price * (10_000 - hc) / (10 ** dec * 10_000);
        }
        c.l2 = vault.contributionOf(x);
        c.l3 = vault.balanceOf(OPCAP, 0);
        (c.pool,) = vault.defaultFundPool();
    }

    function _cover(uint32 x, uint256 seed) internal {
        Layers memory c = _layers(x);
        uint256 debt = vault.debtOf(x);
        uint256 l14 = c.l3 + c.pool;
        for (uint16 a = 1; a < assetCount; ++a) {
            l14 += c.l1[a];
        }
        // ASSESS capacity: each survivor's cap left and cash (no advance)
        uint256[] memory room = new uint256[](accountCount + 1);
        uint256 l5;
        for (uint32 a = FIRST_MEMBER; a <= accountCount; ++a) {
            if (a == x) continue;
            uint256 cap = ghostCap[a] > ghostAssessed[a] ? ghostCap[a] - ghostAssessed[a] : 0;
            // its cash, and (without debt, so a recall repays nothing) its pending cash, which an ASSESS beyond
            // its cash recalls first (finding 7's rule)
            uint256 cash = vault.balanceOf(a, 0) + (vault.debtOf(a) == 0 ? _pendingCash(a) : 0);
            room[a] = cap < cash ? cap : cash;
            l5 += room[a];
        }
        uint256 coverable = l14 + l5;
        if (coverable > debt) coverable = debt;
        if (coverable == 0) {
            count["cover.skipped"]++;
            return;
        }
        uint256 amount = seed % 2 == 0 ? coverable : _bound(seed >> 8, 1, coverable);
        Batch.Data memory b = _emptyBatch(seed);
        b.defaultActions = _one(Batch.packDefaultAction(x, Batch.COVER, uint128(amount)));
        uint256 left = amount > l14 ? amount - l14 : 0;
        for (uint32 a = FIRST_MEMBER; a <= accountCount && left != 0; ++a) {
            uint256 take = room[a] < left ? room[a] : left;
            if (take == 0) continue;
            b.defaultActions = _append(b.defaultActions, Batch.packDefaultAction(a, Batch.ASSESS, uint128(take)));
            left -= take;
        }
        Snap memory s0 = _snap();
        (bool ok, bytes memory err, uint256[5][] memory draws) = _settleRows(b, s0);
        if (!ok) return _violation("valid COVER rejected", bytes4(err));
        count[amount > l14 ? bytes32("cover.assess") : bytes32("cover")]++;
        _checkDraws(x, c, draws, amount, s0);
    }

    /// @dev The draws of one COVER (+ ASSESS): their values sum to the debt reduction and to `amount`; no
    /// layer (nor L1 asset) is drawn while an earlier one had funds before the batch; each draw's balances moved.
    function _checkDraws(uint32 x, Layers memory c, uint256[5][] memory draws, uint256 amount, Snap memory s0) internal {
        int256[][] memory expect = _zeroDeltas();
        uint256[6] memory byLayer; // [0]: Σ values, [1..5]: per layer
        uint256[2] memory last; // layer, L1 asset
        for (uint256 i; i < draws.length; ++i) {
            uint256[5] memory d = draws[i]; // layer, account, asset, amount, value
            byLayer[0] += d[4];
            byLayer[d[0]] += d[4];
            _check(d[0] >= last[0] && d[0] >= 1 && d[0] <= 5, "draws out of layer order");
            // every earlier layer (and earlier L1 asset) was exhausted, by the capacities before the batch
            uint256 upTo = d[0] == 1 ? d[2] : assetCount;
            for (uint256 a = 1; a < upTo; ++a) {
                if (!_drawnFully(draws, i, a, c.l1[a])) _check(false, "later layer drawn while L1 collateral had value");
            }
            if (d[0] > 2) _check(byLayer[2] == c.l2, "later layer drawn while L2 (own contribution) had value");
            if (d[0] > 3) _check(byLayer[3] == c.l3, "later layer drawn while L3 (operator capital) had value");
            if (d[0] > 4) _check(byLayer[4] == c.pool - byLayer[2], "ASSESS while the pool (L4) had value");
            _drawDeltas(x, c, d, last, expect);
            last[0] = d[0];
        }
        Snap memory s1 = _snap();
        uint256 reduced = s0.debt[x] - s1.debt[x];
        _check(byLayer[0] == reduced, "debt reduction != sum of WaterfallDraw values");
        _check(byLayer[0] == amount, "COVER + ASSESS did not cover the amount");
        ghostWaterfallCover += reduced;
        _check(byLayer[2] <= c.l2 && byLayer[3] <= c.l3, "layer drawn above its funds");
        (uint256 pool1,) = vault.defaultFundPool();
        _check(pool1 == c.pool - byLayer[2] - byLayer[4], "pool value != before - L2 - L4");
        for (uint32 a = FIRST_MEMBER; a <= accountCount; ++a) {
            int256 r = lastRecalled[uint256(a) << 16];
            if (r == 0) continue;
            count["cover.assess.recalled"]++;
            _check(a != x, "the defaulter's withdrawals recalled by a COVER");
            expect[a][0] += r; // its pending cash came back, then the ASSESS took from it
        }
        _checkDeltasRaw(s0, s1, expect, "COVER");
    }

    /// @dev The balance moves of one draw (into `expect`), and its ghosts.
    function _drawDeltas(uint32 x, Layers memory c, uint256[5] memory d, uint256[2] memory last, int256[][] memory expect)
        internal
    {
        if (d[0] == 1) {
            _check(d[1] == x && d[2] > last[1], "L1 draw: wrong account or asset order");
            _check(d[4] <= c.l1[d[2]], "L1 draw above the collateral's value");
            last[1] = d[2];
            expect[x][d[2]] -= int256(d[3]);
            expect[FUND][d[2]] += int256(d[3]);
            ghostFundEquity -= int256(d[4]); // collateral replaces the debt it covered
        } else if (d[0] == 3) {
            _check(d[1] == OPCAP && d[3] == d[4], "L3 draw");
            expect[OPCAP][0] -= int256(d[3]);
            expect[FUND][0] += int256(d[3]);
        } else if (d[0] == 5) {
            _check(d[1] != x && d[3] == d[4], "L5 draw");
            expect[d[1]][0] -= int256(d[3]);
            expect[FUND][0] += int256(d[3]);
            ghostAssessed[uint32(d[1])] += d[3];
            _check(ghostAssessed[uint32(d[1])] <= ghostCap[uint32(d[1])], "assessed above the cap");
        } else {
            _check(d[3] == d[4] && d[2] == 0, "L2/L4 draw");
        }
    }

    function _drawnFully(uint256[5][] memory draws, uint256 upTo, uint256 asset, uint256 full) internal pure returns (bool) {
        if (full == 0) return true;
        for (uint256 i; i < upTo; ++i) {
            if (draws[i][0] == 1 && draws[i][2] == asset) return draws[i][4] == full;
        }
        return false;
    }

    /// @notice A batch with one invalid default-management row (or a payout into the pool's backing): it
    /// must revert with its own error and change nothing.
    function defaultInvalid(uint256 seed, uint256 kind) external {
        if (vault.woundDown() || _paused()) return;
        kind %= 9;
        uint32 x = ghostDefaulter;
        (, uint32 m) = _member(seed >> 4);
        Batch.Data memory b = _emptyBatch(seed);
        bytes4 want;
        if (kind == 0) {
            // COVER or CLOSE of a member not in default
            if (m == x) m = m == accountCount ? FIRST_MEMBER : m + 1;
            b.defaultActions = _one(Batch.packDefaultAction(m, seed % 2 == 0 ? Batch.COVER : Batch.CLOSE, seed % 2 == 0 ? 1 : 0));
            want = IVault.NotInDefault.selector;
        } else if (kind == 1) {
            if (x == 0) return;
            b.defaultActions = _one(Batch.packDefaultAction(x, Batch.DECLARE, 0));
            want = IVault.AlreadyInDefault.selector;
        } else if (kind == 2) {
            if (x == 0 || vault.debtOf(x) == 0) return;
            b.defaultActions = _one(Batch.packDefaultAction(x, Batch.CLOSE, 0));
            want = IVault.DebtOutstanding.selector;
        } else if (kind == 3) {
            // re-pricing the settlement asset (a COVER above the debt is no longer invalid: it covers the debt)
            b.marks = _one(Batch.packMark(0, 0, uint128(1e6 + 1 + seed % 1e6)));
            want = IVault.SettlementMarkFixed.selector;
        } else if (kind == 4) {
            // an expired batch (an ASSESS with nothing left to assess is skipped, no longer invalid)
            b.validUntil = uint64(block.timestamp - 1 - seed % 1 hours);
            want = IVault.BatchExpired.selector;
        } else if (kind == 5) {
            // a contribution return while a default is open
            if (x == 0 || vault.contributionOf(m) == 0) return;
            b.contributions = _one(Batch.packContribution(m, -1));
            want = IVault.ContributionLocked.selector;
        } else if (kind == 6) {
            // malformed: reserved bits, a system account, an unknown action, a DECLARE with an amount
            uint256 v = seed % 4;
            bytes32 row = v == 0 ? Batch.packDefaultAction(m, Batch.DECLARE, 0) | bytes32(uint256(1) << (128 + seed % 88))
                : v == 1 ? Batch.packDefaultAction(uint32(1 + seed % 3), Batch.DECLARE, 0)
                : v == 2 ? Batch.packDefaultAction(m, uint8(5 + seed % 250), 0)
                : Batch.packDefaultAction(m, Batch.DECLARE, 1 + uint128(seed % 1000));
            b.defaultActions = _one(row);
            want = IVault.MalformedRow.selector;
        } else if (kind == 7) {
            // a COVER whose remainder is left unassessed
            if (x == 0 || vault.debtOf(x) == 0) return;
            Layers memory c = _layers(x);
            uint256 l14 = c.l3 + c.pool;
            for (uint16 a = 1; a < assetCount; ++a) {
                l14 += c.l1[a];
            }
            if (vault.debtOf(x) <= l14) return;
            b.defaultActions = _one(Batch.packDefaultAction(x, Batch.COVER, uint128(vault.debtOf(x))));
            want = IVault.Uncovered.selector;
        } else {
            // the fund pays out one unit more than its slack
            uint256 slack = _slack();
            uint256 p = slack + 1 + seed % 1000;
            if (p > vault.balanceOf(FUND, 0)) return;
            b.transfers = _two(Batch.packTransfer(FUND, 0, -int128(int256(p))), Batch.packTransfer(FEE, 0, int128(int256(p))));
            want = IVault.PoolUnderfunded.selector;
        }
        Snap memory s0 = _snap();
        (bool ok, bytes memory err,) = _settleRows(b, s0);
        if (ok) return _violation(string.concat("invalid default row accepted, kind ", vm.toString(kind)), bytes4(0));
        count["default.invalid.rejected"]++;
        if (bytes4(err) != want) _violation(string.concat("invalid default row, kind ", vm.toString(kind), ": wrong error"), bytes4(err));
    }

    // ------------------------------------------------------------------ default helpers

    /// @dev The fund's cash + advances of members not in an open default - the pool's value.
    function _slack() internal view returns (uint256) {
        (int256 s,) = fundSlack();
        return s > 0 ? uint256(s) : 0;
    }

    /// @notice (cash + advances of members not in an open default - pool value, cash + all advances - pool value).
    function fundSlack() public view returns (int256 notInDefault, int256 all) {
        (uint256 pool,) = vault.defaultFundPool();
        int256 base = int256(vault.balanceOf(FUND, 0)) - int256(pool);
        (notInDefault, all) = (base, base);
        for (uint32 a = FIRST_MEMBER; a <= accountCount; ++a) {
            int256 d = int256(vault.debtOf(a));
            all += d;
            if (!vault.inDefault(a)) notInDefault += d;
        }
    }

    /// @dev An empty batch chained onto the vault, asOf now.
    function _emptyBatch(uint256 seed) internal view returns (Batch.Data memory b) {
        b.sequence = vault.lastSequence() + 1;
        b.prevHash = vault.lastBatchHash();
        b.asOf = uint64(block.timestamp);
        b.validUntil = uint64(block.timestamp + 1 hours);
        b.fillsRoot = keccak256(abi.encode(seed, "fills"));
    }

    /// @dev Sign and settle `b`. Accepted: the ghosts follow (chain, advances, repayments, the fund's
    /// equity by its own cash rows) and the WaterfallDraw events come back as (layer, account, asset,
    /// amount, value). Rejected: nothing may have changed, default state included.
    function _settleRows(Batch.Data memory b, Snap memory s0)
        internal
        returns (bool ok, bytes memory err, uint256[5][] memory draws)
    {
        IVault.SignerSignature[] memory sigs = _sign(b, vault.threshold());
        bytes32 digest = vault.batchDigest(b);
        bytes32 d0 = _defaultState();
        vm.recordLogs();
        try vault.settle{gas: SETTLE_GAS}(b, sigs) {
            ok = true;
            uint256 adv;
            uint256 rep;
            (adv, rep, draws) = _events();
            ghostAdvanced += adv;
            ghostRepaid += rep;
            ghostSequence = b.sequence;
            // requests a debit beyond the balance brought back leave the ghost's list
            int256[][] memory recalled = _takeRecalled();
            for (uint32 acct = 1; acct <= accountCount; ++acct) {
                for (uint16 a; a < assetCount; ++a) {
                    lastRecalled[(uint256(acct) << 16) | a] = recalled[acct][a];
                }
            }
            ghostLastHash = digest;
            ghostLastAsOf = b.asOf;
            for (uint256 i; i < b.transfers.length; ++i) {
                (uint32 acct, uint16 asset, int128 amt) = Batch.unpackTransfer(b.transfers[i]);
                if (acct == FUND && asset == 0) ghostFundEquity += amt;
            }
        } catch (bytes memory e) {
            err = e;
            vm.getRecordedLogs();
            _checkUnchanged(s0, "rejected default batch");
            _check(_defaultState() == d0, "rejected default batch changed the default state");
        }
    }

    /// @dev A hash of the default-management state (pool, open defaults, flags, contributions, calls).
    function _defaultState() internal view returns (bytes32 h) {
        (uint256 v, uint256 s) = vault.defaultFundPool();
        h = keccak256(abi.encode(v, s, vault.openDefaults()));
        for (uint32 a = FIRST_MEMBER; a <= accountCount; ++a) {
            (uint128 amt, uint64 dl) = vault.marginCallOf(a);
            h = keccak256(abi.encode(h, vault.inDefault(a), vault.contributionOf(a), amt, dl));
        }
    }

    function _events() internal returns (uint256 advanced, uint256 repaid, uint256[5][] memory draws) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 n;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(vault) && logs[i].topics.length != 0 && logs[i].topics[0] == WATERFALL_DRAW) ++n;
        }
        draws = new uint256[5][](n);
        n = 0;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(vault) || logs[i].topics.length == 0) continue;
            bytes32 t0 = logs[i].topics[0];
            if (t0 == LIQUIDITY_ADVANCED) {
                advanced += abi.decode(logs[i].data, (uint128));
            } else if (t0 == ADVANCE_REPAID) {
                repaid += abi.decode(logs[i].data, (uint128));
            } else if (t0 == WATERFALL_DRAW) {
                (uint32 acct, uint16 asset, uint256 amount, uint256 value) =
                    abi.decode(logs[i].data, (uint32, uint16, uint256, uint256));
                draws[n++] = [uint256(logs[i].topics[2]), acct, asset, amount, value];
            }
        }
    }

    function _checkUnchangedBalances(Snap memory s0, Snap memory s1, string memory what) internal {
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            _check(s1.debt[acct] == s0.debt[acct], string.concat(what, ": debt moved"));
            for (uint16 a; a < assetCount; ++a) {
                _check(s1.bal[acct][a] == s0.bal[acct][a], string.concat(what, ": balance moved"));
            }
        }
    }

    function _one(bytes32 x) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](1);
        r[0] = x;
    }

    function _two(bytes32 x, bytes32 y) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](2);
        (r[0], r[1]) = (x, y);
    }

    // ================================================================== views for the invariants

    function pendingCount() external view returns (uint256) {
        return pending.length;
    }

    function tokenOf(uint16 asset) external view returns (IERC20) {
        return tokens[asset];
    }

    // ================================================================== batch building

    /// @dev A random valid batch and its per-(account, asset) transfer sums. Debits are bounded so that the
    /// batch is valid in any processing order: collateral and system-account debits never exceed the
    /// balance, and members' cash shortfalls (counting debits only) never exceed the default fund.
    function _validBatch(uint256 seed) internal view returns (Batch.Data memory b, int256[][] memory t) {
        b.sequence = vault.lastSequence() + 1;
        b.prevHash = vault.lastBatchHash();
        uint64 last = vault.lastAsOf();
        b.asOf = uint64(block.timestamp) > last ? uint64(block.timestamp - (seed % 2) * ((block.timestamp - last) / 2)) : last;
        b.fillsRoot = keccak256(abi.encode(seed, "fills"));
        b.contextHash = keccak256(abi.encode(seed, "context"));
        b.validUntil = uint64(block.timestamp + (seed >> 48) % 1 hours);

        (b.transfers, t) = _genTransfers(seed);

        uint256 nReq = (seed >> 16) % 3;
        b.requirements = new bytes32[](nReq);
        for (uint256 k; k < nReq; ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, "req", k)));
            uint32 acct = _memberAccount(r);
            // IM up to roughly the member's collateral value, so that some withdrawals fail the check
            uint256 cap = (r >> 64) % 8 == 0 ? 0 : _collateralValue(acct) + maxDeposit[0] / 4;
            uint112 im = uint112(_bound(r >> 96, 0, cap));
            uint112 mm = uint112(_bound(r >> 200, 0, im));
            b.requirements[k] = Batch.packRequirement(acct, im, mm);
        }

        uint256 nMarks = assetCount > 1 ? (seed >> 24) % assetCount : 0;
        b.marks = new bytes32[](nMarks);
        for (uint256 k; k < nMarks; ++k) {
            uint256 r = uint256(keccak256(abi.encode(seed, "mark", k)));
            uint16 asset = uint16(1 + (r % (assetCount - 1)));
            uint16 haircut = uint16((r >> 16) % 9_001);
            uint128 price = uint128(_bound(r >> 64, 1, maxPrice[asset]));
            b.marks[k] = Batch.packMark(asset, haircut, price);
        }

        uint256 nApprove = pending.length == 0 ? 0 : (seed >> 32) % 3;
        if (nApprove == 2 && pending.length < 2) nApprove = 1;
        b.approvedWithdrawals = new uint256[](nApprove);
        uint256 first = (seed >> 40) % (pending.length == 0 ? 1 : pending.length);
        for (uint256 k; k < nApprove; ++k) {
            Pending memory p = pending[(first + k) % pending.length];
            b.approvedWithdrawals[k] = Batch.packApproval(uint64(p.id), p.account, p.asset, p.amount);
        }
    }

    function _genTransfers(uint256 seed) internal view returns (bytes32[] memory rows, int256[][] memory t) {
        t = _zeroDeltas();
        uint256 nPairs = seed % 7; // 0..6 transfer pairs
        rows = new bytes32[](2 * nPairs);
        uint256 n;
        uint256[][] memory debits = _zeroU();
        // [0] the fund's cash left to advance; [1] its slack left (cash + advances of members not in
        // default - pool): the fund's own payouts and advances to a defaulter must stay within it
        uint256[2] memory fundFree = [vault.balanceOf(FUND, 0), _slack()];
        for (uint256 k; k < nPairs; ++k) {
            (uint32 from, uint32 to, uint16 asset, uint256 amount) =
                _genPair(uint256(keccak256(abi.encode(seed, k))), debits, fundFree);
            if (amount == 0) continue;
            rows[n++] = Batch.packTransfer(from, asset, -int128(int256(amount)));
            rows[n++] = Batch.packTransfer(to, asset, int128(int256(amount)));
            t[from][asset] -= int256(amount);
            t[to][asset] += int256(amount);
        }
        assembly ("memory-safe") {
            mstore(rows, n) // shrink to the rows actually written
        }
    }

    /// @dev One debit/credit pair; `debits` and `fundFree` carry what earlier pairs already took.
    function _genPair(uint256 r, uint256[][] memory debits, uint256[2] memory fundFree)
        internal
        view
        returns (uint32 from, uint32 to, uint16 asset, uint256 amount)
    {
        asset = (r & 1 == 0) ? 0 : uint16((r >> 1) % assetCount);
        from = _anyAccount(r >> 8);
        to = _anyAccount(r >> 40);
        if (to == from) to = from == accountCount ? FIRST_MEMBER : from + 1;
        uint256 have = vault.balanceOf(from, asset);
        uint256 used = debits[from][asset];
        uint256 room = have > used ? have - used : 0;
        if (asset == 0 && from >= FIRST_MEMBER) {
            // may go beyond cash: the excess is advanced by the default fund
            uint256 free = fundFree[0];
            if (from == ghostDefaulter && fundFree[1] < free) free = fundFree[1];
            uint256 extra = (r >> 72) % 4 == 0 ? free : free / 4;
            amount = _bound(r >> 80, 1, room + extra + 1);
            if (amount > room + extra) amount = room + extra;
            uint256 shortfall = amount > room ? amount - room : 0;
            fundFree[0] -= shortfall;
            if (from == ghostDefaulter) fundFree[1] -= shortfall;
        } else if (asset == 0 && from == FUND) {
            uint256 free = fundFree[0] < fundFree[1] ? fundFree[0] : fundFree[1];
            amount = free == 0 ? 0 : _bound(r >> 80, 1, free);
            fundFree[0] -= amount;
            fundFree[1] -= amount;
        } else {
            amount = room == 0 ? 0 : _bound(r >> 80, 1, room);
        }
        debits[from][asset] += amount;
    }

    /// @dev Signatures of the first `n` registered signers (ascending), over the batch digest.
    function _sign(Batch.Data memory b, uint256 n) internal view returns (IVault.SignerSignature[] memory sigs) {
        bytes32 digest = vault.batchDigest(b);
        sigs = new IVault.SignerSignature[](n);
        for (uint256 i; i < n; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeys[i], digest);
            sigs[i] = IVault.SignerSignature(vm.addr(signerKeys[i]), abi.encodePacked(r, s, v));
        }
    }

    /// @dev kinds: 3 under threshold, 4 one forged signature, 5 a duplicated signer, 6 an unregistered
    /// signer, 7 a signature reused from another digest (the previous batch's).
    function _badSignatures(Batch.Data memory b, uint256 kind, uint256 r, uint256 nSig)
        internal
        view
        returns (IVault.SignerSignature[] memory sigs, bytes4 want)
    {
        sigs = _sign(b, nSig);
        if (kind == 3) {
            sigs = _truncate(sigs, nSig - 1);
            want = IVault.BelowThreshold.selector;
        } else if (kind == 4) {
            uint256 j = r % nSig;
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(0xF00D + r % 1000, vault.batchDigest(b));
            sigs[j].signature = abi.encodePacked(rr, s, v);
            want = IVault.InvalidSignature.selector;
        } else if (kind == 5) {
            IVault.SignerSignature[] memory d = new IVault.SignerSignature[](nSig + 1);
            for (uint256 i; i < nSig; ++i) {
                d[i] = sigs[i];
            }
            d[nSig] = sigs[nSig - 1];
            sigs = d;
            want = IVault.SignersNotAscending.selector;
        } else if (kind == 6) {
            // an outsider's valid signature, placed in ascending order among genuine ones
            uint256 key = 0xBEEF + (r % 1000);
            address outsider = vm.addr(key);
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(key, vault.batchDigest(b));
            IVault.SignerSignature[] memory d = new IVault.SignerSignature[](nSig + 1);
            uint256 k;
            bool placed;
            for (uint256 i; i < nSig; ++i) {
                if (!placed && outsider < sigs[i].signer) {
                    d[k++] = IVault.SignerSignature(outsider, abi.encodePacked(rr, s, v));
                    placed = true;
                }
                d[k++] = sigs[i];
            }
            if (!placed) d[k] = IVault.SignerSignature(outsider, abi.encodePacked(rr, s, v));
            sigs = d;
            want = IVault.UnknownSigner.selector;
        } else {
            // reuse: genuine signatures, but over another digest (this batch with another sequence)
            Batch.Data memory other = b;
            uint64 seq = b.sequence;
            other.sequence = seq + 1;
            bytes32 otherDigest = vault.batchDigest(other);
            other.sequence = seq;
            uint256 j = r % nSig;
            (uint8 v, bytes32 rr, bytes32 s) = vm.sign(signerKeys[j], otherDigest);
            sigs[j].signature = abi.encodePacked(rr, s, v);
            want = IVault.InvalidSignature.selector;
        }
    }

    // ================================================================== checks

    /// @dev After a settle: the pending withdrawals a debit beyond the balance brought back (status RECALLED),
    /// per account and asset; they leave the ghost's pending list.
    function _takeRecalled() internal returns (int256[][] memory r) {
        r = _zeroDeltas();
        for (uint256 i = pending.length; i > 0; --i) {
            Pending memory p = pending[i - 1];
            if (vault.withdrawal(p.id).status != 4) continue;
            r[p.account][p.asset] += int256(uint256(p.amount));
            _removePending(i - 1);
            count["settle.recalled"]++;
        }
    }

    function _checkSettlementDeltas(
        Snap memory s0,
        Snap memory s1,
        int256[][] memory t,
        int256[][] memory r,
        uint256 adv,
        uint256 rep
    ) internal {
        int256 debtDelta;
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            debtDelta += int256(s1.debt[acct]) - int256(s0.debt[acct]);
        }
        _check(debtDelta == int256(adv) - int256(rep), "settle: debt delta != advanced - repaid");
        // zero-sum: every asset's balances sum to the same total before and after
        for (uint16 a; a < assetCount; ++a) {
            int256 sumT;
            int256 sumD;
            int256 sumR;
            for (uint32 acct = 1; acct <= accountCount; ++acct) {
                sumT += t[acct][a];
                sumD += int256(s1.bal[acct][a]) - int256(s0.bal[acct][a]);
                sumR += r[acct][a];
            }
            _check(sumT == 0, "generator produced a non-zero-sum batch");
            // zero-sum but for recalled requests, which come back to their owner's balance (still owed)
            _check(sumD == sumR, "applied batch was not zero-sum");
            _check(s1.owed[a] == s0.owed[a], "settle changed totalOwed");
            _check(s1.held[a] == s0.held[a], "settle moved tokens");
        }
        // per account: the transfer sums, with cash debt as negative cash and the fund paying the difference
        int256[][] memory expect = _zeroDeltas();
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            for (uint16 a; a < assetCount; ++a) {
                expect[acct][a] = t[acct][a] + r[acct][a];
            }
        }
        _checkDeltas(s0, s1, expect, "settle");
    }

    /// @dev `expect[acct][asset]` is the change of balance (for a member's cash: balance less debt); the
    /// default fund's cash must also move by the debt repaid less the debt advanced.
    function _checkDeltas(Snap memory s0, Snap memory s1, int256[][] memory expect, string memory what) internal {
        int256 debtDelta;
        for (uint32 acct = FIRST_MEMBER; acct <= accountCount; ++acct) {
            debtDelta += int256(s1.debt[acct]) - int256(s0.debt[acct]);
        }
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            if (acct < FIRST_MEMBER) _check(s1.debt[acct] == 0, string.concat(what, ": system account in debt"));
            for (uint16 a; a < assetCount; ++a) {
                int256 d = int256(s1.bal[acct][a]) - int256(s0.bal[acct][a]);
                if (a == 0 && acct >= FIRST_MEMBER) d -= int256(s1.debt[acct]) - int256(s0.debt[acct]);
                int256 e = expect[acct][a];
                if (a == 0 && acct == FUND) e -= debtDelta;
                if (d != e) {
                    _violation(
                        string.concat(what, ": account ", vm.toString(uint256(acct)), " asset ", vm.toString(uint256(a)), " delta"),
                        bytes4(0)
                    );
                }
            }
        }
    }

    /// @dev Exact balance deltas (no debt adjustment); debts may only fall.
    function _checkDeltasRaw(Snap memory s0, Snap memory s1, int256[][] memory expect, string memory what) internal {
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            _check(s1.debt[acct] <= s0.debt[acct], string.concat(what, ": debt rose"));
            for (uint16 a; a < assetCount; ++a) {
                int256 d = int256(s1.bal[acct][a]) - int256(s0.bal[acct][a]);
                if (d != expect[acct][a]) {
                    _violation(
                        string.concat(what, ": account ", vm.toString(uint256(acct)), " asset ", vm.toString(uint256(a)), " delta"),
                        bytes4(0)
                    );
                }
            }
        }
    }

    function _checkPosted(Batch.Data memory b) internal {
        // the last row for an account/asset wins
        for (uint256 k; k < b.requirements.length; ++k) {
            (uint32 acct, uint112 im, uint112 mm) = Batch.unpackRequirement(b.requirements[k]);
            bool later;
            for (uint256 j = k + 1; j < b.requirements.length; ++j) {
                (uint32 a2,,) = Batch.unpackRequirement(b.requirements[j]);
                if (a2 == acct) later = true;
            }
            if (later) continue;
            (uint112 im1, uint112 mm1) = vault.requirementOf(acct);
            _check(im1 == im && mm1 == mm, "requirement not stored");
        }
        for (uint256 k; k < b.marks.length; ++k) {
            (uint16 asset, uint16 hc, uint128 price) = Batch.unpackMark(b.marks[k]);
            bool later;
            for (uint256 j = k + 1; j < b.marks.length; ++j) {
                (uint16 a2,,) = Batch.unpackMark(b.marks[j]);
                if (a2 == asset) later = true;
            }
            if (later) continue;
            (uint128 p1, uint16 hc1) = vault.markOf(asset);
            _check(p1 == price && hc1 == hc, "mark not stored");
        }
    }

    function _checkUnchanged(Snap memory s0, string memory what) internal {
        Snap memory s1 = _snap();
        _check(s1.seq == s0.seq && s1.lastHash == s0.lastHash, string.concat(what, ": batch chain moved"));
        for (uint16 a; a < assetCount; ++a) {
            _check(s1.owed[a] == s0.owed[a] && s1.held[a] == s0.held[a], string.concat(what, ": totals moved"));
            for (uint32 acct = 1; acct <= accountCount; ++acct) {
                _check(s1.bal[acct][a] == s0.bal[acct][a], string.concat(what, ": balance moved"));
            }
        }
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            _check(s1.debt[acct] == s0.debt[acct], string.concat(what, ": debt moved"));
        }
    }

    function _check(bool ok, string memory what) internal {
        if (!ok && bytes(violation).length == 0) violation = what;
    }

    function _violation(string memory what, bytes4 sel) internal {
        if (bytes(violation).length == 0) {
            violation = string.concat(what, " (error selector ", vm.toString(bytes32(sel)), ")");
        }
    }

    // ================================================================== helpers

    function _snap() internal view returns (Snap memory s) {
        s.bal = new uint256[][](accountCount + 1);
        s.debt = new uint256[](accountCount + 1);
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            s.bal[acct] = new uint256[](assetCount);
            for (uint16 a; a < assetCount; ++a) {
                s.bal[acct][a] = vault.balanceOf(acct, a);
            }
            s.debt[acct] = vault.debtOf(acct);
        }
        s.owed = new uint256[](assetCount);
        s.held = new uint256[](assetCount);
        for (uint16 a; a < assetCount; ++a) {
            s.owed[a] = vault.totalOwed(a);
            s.held[a] = tokens[a].balanceOf(address(vault));
        }
        s.seq = vault.lastSequence();
        s.lastHash = vault.lastBatchHash();
    }

    function _debtEvents() internal returns (uint256 advanced, uint256 repaid) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        lastApprovalSkips = 0;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(vault) || logs[i].topics.length == 0) continue;
            bytes32 t0 = logs[i].topics[0];
            if (t0 == LIQUIDITY_ADVANCED) {
                advanced += abi.decode(logs[i].data, (uint128));
            } else if (t0 == ADVANCE_REPAID) {
                repaid += abi.decode(logs[i].data, (uint128));
            } else if (t0 == ROW_ADJUSTED && uint256(logs[i].topics[1]) == Batch.ROWS_APPROVALS) {
                (uint256 index,,) = abi.decode(logs[i].data, (uint256, bytes32, uint256));
                if (index < 256) lastApprovalSkips |= 1 << index;
            }
        }
    }

    /// @dev `_debtEvents`, and `lastSeized`: the collateral the vault's WindDownWithdrawal events say it seized for
    /// debt (a storage slot: the caller has no stack slot left for it).
    function _windDownEvents() internal returns (uint256 advanced, uint256 repaid) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        lastSeized = 0;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(vault) || logs[i].topics.length == 0) continue;
            bytes32 t0 = logs[i].topics[0];
            if (t0 == LIQUIDITY_ADVANCED) advanced += abi.decode(logs[i].data, (uint128));
            else if (t0 == ADVANCE_REPAID) repaid += abi.decode(logs[i].data, (uint128));
            else if (t0 == WIND_DOWN_WITHDRAWAL) {
                (,, uint256 s) = abi.decode(logs[i].data, (address, uint256, uint256));
                lastSeized += s;
            }
        }
    }

    function _paused() internal view returns (bool) {
        return IPausable(address(vault)).paused();
    }

    function _zeroDeltas() internal view returns (int256[][] memory d) {
        d = new int256[][](accountCount + 1);
        for (uint256 i; i <= accountCount; ++i) {
            d[i] = new int256[](assetCount);
        }
    }

    function _zeroU() internal view returns (uint256[][] memory d) {
        d = new uint256[][](accountCount + 1);
        for (uint256 i; i <= accountCount; ++i) {
            d[i] = new uint256[](assetCount);
        }
    }

    /// @dev Σ of the ghost's pending cash withdrawals of `acct`.
    function _pendingCash(uint32 acct) internal view returns (uint256 sum) {
        for (uint256 i; i < pending.length; ++i) {
            if (pending[i].account == acct && pending[i].asset == 0) sum += pending[i].amount;
        }
    }

    function _member(uint256 m) internal view returns (address member, uint32 acct) {
        member = members[m % members.length];
        acct = FIRST_MEMBER + uint32(m % members.length);
    }

    function _memberAccount(uint256 r) internal view returns (uint32) {
        return FIRST_MEMBER + uint32(r % members.length);
    }

    function _anyAccount(uint256 r) internal view returns (uint32) {
        // members twice as likely as system accounts
        uint256 x = r % (accountCount + members.length);
        return x < 3 ? uint32(1 + x) : FIRST_MEMBER + uint32((x - 3) % members.length);
    }

    function _recipient(uint256 m) internal view returns (address) {
        return address(uint160(0xD00D0000 + (m % members.length)));
    }

    function _collateralValue(uint32 acct) internal view returns (uint256 v) {
        int256 fc = vault.freeCollateral(acct);
        (uint112 im,) = vault.requirementOf(acct);
        int256 gross = fc + int256(uint256(im)) + int256(vault.debtOf(acct));
        v = gross > 0 ? uint256(gross) : 0;
    }

    /// @dev What `acct` has pending in withdrawals of `asset` (the ghost's list).
    function _pendingOf(uint32 acct, uint16 asset) internal view returns (uint256 s) {
        for (uint256 i; i < pending.length; ++i) {
            if (pending[i].account == acct && pending[i].asset == asset) s += pending[i].amount;
        }
    }

    function _totalCash() internal view returns (uint256 s) {
        for (uint32 acct = 1; acct <= accountCount; ++acct) {
            s += vault.balanceOf(acct, 0);
        }
    }

    function _creditsIn(bytes32[] memory rows, uint32 acct, uint16 asset) internal pure returns (uint256 d) {
        for (uint256 i; i < rows.length; ++i) {
            (uint32 a, uint16 s, int128 m) = Batch.unpackTransfer(rows[i]);
            if (a == acct && s == asset && m > 0) d += uint256(int256(m));
        }
    }

    function _pendingOf(uint32 account) internal view returns (uint256 n) {
        for (uint256 i; i < pending.length; ++i) {
            if (pending[i].account == account) ++n;
        }
    }

    function _removePending(uint256 idx) internal {
        Pending memory p = pending[idx];
        if (finished.length < 64) finished.push(p.id);
        else finished[p.id % 64] = p.id;
        ghostPending[p.asset] -= p.amount;
        pending[idx] = pending[pending.length - 1];
        pending.pop();
    }

    function _truncate(IVault.SignerSignature[] memory s, uint256 n)
        internal
        pure
        returns (IVault.SignerSignature[] memory r)
    {
        r = new IVault.SignerSignature[](n);
        for (uint256 i; i < n; ++i) {
            r[i] = s[i];
        }
    }

    function _append(bytes32[] memory a, bytes32 x) internal pure returns (bytes32[] memory r) {
        r = new bytes32[](a.length + 1);
        for (uint256 i; i < a.length; ++i) {
            r[i] = a[i];
        }
        r[a.length] = x;
    }

    function _appendU(uint256[] memory a, uint256 x) internal pure returns (uint256[] memory r) {
        r = new uint256[](a.length + 1);
        for (uint256 i; i < a.length; ++i) {
            r[i] = a[i];
        }
        r[a.length] = x;
    }

    function _sortKeys(uint256[] memory keys) internal pure returns (uint256[] memory out) {
        out = new uint256[](keys.length);
        for (uint256 i; i < keys.length; ++i) {
            out[i] = keys[i];
        }
        for (uint256 i = 1; i < out.length; ++i) {
            uint256 k = out[i];
            address a = vm.addr(k);
            uint256 j = i;
            while (j > 0 && vm.addr(out[j - 1]) > a) {
                out[j] = out[j - 1];
                --j;
            }
            out[j] = k;
        }
    }

    function _bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        if (hi <= lo) return lo;
        return lo + (x % (hi - lo + 1));
    }
}
