// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IVault} from "./interfaces/IVault.sol";
import {Ledger} from "./libraries/Ledger.sol";
import {Margin} from "./libraries/Margin.sol";
import {DefaultFund} from "./libraries/DefaultFund.sol";

/// @title VaultStorage
/// @notice The vault's whole storage, declared once. It is the vault's first base contract, so it sits at the
/// same slots in Vault and in the VaultDefaults module that the vault runs by delegatecall.
abstract contract VaultStorage {
    using Ledger for mapping(uint256 => uint256);

    uint16 internal constant MAX_ASSETS = 32;
    uint256 internal constant MAX_PENDING_WITHDRAWALS = 8;
    uint8 internal constant RECALLED = 4; // a withdrawal status: brought back to the balance (a DECLARE, a debit)
    uint256 internal constant MASK112 = (1 << 112) - 1;
    /// @dev An exit request word (see `_exitRequests`): bit 255 vetoed, bit 254 restarted by a DECLARE,
    /// [253..192] armed at (time), [191..128] the pause clock then, [127..64] unserved since (time), [63..0] the
    /// pause clock then.
    uint256 internal constant EXIT_VETOED = 1 << 255;
    /// @dev A DECLARE restarted this request's clock: the next ones do not (VaultDefaults._restartExitAtDeclare).
    uint256 internal constant EXIT_DECLARED = 1 << 254;
    /// @dev The armed-at field of an exit request word ([253..192]).
    uint256 internal constant EXIT_ARMED = ((1 << 62) - 1) << 192;
    /// @dev How long (unpaused) an armed forced exit waits before the wind-down opens: batches already signed
    /// (a member's loss, a COVER/ASSESS) land first, and the signers may still serve the exit.
    uint64 internal constant WIND_DOWN_GRACE = 1 days;
    /// @dev How long (unpaused) after the grace an armed exit may open the wind-down; a later `forceWindDown`
    /// clears the request instead (`ExitLapsed`), so an armed exit is never a standing option (issue 11, fourth
    /// review, finding 2).
    uint64 internal constant WIND_DOWN_WINDOW = 1 days;

    /// @dev (account << 16 | asset) => debt << 128 | balance. See Ledger.
    mapping(uint256 key => uint256 word) internal _ledger;
    /// @dev account => im << 112 | mm (the low 224 bits of its last requirement row).
    mapping(uint32 account => uint256 packed) internal _requirements;
    mapping(uint16 asset => uint256) internal _totalOwed;

    IERC20[MAX_ASSETS] internal _tokens;
    Margin.Mark[MAX_ASSETS] internal _marks;
    mapping(address token => bool) internal _listed;

    mapping(address member => uint32) internal _accountOf;
    mapping(uint32 account => address) internal _memberOf;

    mapping(uint256 id => IVault.Withdrawal) internal _withdrawals;
    mapping(address member => uint256) internal _nonces;
    uint256 internal _withdrawalCount;

    address[] internal _signers;
    mapping(address => bool) internal _isSigner;

    // One slot: read on every settle.
    uint32 internal _accountCount;
    uint16 internal _assetCount;
    uint8 internal _threshold;
    uint64 internal _withdrawalDelay;
    uint64 internal _escapePeriod; // of the current window (since the last batch)
    uint64 internal _nextEscapePeriod; // set by governance, in force from the next batch (0: none)

    // One slot: the batch chain, written on every settle.
    uint64 internal _lastSequence;
    uint64 internal _lastAsOf;
    uint64 internal _lastSettledAt;
    bool internal _woundDown;
    uint48 internal _pauseClockAtSettle; // the pause clock (see below) when the last batch landed

    bytes32 internal _lastBatchHash;

    /// @dev Contributions (pool shares) and defaults. See DefaultFund.
    DefaultFund.State internal _fund;
    /// @dev account => deadline << 128 | amount of its last margin call.
    mapping(uint32 account => uint256 packed) internal _marginCalls;

    /// @dev The guardian's last pause, [since, until) (until is moved to the unpause time), and Σ of the
    /// pauses before it: the pause clock, total paused seconds, is Σ + the part of [since, until) passed.
    uint64 internal _pausedSince;
    uint64 internal _pausedUntil;
    uint64 internal _pausedTotal;

    /// @dev account => its pending withdrawal ids (at most MAX_PENDING_WITHDRAWALS), so a DECLARE can bring
    /// them back into the waterfall in bounded gas.
    mapping(uint32 account => uint256[]) internal _pendingIds;

    /// @dev asset => its outflow budget for instant releases: budget | used this period | period (see
    /// VaultBase.OUTFLOW_PERIOD), and a budget governance set, in force from period `from`.
    mapping(uint16 asset => Outflow) internal _outflow;
    /// @dev account => its forced-exit request (0: none): since when it is unserved and the pause clock then,
    /// when a `forceWindDown` armed it and the pause clock then, whether a withdrawal of it was vetoed
    /// (EXIT_VETOED; layout above).
    mapping(uint32 account => uint256) internal _exitRequests;
    mapping(uint16 asset => NextBudget) internal _nextOutflowBudget;

    /// @dev Loosening rules (see VaultBase.LOOSENING, docs/contracts.md "Trust model"): how long a decrease of
    /// a member's IM/MM or of a haircut waits before margin checks use it (0: at once), and how far above the
    /// start-of-period mark a collateral's price may be posted within one period (bps; 0: no band).
    uint64 internal _looseningDelay;
    uint16 internal _markBandBps;
    /// @dev account => until << 224 | im << 112 | mm: the requirement in force before the last decrease, which
    /// margin checks keep using (the higher of it and the posted one) until `until`.
    mapping(uint32 account => uint256 packed) internal _requirementFloors;
    /// @dev asset => the reference of the mark band: the last non-zero price at the start of the period.
    MarkAnchor[MAX_ASSETS] internal _markAnchors;

    /// @dev After the wind-down the default fund's estate (every balance of account 2: its cash, collateral the
    /// waterfall or a debt seizure put there, later recoveries) goes to the pool's shares pro rata. Per asset:
    /// what the estate has paid out (debt netting included); per (account << 16 | asset): what a member has
    /// claimed.
    uint256[MAX_ASSETS] internal _estateOut;
    mapping(uint256 key => uint256) internal _estateClaimed;

    /// @dev account => when its IM of 0 took (or takes) force: the time of the row that brought the IM in force
    /// to 0, plus the loosening delay then (0: it never had an IM), or the CLOSE of its last default if later
    /// (in default it could withdraw nothing). An exit request counts as served once the member has had IM 0
    /// in force, out of default, for a withdrawal delay; a later rise of its IM restarts the exit's clock.
    mapping(uint32 account => uint64) internal _imZeroAt;
    /// @dev account => the terms of its forced exit, beside `_exitRequests` (issue 11, fourth review, findings
    /// 6 and 9): the escape period in force when the request was made or its clock last restarted (the exit is
    /// timed by it, so a later setEscapePeriod never re-times a waiting exit), and whether a withdrawal of it
    /// was ever vetoed (only the first veto may restart a served exit's clock).
    mapping(uint32 account => ExitTerms) internal _exitTerms;

    /// @dev A debit of `debit` beyond the balance at key `k` = (`account`, `asset`) first brings back the
    /// account's pending withdrawals of `asset` (whole requests, newest first in `_pendingIds`,
    /// WithdrawalRecalled each; settlement cash so returned repays its debt first) until the balance covers
    /// it, so a request made (or relayed) between the signing and the inclusion of a batch cannot make that
    /// batch's debit revert or turn into an advance (issue 11, finding 7). Only then does the caller's debit
    /// draw an advance or revert InsufficientBalance as before. One function for every row that debits a
    /// member: transfer rows (Vault), contribution and ASSESS rows (VaultDefaults). An approval of a request
    /// so recalled, later in the batch, is skipped (RowAdjusted): it is no longer pending.
    function _recallFor(uint32 account, uint16 asset, uint256 k, uint256 debit) internal {
        uint256[] storage ids = _pendingIds[account];
        uint256 i = ids.length;
        while (i != 0 && debit > (_ledger[k] & Ledger.MASK128)) {
            --i;
            uint256 id = ids[i];
            IVault.Withdrawal storage w = _withdrawals[id];
            if (w.asset != asset) continue;
            w.status = RECALLED;
            uint128 amount = w.amount;
            ids[i] = ids[ids.length - 1];
            ids.pop();
            if (asset == Ledger.SETTLEMENT_ASSET) _ledger.credit(account, asset, amount);
            else _ledger.add(account, asset, amount);
            emit IVault.WithdrawalRecalled(id);
        }
    }

    /// @dev Total seconds paused up to now. Delays (withdrawals, the escape period) are measured on the
    /// wall clock less this, so paused time never counts toward them.
    function _pauseClock() internal view returns (uint64 clock) {
        clock = _pausedTotal;
        uint64 since = _pausedSince;
        if (since != 0) {
            uint64 until = _pausedUntil;
            uint64 nowTs = _now();
            clock += (nowTs < until ? nowTs : until) - since;
        }
    }

    /// @dev The (IM, MM) margin checks use: the posted one, or while its last decrease waits the loosening delay
    /// the higher of it and the one in force before (per component).
    function _requirementInForce(uint32 account) internal view returns (uint256 im, uint256 mm) {
        uint256 posted = _requirements[account];
        (im, mm) = (posted >> 112, posted & MASK112);
        uint256 floor = _requirementFloors[account];
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (block.timestamp < floor >> 224) {
            uint256 fim = (floor >> 112) & MASK112;
            uint256 fmm = floor & MASK112;
            if (fim > im) im = fim;
            if (fmm > mm) mm = fmm;
        }
    }

    /// @dev Whether `account`'s exit request counts as served: IM 0 in force and no open default for at least a
    /// withdrawal delay (what it asked to withdraw when the 0 took force, or at its default's CLOSE, has become
    /// executable; a member that never had an IM counts as served since its admission). Otherwise a quorum
    /// could CLOSE a default and raise the IM in the next batch to restart the exit's clock (and the once-only
    /// DECLARE restart with it) while the member never had a withdrawal delay out of default.
    function _servedForDelay(uint32 account) internal view returns (bool) {
        (uint256 inForce,) = _requirementInForce(account);
        return inForce == 0 && uint256(_imZeroAt[account]) + _withdrawalDelay <= _now()
            && !DefaultFund.isOpen(_fund, account);
    }

    function _now() internal view returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint64(block.timestamp); // 64-bit seconds last for 584 billion years
    }

    struct ExitTerms {
        uint64 period;
        bool vetoSeen;
    }

    /// @dev Start (or restart) `account`'s exit clock now, at the escape period in force now.
    function _startExitClock(uint32 account) internal {
        _exitRequests[account] = (uint256(_now()) << 64) | _pauseClock();
        _exitTerms[account].period = _escapePeriod;
    }

    struct MarkAnchor {
        uint128 price;
        uint32 period;
    }

    struct Outflow {
        uint112 budget;
        uint112 used;
        uint32 period;
    }

    struct NextBudget {
        uint112 budget;
        uint32 from;
        bool set;
    }
}
