// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IVault} from "./interfaces/IVault.sol";
import {VaultStorage} from "./VaultStorage.sol";
import {Batch} from "./libraries/Batch.sol";
import {Ledger} from "./libraries/Ledger.sol";
import {Margin} from "./libraries/Margin.sol";
import {DefaultFund} from "./libraries/DefaultFund.sol";
import {Waterfall} from "./libraries/Waterfall.sol";

/// @title VaultDefaults
/// @notice The vault's default management: contribution, margin-call and default-action rows of a batch, and
/// the wind-down payout of a contribution. Deployed by the Vault's constructor and run only by delegatecall
/// from it, on the vault's storage (VaultStorage gives both the same layout); its events are the vault's.
/// @dev A module rather than more vault code: the vault would otherwise exceed the EIP-170 size limit.
contract VaultDefaults is VaultStorage {
    using Ledger for mapping(uint256 => uint256);
    using SafeERC20 for IERC20;

    /// @dev Reserved bits of a contribution row [223..128], a margin-call row [159..128], a default-action row [215..128].
    uint256 internal constant CONTRIBUTION_RESERVED = 0x00000000ffffffffffffffffffffffff00000000000000000000000000000000;
    uint256 internal constant MARGIN_CALL_RESERVED = 0x00000000000000000000000000ffffffff00000000000000000000000000000000;
    uint256 internal constant ACTION_RESERVED = 0x0000000000ffffffffffffffffffffff00000000000000000000000000000000;

    address private immutable _self = address(this);

    error OnlyDelegated();

    /// @dev Called directly (not by the vault's delegatecall) it would only touch the module's own, unused
    /// storage; refused anyway.
    modifier onlyDelegated() {
        if (address(this) == _self) revert OnlyDelegated();
        _;
    }

    /// @notice Apply a batch's contribution, margin-call and default-action rows, in that order (the vault
    /// calls it inside `settle`, after the transfers and before the approved withdrawals); then, if the
    /// transfer rows paid out of the default fund's cash, check that the pool is still backed.
    /// @param contributions Packed contribution rows.
    /// @param marginCalls Packed margin-call rows.
    /// @param defaultActions Packed default-action rows.
    /// @param fundPaid Whether the batch's transfer rows paid out of the default fund's cash on net.
    function applyRows(
        bytes32[] calldata contributions,
        bytes32[] calldata marginCalls,
        bytes32[] calldata defaultActions,
        bool fundPaid
    ) external onlyDelegated {
        if (contributions.length != 0) _applyContributions(contributions);
        if (marginCalls.length != 0) _applyMarginCalls(marginCalls);
        if (defaultActions.length != 0) _applyDefaultActions(defaultActions);
        if (fundPaid) _requireBacked();
    }

    /// @dev The default fund's cash plus the advances owed by members not in an open default must cover the
    /// pool's value. Checked only after a batch whose transfer rows paid out of the fund's cash on net (no
    /// other row lowers that sum except a DECLARE or an advance to a member in default, which are the
    /// waterfall's to cover), and at the end of the batch, so a payout cannot hide behind a DECLARE in the
    /// same batch. Collateral seized into the fund does not count until it is sold for cash (its price
    /// moves); a defaulter's advance does not count (it is what the waterfall is covering). O(1) in the
    /// member count: Σ debt is a running total (Ledger.DEBT_TOTAL), less the debts of the open defaults
    /// (at most MAX_OPEN_DEFAULTS), and only computed when the cash alone falls short.
    function _requireBacked() private view {
        uint256 cash = _ledger[Ledger.DEFAULT_FUND_CASH];
        uint256 value = _fund.value;
        if (cash >= value) return;
        uint256 advances = _ledger[Ledger.DEBT_TOTAL];
        uint32[] storage open = _fund.openAccounts;
        for (uint256 i; i < open.length; ++i) {
            advances -= _ledger.debtOf(open[i]);
        }
        if (cash + advances < value) revert IVault.PoolUnderfunded(cash, advances, value);
    }

    /// @dev After wind-down: of `amount` of `asset` leaving `account`, give up to the default fund what covers
    /// its debt (cash one for one; collateral at its last mark, rounded up, all of it at a zero price); the
    /// debt falls by what that covers. Returns the quantity seized (the caller takes it out of what it pays).
    /// @notice After wind-down: of `amount` of `asset` leaving `account`, what its debt takes (the vault calls
    /// it for wind-down withdrawals and executions).
    /// @param account The member.
    /// @param asset The asset leaving.
    /// @param amount The quantity leaving.
    /// @return seized The quantity given up to the default fund.
    function seizeForDebt(uint32 account, uint16 asset, uint256 amount) external onlyDelegated returns (uint256 seized) {
        return _seizeForDebt(account, asset, amount);
    }

    /// @notice After wind-down, anyone (IVaultExtension.seizeCollateralForDebt, run here for the extension's
    /// code size): what covers `account`'s debt of its `asset` balance goes to the default fund's estate.
    /// @param account The debtor.
    /// @param asset The asset seized.
    function seizeCollateralForDebt(uint32 account, uint16 asset) external onlyDelegated {
        _requireWoundDownAsset(asset);
        _seizeBalanceForDebt(account, asset);
    }

    function _seizeBalanceForDebt(uint32 account, uint16 asset) private {
        uint256 seized = _seizeForDebt(account, asset, _ledger.balanceOf(account, asset));
        if (seized == 0) return;
        _ledger[Ledger.key(account, asset)] -= seized; // <= its balance (the low half)
        emit IVault.DebtCollateralSeized(account, asset, seized);
    }

    /// @notice After wind-down, anyone (IVaultExtension.netEstateForDebt): net `account`'s part of the default
    /// fund's estate in `asset` against its debt, as its own `windDownWithdraw` would. What exceeds the debt
    /// moves to its balance (its `windDownWithdraw` pays it). The netted part stays in the estate, where the
    /// other shares claim their part of it: a debtor that never claims no longer locks its part from them.
    /// @param account The debtor.
    /// @param asset The asset of the estate netted.
    function netEstateForDebt(uint32 account, uint16 asset) external onlyDelegated {
        _requireWoundDownAsset(asset);
        _netEstate(account, asset);
    }

    function _netEstate(uint32 account, uint16 asset) private {
        if (_ledger.debtOf(account) == 0 || DefaultFund.sharesOf(_fund, account) == 0) return;
        uint256 rest = _claimEstate(account, asset); // taken off what the vault owes: owed again, as a balance
        if (rest != 0) {
            _ledger.add(account, asset, rest); // the debt is covered whole when something is left
            _totalOwed[asset] += rest;
        }
    }

    /// @notice After wind-down, anyone (IVaultExtension.closeDefaultAfterWindDown): close `account`'s open
    /// default by the waterfall's own order, since no batch (no COVER, no CLOSE) lands any more and an open
    /// default would keep operator capital (layer 3) in the vault for good (DefaultsOpen). What the defaulter
    /// still owes is covered by, in order: (1) its own balances, every asset in asset order, exactly as
    /// `seizeCollateralForDebt` (cash one for one, collateral at its last mark, rounded up; DebtCollateralSeized);
    /// (2) its contribution, which at the wind-down is its part of the estate: netted per asset exactly as
    /// `netEstateForDebt` (EstateClaimed); (3) operator capital's cash, up to the debt left, into the default
    /// fund's cash, i.e. the estate (WaterfallDraw layer 3). What is still owed then stays the defaulter's debt:
    /// a loss of the estate (the pool's shares, layer 4), which every later recovery of it (a seizure, a netting
    /// of its estate part) still reduces. The default closes (DefaultClosed), and operator capital's rest is
    /// payable by `windDownWithdrawSystem`. Layer 5 (assessments) needs batches: none after the wind-down.
    /// @param account The member in default.
    function closeDefaultAfterWindDown(uint32 account) external onlyDelegated {
        if (!_woundDown) revert IVault.NotWoundDown();
        if (!DefaultFund.isOpen(_fund, account)) revert IVault.NotInDefault(account);
        uint256 assets = _assetCount;
        for (uint256 a; a < assets; ++a) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _seizeBalanceForDebt(account, uint16(a)); // a < MAX_ASSETS
        }
        for (uint256 a; a < assets; ++a) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _netEstate(account, uint16(a)); // a < MAX_ASSETS
        }
        uint256 paid = Math.min(_ledger.debtOf(account), _ledger.balanceOf(Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET));
        if (paid != 0) {
            _ledger.debit(Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET, paid, false);
            _ledger.add(Ledger.DEFAULT_FUND, Ledger.SETTLEMENT_ASSET, paid);
            _ledger.reduceDebt(account, paid);
            emit IVault.WaterfallDraw(
                account, Waterfall.L3_OPERATOR, Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET, paid, paid
            );
        }
        DefaultFund.close(_fund, account);
        emit IVault.DefaultClosed(account);
    }

    /// @notice A guardian veto of an exiting member's withdrawal (VaultExtension.vetoWithdrawal, run here for the
    /// extension's code size): the exit is unserved until a withdrawal of the member executes; served for a
    /// withdrawal delay before, its clock restarts at the first veto only (ExitRequested again).
    /// @param account The exiting member (an open request, not vetoed yet: checked by the caller).
    function markExitVetoed(uint32 account) external onlyDelegated {
        uint256 r = _exitRequests[account];
        ExitTerms storage t = _exitTerms[account];
        if (!t.vetoSeen && _servedForDelay(account)) {
            _startExitClock(account);
            r = _exitRequests[account];
            emit IVault.ExitRequested(account); // its clock starts now
        }
        t.vetoSeen = true;
        _exitRequests[account] = r | EXIT_VETOED;
    }

    /// @notice The forced exit (IVaultExtension.forceWindDown), run here for the extension's code size. The
    /// clock runs from when the exit became unserved (the request, restarted by Vault._restartServedExit, by
    /// the first veto of a served member or once by a DECLARE); the first overdue call arms it
    /// (`WindDownArmed`), a call one WIND_DOWN_GRACE of unpaused time later opens the wind-down if the exit is
    /// still unserved, and a call later than WIND_DOWN_WINDOW (unpaused) after that clears the request
    /// (`ExitLapsed`) instead. Refused while paused: the guardian can hold it while batches already signed (a
    /// loss, a COVER/ASSESS) land.
    /// @param account The exiting member.
    function forceWindDown(uint32 account) external onlyDelegated {
        if (_woundDown) revert IVault.WoundDown();
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale pauses
        if (block.timestamp < _pausedUntil) revert Pausable.EnforcedPause();
        uint256 r = _exitRequests[account];
        if (r == 0) revert IVault.NoExitRequest(account);
        // Served by the IM in force, not the one posted: a posted 0 that a loosening floor keeps above 0 has not
        // freed the member. A vetoed withdrawal is unserved whatever the IM: the veto cannot hold it in. So is an
        // open default (issue 11, fourth review, finding 4): the member can neither request nor execute a
        // withdrawal, so a DECLARE never CLOSEd would otherwise hold it in for ever.
        (uint256 im,) = _requirementInForce(account);
        // served: IM 0 in force, no veto since the last execution, not in an open default (round 4, finding 4),
        // and no contribution held unless a default locks it (round 4, finding 5)
        if (
            im == 0 && r & EXIT_VETOED == 0 && !DefaultFund.isOpen(_fund, account)
                && (DefaultFund.valueOf(_fund, account) == 0 || _fund.open != 0)
        ) {
            revert IVault.ExitServed(account);
        }
        uint64 clock = _pauseClock();
        // forge-lint: disable-next-line(unsafe-typecast)
        uint64 opensAt = uint64(r >> 64) + _exitTerms[account].period + (clock - uint64(r)); // period at start
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (block.timestamp < opensAt) revert IVault.ExitNotOverdue(account, opensAt);
        uint64 nowTs = _now();
        // forge-lint: disable-next-line(unsafe-typecast)
        uint64 armedAt = uint64((r & EXIT_ARMED) >> 192); // 62 bits
        if (armedAt == 0) {
            _exitRequests[account] = r | (uint256(nowTs) << 192) | (uint256(clock) << 128);
            emit IVault.WindDownArmed(account, nowTs + WIND_DOWN_GRACE);
            return;
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        uint64 windsAt = armedAt + WIND_DOWN_GRACE + (clock - uint64(r >> 128));
        if (nowTs < windsAt) revert IVault.ExitNotOverdue(account, windsAt);
        // Not a standing option (finding 2): an armed exit left unused for WIND_DOWN_WINDOW of unpaused time
        // after it became due lapses, so a quorum compromised later cannot pair its batch with an old arming.
        // Returns, not reverts, so the clearing sticks; the member asks again and waits the whole period.
        if (nowTs >= windsAt + WIND_DOWN_WINDOW) {
            delete _exitRequests[account];
            emit IVault.ExitLapsed(account);
            return;
        }
        _woundDown = true;
        emit IVault.WindDownTriggered(_lastSequence, _lastSettledAt);
    }

    /// @notice After wind-down, pay out a system account (IVaultExtension.windDownWithdrawSystem; the extension
    /// checks the governor role, the payout runs here for its code size). The fee account is the operator's:
    /// paid whole. Operator capital too, but it is waterfall layer 3: held while a default is open
    /// (DefaultsOpen), so it is not paid to the operator ahead of the default it stands behind (issue 11, third
    /// review, finding 4; no batch lands after the wind-down, so it then stays in the vault). The default fund's
    /// balances are its estate, which belongs to the pool's shares: refused while any share exists
    /// (ClaimantsRemain).
    /// @param account The system account (1..FIRST_MEMBER - 1).
    /// @param asset The asset paid out.
    /// @param to Recipient of the tokens.
    function windDownWithdrawSystem(uint32 account, uint16 asset, address to) external onlyDelegated {
        if (!_woundDown) revert IVault.NotWoundDown();
        if (account == 0 || account >= Ledger.FIRST_MEMBER) revert IVault.UnknownAccount(account);
        if (asset >= _assetCount) revert IVault.UnknownAsset(asset);
        if (to == address(0)) revert IVault.ZeroAddress();
        if (account == Ledger.DEFAULT_FUND && _fund.shares != 0) revert IVault.ClaimantsRemain(_fund.shares);
        if (account == Ledger.OPERATOR_CAPITAL && _fund.open != 0) revert IVault.DefaultsOpen(_fund.open);
        uint256 k = Ledger.key(account, asset);
        uint256 payout = _ledger[k] & Ledger.MASK128;
        _ledger[k] = 0; // a system account: no debt half
        _totalOwed[asset] -= payout;
        emit IVault.WindDownWithdrawal(account, asset, to, payout, 0);
        if (payout != 0) _tokens[asset].safeTransfer(to, payout);
    }

    function _requireWoundDownAsset(uint16 asset) private view {
        if (!_woundDown) revert IVault.NotWoundDown();
        if (asset >= _assetCount) revert IVault.UnknownAsset(asset);
    }

    function _seizeForDebt(uint32 account, uint16 asset, uint256 amount) private returns (uint256 seized) {
        uint256 debt = _ledger.debtOf(account);
        if (debt == 0) return 0;
        uint256 covered;
        if (asset == Ledger.SETTLEMENT_ASSET) {
            seized = covered = Math.min(debt, amount); // cash repays one for one
        } else {
            (seized, covered) = Margin.seizure(debt, amount, _marks[asset]);
        }
        if (seized != 0) {
            _ledger.reduceDebt(account, covered);
            _ledger.add(Ledger.DEFAULT_FUND, asset, seized);
        }
    }

    /// @notice After wind-down: pay `account` its pro-rata part of the default fund's estate in `asset` (every
    /// balance of account 2 of that asset, later recoveries included; `estateClaimOf`). Its debt takes its part
    /// first (cash one for one, collateral at its last mark), which stays in the estate as a recovery for all.
    /// Entitlements round down, so the estate never owes more than it holds; the rounding (less than one base
    /// unit per claimant) stays in it.
    /// @param account The member.
    /// @param asset The asset claimed.
    /// @return payout What leaves the vault to the member.
    function claimEstate(uint32 account, uint16 asset) external onlyDelegated returns (uint256 payout) {
        return _claimEstate(account, asset);
    }

    function _claimEstate(uint32 account, uint16 asset) private returns (uint256 payout) {
        uint256 balance = _ledger.balanceOf(Ledger.DEFAULT_FUND, asset);
        uint256 ck = Ledger.key(account, asset);
        uint256 claimed = _estateClaimed[ck];
        uint256 due = DefaultFund.estateDue(_fund, account, balance + _estateOut[asset], claimed);
        if (due == 0) return 0;
        _estateOut[asset] += due;
        _estateClaimed[ck] = claimed + due;
        uint256 kept;
        uint256 debt = _ledger.debtOf(account);
        if (debt != 0) {
            uint256 covered;
            if (asset == Ledger.SETTLEMENT_ASSET) {
                kept = covered = Math.min(debt, due);
            } else {
                (kept, covered) = Margin.seizure(debt, due, _marks[asset]);
            }
            _ledger.reduceDebt(account, covered);
        }
        payout = due - kept;
        _ledger[Ledger.key(Ledger.DEFAULT_FUND, asset)] -= payout; // account 2 holds no debt: the low half
        _totalOwed[asset] -= payout;
        emit IVault.EstateClaimed(account, asset, due, kept);
    }

    /// @dev Contribution row: account [255..224] | zero [223..128] | amount int128 [127..0], members only,
    /// amount != 0. A positive amount moves the member's cash (no advance; beyond its cash, its pending cash
    /// withdrawals are recalled first, `_recallFor`) into its contribution; a negative
    /// one returns contribution value to its cash, never while a default is open.
    function _applyContributions(bytes32[] calldata rows) private {
        uint256 accounts = _accountCount;
        for (uint256 i; i < rows.length; ++i) {
            bytes32 row = rows[i];
            (uint32 account, int128 amount) = Batch.unpackContribution(row);
            if (!_isMemberAccount(account, accounts) || amount == 0 || uint256(row) & CONTRIBUTION_RESERVED != 0) {
                revert IVault.MalformedRow(row);
            }
            uint256 value;
            if (amount > 0) {
                // forge-lint: disable-next-line(unsafe-typecast)
                uint256 a = uint256(int256(amount)); // positive
                // A request made between signing and inclusion cannot dodge the contribution: its pending
                // withdrawals of cash come back first, as for a transfer debit (finding 7's rule).
                _recallFor(account, Ledger.SETTLEMENT_ASSET, Ledger.key(account, Ledger.SETTLEMENT_ASSET), a);
                _ledger.debit(account, Ledger.SETTLEMENT_ASSET, a, false);
                _ledger.add(Ledger.DEFAULT_FUND, Ledger.SETTLEMENT_ASSET, a);
                value = DefaultFund.contribute(_fund, account, a);
            } else {
                if (_fund.open != 0) revert IVault.ContributionLocked();
                // forge-lint: disable-next-line(unsafe-typecast)
                uint256 a = uint256(-int256(amount)); // <= 2**127
                value = DefaultFund.remove(_fund, account, a);
                _ledger.debit(Ledger.DEFAULT_FUND, Ledger.SETTLEMENT_ASSET, a, false);
                _ledger.credit(account, Ledger.SETTLEMENT_ASSET, a); // repays an advance first
            }
            emit IVault.ContributionChanged(account, amount, value);
        }
    }

    /// @dev Margin-call row: account [255..224] | deadline uint64 [223..160] | zero [159..128] | amount [127..0];
    /// members only. Stored (amount 0 clears) and published; no balance effect.
    function _applyMarginCalls(bytes32[] calldata rows) private {
        uint256 accounts = _accountCount;
        for (uint256 i; i < rows.length; ++i) {
            bytes32 row = rows[i];
            (uint32 account, uint64 deadline, uint128 amount) = Batch.unpackMarginCall(row);
            if (!_isMemberAccount(account, accounts) || uint256(row) & MARGIN_CALL_RESERVED != 0) {
                revert IVault.MalformedRow(row);
            }
            _marginCalls[account] = (uint256(deadline) << 128) | amount;
            emit IVault.MarginCalled(account, amount, deadline);
        }
    }

    /// @dev Default-action row: account [255..224] | action uint8 [223..216] | zero [215..128] | amount [127..0],
    /// members only, applied in row order:
    ///  - DECLARE (amount 0): opens a default on the account;
    ///  - COVER (amount > 0): the waterfall covers min(amount, debt) of its debt from layers 1-4 (Waterfall;
    ///    a lesser amount, or a skip at debt 0, is reported by RowAdjusted); whatever is left must be covered
    ///    by the ASSESS rows that follow, before the next COVER or the end of the batch, else
    ///    `Uncovered(remaining)`;
    ///  - CLOSE (amount 0, debt 0): closes the default;
    ///  - ASSESS (amount > 0): layer 5 for the last COVER, min(amount, what it left uncovered) (RowAdjusted
    ///    when less), only once the pool (layer 4) is empty; beyond the member's cash its pending cash
    ///    withdrawals are recalled first (`_recallFor`), the rest becomes its debt.
    function _applyDefaultActions(bytes32[] calldata rows) private {
        uint256 accounts = _accountCount;
        uint256 remaining; // of the last COVER, still to be assessed
        uint32 defaulter; // of the last COVER
        for (uint256 i; i < rows.length; ++i) {
            bytes32 row = rows[i];
            (uint32 account, uint8 action, uint128 amount) = Batch.unpackDefaultAction(row);
            if (!_isMemberAccount(account, accounts) || uint256(row) & ACTION_RESERVED != 0) revert IVault.MalformedRow(row);
            if (action == Batch.DECLARE) {
                if (amount != 0) revert IVault.MalformedRow(row);
                DefaultFund.declare(_fund, account);
                emit IVault.DefaultDeclared(account);
                _restartExitAtDeclare(account);
                _recallPending(account);
            } else if (action == Batch.COVER) {
                if (amount == 0) revert IVault.MalformedRow(row);
                if (remaining != 0) revert IVault.Uncovered(remaining);
                if (!DefaultFund.isOpen(_fund, account)) revert IVault.NotInDefault(account);
                defaulter = account;
                // A deposit for the defaulter since signing repaid part of its debt: cover what is left.
                uint256 debt = _ledger.debtOf(account);
                if (amount > debt) {
                    emit IVault.RowAdjusted(Batch.ROWS_DEFAULT_ACTIONS, i, row, debt);
                    if (debt == 0) continue;
                    amount = uint128(debt); // < amount
                }
                remaining = Waterfall.cover(_ledger, _marks, _assetCount, _fund, account, amount);
            } else if (action == Batch.CLOSE) {
                if (amount != 0) revert IVault.MalformedRow(row);
                if (!DefaultFund.isOpen(_fund, account)) revert IVault.NotInDefault(account);
                uint256 debt = _ledger.debtOf(account);
                if (debt != 0) revert IVault.DebtOutstanding(account, debt);
                DefaultFund.close(_fund, account);
                emit IVault.DefaultClosed(account);
                _servedFromClose(account);
            } else if (action == Batch.ASSESS) {
                if (amount == 0) revert IVault.MalformedRow(row);
                // Layers 1-4 covered more than planned (collateral deposited for the defaulter since signing):
                // assess only what is left.
                if (amount > remaining) {
                    emit IVault.RowAdjusted(Batch.ROWS_DEFAULT_ACTIONS, i, row, remaining);
                    if (remaining == 0) continue;
                    amount = uint128(remaining); // < amount
                }
                if (_fund.value != 0) revert IVault.LayerNotExhausted(Waterfall.L4_POOL);
                // Its pending withdrawals of cash come back first, as for a transfer debit (finding 7's rule);
                // only what they and its cash do not cover becomes its debt.
                _recallFor(account, Ledger.SETTLEMENT_ASSET, Ledger.key(account, Ledger.SETTLEMENT_ASSET), amount);
                Waterfall.assess(_ledger, _fund, defaulter, account, amount);
                remaining -= amount;
            } else {
                revert IVault.MalformedRow(row);
            }
        }
        if (remaining != 0) revert IVault.Uncovered(remaining);
    }

    /// @dev A DECLARE makes an exit unserved (forceWindDown) and restarts the clock of an open, unarmed exit
    /// request to the DECLARE's time (`ExitRequested` again), once per request (EXIT_DECLARED): a real
    /// defaulter that asked to leave cannot open the wind-down before the engine has had an escape period to
    /// close it out, and a compromised quorum cycling DECLARE/CLOSE holds an exit at most 2·E + the grace
    /// (a raise restarts it only after a withdrawal delay served out of default: VaultStorage._servedForDelay).
    /// An armed exit keeps its arming: restarting it would add a grace to that bound, and the grace already
    /// lets a signed COVER/ASSESS land first. A veto flag stays.
    function _restartExitAtDeclare(uint32 account) private {
        uint256 r = _exitRequests[account];
        if (r == 0 || r & (EXIT_DECLARED | EXIT_ARMED) != 0) return;
        _startExitClock(account); // at the escape period in force now, like any restart
        _exitRequests[account] |= (r & EXIT_VETOED) | EXIT_DECLARED;
        emit IVault.ExitRequested(account); // its clock starts again now
    }

    /// @dev A CLOSE starts the member's served time afresh (VaultStorage._servedForDelay): in default it could
    /// withdraw nothing, whatever its IM.
    function _servedFromClose(uint32 account) private {
        uint64 nowTs = _now();
        if (_imZeroAt[account] < nowTs) _imZeroAt[account] = nowTs;
    }

    /// @dev A DECLARE brings the defaulter's pending withdrawals back to its balance, into the waterfall
    /// (they used to leave after the CLOSE): at most MAX_PENDING_WITHDRAWALS of them. Collateral returns to
    /// its balance; the settlement cash is credited once, in total, repaying its debt first.
    function _recallPending(uint32 account) private {
        uint256[] storage ids = _pendingIds[account];
        uint256 cash;
        for (uint256 i; i < ids.length; ++i) {
            uint256 id = ids[i];
            IVault.Withdrawal storage w = _withdrawals[id];
            w.status = RECALLED;
            (uint16 asset, uint128 amount) = (w.asset, w.amount);
            if (asset == Ledger.SETTLEMENT_ASSET) cash += amount;
            else _ledger.add(account, asset, amount);
            emit IVault.WithdrawalRecalled(id);
        }
        delete _pendingIds[account];
        if (cash != 0) _ledger.credit(account, Ledger.SETTLEMENT_ASSET, cash);
    }

    function _isMemberAccount(uint32 account, uint256 accounts) private pure returns (bool) {
        return account >= Ledger.FIRST_MEMBER && account <= accounts;
    }
}
