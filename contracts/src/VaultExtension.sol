// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IVaultExtension} from "./interfaces/IVaultExtension.sol";
import {Ledger} from "./libraries/Ledger.sol";
import {Margin} from "./libraries/Margin.sol";
import {DefaultFund} from "./libraries/DefaultFund.sol";
import {WithdrawalRequests} from "./libraries/WithdrawalRequests.sol";
import {VaultBase} from "./VaultBase.sol";
import {VaultDefaults} from "./VaultDefaults.sol";

/// @title VaultExtension
/// @notice The vault's withdrawals, wind-down, governance setters and views. Deployed before the Vault, which
/// takes its address (and through it the VaultDefaults module this constructor deploys); the vault's fallback delegatecalls every selector the Vault does not implement to it, so its
/// functions run on the vault's storage, at the vault's address, with the vault's events (VaultBase gives
/// both the same storage layout and bases).
/// @dev Called directly, it would act on its own storage, which holds no members, assets or tokens: every
/// write then fails its first check (NotMember, WithdrawalNotFound, a missing role), and views read zeros.
contract VaultExtension is VaultBase, IVaultExtension {
    using SafeERC20 for IERC20;
    using Ledger for mapping(uint256 => uint256);

    /// @dev The VaultDefaults module (wind-down payouts of the default fund run there).
    address internal immutable _defaults;

    constructor() {
        _defaults = address(new VaultDefaults());
    }

    /// @notice The VaultDefaults module this extension (and the vault built on it) delegatecalls.
    function defaultsModule() external view returns (address) {
        return _defaults;
    }

    // ------------------------------------------------------------------ withdrawals

    /// @inheritdoc IVaultExtension
    function requestWithdrawal(uint16 asset, uint128 amount, address to) external nonReentrant returns (uint256) {
        return _requestWithdrawal(_requireMember(msg.sender), asset, amount, to);
    }

    /// @inheritdoc IVaultExtension
    function requestWithdrawalBySig(WithdrawalRequest calldata req, bytes calldata signature)
        external
        nonReentrant
        returns (uint256)
    {
        uint32 account = _requireMember(req.member);
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (block.timestamp > req.deadline) revert SignatureExpired(req.deadline);
        uint256 expected = _nonces[req.member];
        if (req.nonce != expected) revert InvalidNonce(expected, req.nonce);
        bytes32 digest = _hashTypedDataV4(WithdrawalRequests.structHash(req));
        if (!SignatureChecker.isValidSignatureNowCalldata(req.member, digest, signature)) {
            revert InvalidMemberSignature(req.member);
        }
        _nonces[req.member] = expected + 1;
        return _requestWithdrawal(account, req.asset, req.amount, req.to);
    }

    /// @inheritdoc IVaultExtension
    /// @dev Not blocked by a pause. After wind-down the delay and the margin check no longer apply, but a
    /// member with debt first gives up what of the withdrawal covers it, as in `windDownWithdraw`.
    function executeWithdrawal(uint256 id) external nonReentrant {
        Withdrawal storage w = _pendingWithdrawal(id);
        (uint32 account, uint16 asset, uint128 amount, address to) = (w.account, w.asset, w.amount, w.to);
        uint256 payout = amount;
        if (!_woundDown) {
            // Paused: nothing leaves; and the time paused since readyAt was set does not count toward it.
            _requireNotPaused();
            uint64 readyAt = w.readyAt + (_pauseClock() - w.pauseClock);
            // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
            if (readyAt > block.timestamp) revert WithdrawalNotReady(id, readyAt);
            if (DefaultFund.isOpen(_fund, account)) revert MemberInDefault(account);
            _requireMargin(account);
            _totalOwed[asset] -= payout;
            // A withdrawal executed after a veto: the member is let out, so the veto no longer unserves its exit
            // (the clock keeps the veto's start; a later veto sets the flag again without restarting it).
            uint256 r = _exitRequests[account];
            if (r & EXIT_VETOED != 0) {
                _exitRequests[account] = r & ~EXIT_VETOED;
                emit ExitVetoCleared(account);
            }
        } else {
            uint256 seized;
            (payout, seized) = _releaseWoundDown(account, asset, amount);
            if (seized != 0) emit WindDownWithdrawal(account, asset, to, payout, seized);
        }
        w.status = EXECUTED;
        _dropPending(account, id);
        emit WithdrawalExecuted(id);
        if (payout != 0) _tokens[asset].safeTransfer(to, payout);
    }

    /// @inheritdoc IVaultExtension
    function cancelWithdrawal(uint256 id) external nonReentrant {
        Withdrawal storage w = _pendingWithdrawal(id);
        if (_memberOf[w.account] != msg.sender) revert NotWithdrawalOwner(id, msg.sender);
        _cancel(w, id);
    }

    /// @inheritdoc IVaultExtension
    /// @dev The check on the risk signers that holds within the delay: value a compromised quorum moved to a
    /// colluder waits the full delay (approvals beyond the outflow budget are skipped), and the guardian, a
    /// party other than the signers, can send it back to the balance. Nothing is lost by a veto (the amount
    /// stays the member's), and the wind-down pays pending amounts whatever the guardian does. A veto of a
    /// member asking to exit counts as unserving its exit for good (issue 11, third review, finding 6): served
    /// for a withdrawal delay before, its clock restarts at the first veto (ExitRequested again); later vetoes
    /// and IM rises change nothing, so vetoes cannot hold it in longer than one escape period and the grace.
    function vetoWithdrawal(uint256 id) external onlyRole(GUARDIAN_ROLE) nonReentrant {
        _requireNotWoundDown();
        Withdrawal storage w = _pendingWithdrawal(id);
        uint32 account = w.account;
        uint256 r = _exitRequests[account];
        if (r != 0 && r & EXIT_VETOED == 0) _delegate(_defaults, abi.encodeCall(VaultDefaults.markExitVetoed, (account)));
        emit WithdrawalVetoed(id);
        _cancel(w, id);
    }

    // ------------------------------------------------------------------ escape hatch

    /// @inheritdoc IVaultExtension
    function requestExit() external {
        _requireNotWoundDown();
        uint32 account = _requireMember(msg.sender);
        if (_exitRequests[account] != 0) return; // the first request's clock keeps running
        _startExitClock(account);
        emit ExitRequested(account);
    }

    /// @inheritdoc IVaultExtension
    function cancelExit() external {
        uint32 account = _requireMember(msg.sender);
        if (_exitRequests[account] == 0) revert NoExitRequest(account);
        delete _exitRequests[account];
        delete _exitTerms[account];
        emit ExitRequestCancelled(account);
    }

    /// @inheritdoc IVaultExtension
    /// @dev The forced exit, like a rollup's forced inclusion: batches that keep landing (empty ones too)
    /// cannot hold a member in. Serving the exit is the signers' own action (closing the member out and
    /// posting IM 0, in force once the loosening delay has passed), so a member cannot grief the wind-down
    /// open: it can only wait; and once served for a withdrawal delay, a rise of its IM restarts the clock
    /// (Vault._restartServedExit), so an old request cannot open the wind-down in the block of a later batch;
    /// an armed exit not used within WIND_DOWN_WINDOW after its grace lapses (`ExitLapsed`), so it is no
    /// standing option either. Runs in VaultDefaults (this contract's code size).
    function forceWindDown(uint32 account) external {
        account; // named for the ABI; the module decodes it from msg.data
        _delegate(_defaults, msg.data);
    }

    /// @inheritdoc IVaultExtension
    /// @dev The escape period counts only unpaused time since the last batch, at the period in force then.
    function triggerWindDown() external {
        _requireNotWoundDown();
        uint64 opensAt = _escapeOpensAt();
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (block.timestamp < opensAt) revert EscapeHatchNotOpen(opensAt);
        _woundDown = true;
        emit WindDownTriggered(_lastSequence, _lastSettledAt);
    }

    /// @inheritdoc IVaultExtension
    /// @dev The member's own balance of `asset`, less what its debt takes of it (seized into the default fund's
    /// estate), plus its pro-rata part of that estate in `asset` (VaultDefaults.claimEstate; its debt left nets
    /// against that first). Callable again: later recoveries raise the estate.
    function windDownWithdraw(uint16 asset, address to) external nonReentrant {
        _requireWoundDown();
        _requireNotPaused(); // the guardian can hold payouts while it checks how the wind-down opened
        uint32 account = _requireMember(msg.sender);
        _token(asset);
        if (to == address(0)) revert ZeroAddress();

        uint256 k = Ledger.key(account, asset);
        uint256 word = _ledger[k];
        _ledger[k] = word & ~Ledger.MASK128; // the balance leaves (the debt half stays)
        (uint256 payout, uint256 seized) = _releaseWoundDown(account, asset, word & Ledger.MASK128);
        if (DefaultFund.sharesOf(_fund, account) != 0) {
            payout += abi.decode(_delegate(_defaults, abi.encodeCall(VaultDefaults.claimEstate, (account, asset))), (uint256));
        }
        emit WindDownWithdrawal(account, asset, to, payout, seized);
        if (payout != 0) _tokens[asset].safeTransfer(to, payout);
    }

    /// @inheritdoc IVaultExtension
    /// @dev Permissionless, so a debtor that never withdraws cannot keep its collateral out of the estate.
    /// Runs in VaultDefaults (this contract's code size).
    function seizeCollateralForDebt(uint32 account, uint16 asset) external nonReentrant {
        (account, asset); // named for the ABI; the module decodes them from msg.data
        _delegate(_defaults, msg.data);
    }

    /// @inheritdoc IVaultExtension
    /// @dev Permissionless, so a debtor that never withdraws cannot keep its part of the estate from the other
    /// shares. Runs in VaultDefaults.
    function netEstateForDebt(uint32 account, uint16 asset) external nonReentrant {
        (account, asset); // named for the ABI; the module decodes them from msg.data
        _delegate(_defaults, msg.data);
    }

    /// @inheritdoc IVaultExtension
    /// @dev Permissionless, so a default left open at the wind-down cannot keep operator capital in the vault.
    /// Runs in VaultDefaults.
    function closeDefaultAfterWindDown(uint32 account) external nonReentrant {
        account; // named for the ABI; the module decodes it from msg.data
        _delegate(_defaults, msg.data);
    }

    /// @inheritdoc IVaultExtension
    /// @dev The role check here; the payout runs in VaultDefaults (this contract's code size).
    function windDownWithdrawSystem(uint32 account, uint16 asset, address to)
        external
        onlyRole(GOVERNOR_ROLE)
        nonReentrant
    {
        (account, asset, to); // named for the ABI; the module decodes them from msg.data
        _delegate(_defaults, msg.data);
    }

    /// @inheritdoc IVaultExtension
    function estateClaimOf(uint32 account, uint16 asset) external view returns (uint256) {
        _token(asset);
        uint256 received = _ledger.balanceOf(Ledger.DEFAULT_FUND, asset) + _estateOut[asset];
        return DefaultFund.estateDue(_fund, account, received, _estateClaimed[Ledger.key(account, asset)]);
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc IVaultExtension
    function setSigners(address[] calldata signers_, uint8 threshold_) external onlyRole(GOVERNOR_ROLE) {
        _setSigners(signers_, threshold_);
    }

    /// @inheritdoc IVaultExtension
    function setWithdrawalDelay(uint64 delay) external onlyRole(GOVERNOR_ROLE) {
        _setWithdrawalDelay(delay);
    }

    /// @inheritdoc IVaultExtension
    /// @dev Never retroactive: the window since the last batch keeps its period; this one starts with the
    /// next batch.
    function setEscapePeriod(uint64 period) external onlyRole(GOVERNOR_ROLE) {
        _checkEscapePeriod(period);
        _nextEscapePeriod = period;
        emit EscapePeriodUpdated(period);
    }

    /// @inheritdoc IVaultExtension
    function totalDebt() external view returns (uint256) {
        return _ledger[Ledger.DEBT_TOTAL];
    }

    /// @inheritdoc IVaultExtension
    function escapeHatchOpensAt() external view returns (uint64) {
        return _escapeOpensAt();
    }

    /// @inheritdoc IVaultExtension
    /// @dev Never retroactive: in force from the next period.
    function setOutflowBudget(uint16 asset, uint112 budget) external onlyRole(GOVERNOR_ROLE) {
        _token(asset);
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 from = uint32(block.timestamp / OUTFLOW_PERIOD) + 1;
        _nextOutflowBudget[asset] = NextBudget(budget, from, true);
        emit OutflowBudgetUpdated(asset, budget, from);
    }

    /// @inheritdoc IVaultExtension
    /// @dev Not retroactive: a decrease already waiting keeps the `until` it was given.
    function setLooseningDelay(uint64 delay) external onlyRole(GOVERNOR_ROLE) {
        if (delay > MAX_DELAY) revert InvalidDelay(delay);
        _looseningDelay = delay;
        emit LooseningDelayUpdated(delay);
    }

    /// @inheritdoc IVaultExtension
    function setMarkBand(uint16 bandBps) external onlyRole(GOVERNOR_ROLE) {
        _markBandBps = bandBps;
        emit MarkBandUpdated(bandBps);
    }

    /// @inheritdoc IVaultExtension
    function loosening() external view returns (uint64 delay, uint16 markBandBps) {
        return (_looseningDelay, _markBandBps);
    }

    /// @inheritdoc IVaultExtension
    function postedRequirementOf(uint32 account) external view returns (uint112 im, uint112 mm) {
        uint256 packed = _requirements[account];
        // forge-lint: disable-next-line(unsafe-typecast)
        (im, mm) = (uint112(packed >> 112), uint112(packed)); // packed < 2**224
    }

    /// @inheritdoc IVaultExtension
    function outflowOf(uint16 asset) external view returns (uint112 budget, uint112 used, uint32 period) {
        Outflow memory o = _outflow[asset];
        return (o.budget, o.used, o.period);
    }

    /// @inheritdoc IVaultExtension
    function nextEscapePeriod() external view returns (uint64) {
        return _nextEscapePeriod;
    }

    /// @inheritdoc IVaultExtension
    function pauseClock() external view returns (uint64) {
        return _pauseClock();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IVaultExtension
    function withdrawalRequestDigest(WithdrawalRequest calldata req) external view returns (bytes32) {
        return _hashTypedDataV4(WithdrawalRequests.structHash(req));
    }

    /// @inheritdoc IVaultExtension
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IVaultExtension
    function balanceOf(uint32 account, uint16 asset) external view returns (uint256) {
        return _ledger.balanceOf(account, asset);
    }

    /// @inheritdoc IVaultExtension
    function debtOf(uint32 account) external view returns (uint256) {
        return _ledger.debtOf(account);
    }

    /// @inheritdoc IVaultExtension
    function requirementOf(uint32 account) external view returns (uint112 im, uint112 mm) {
        (uint256 i, uint256 m) = _requirementInForce(account);
        // forge-lint: disable-next-line(unsafe-typecast)
        (im, mm) = (uint112(i), uint112(m)); // each < 2**112
    }

    /// @inheritdoc IVaultExtension
    function markOf(uint16 asset) external view returns (uint128 price, uint16 haircutBps) {
        Margin.Mark memory m = Margin.effective(_mark(asset));
        return (m.price, m.haircutBps);
    }

    /// @inheritdoc IVaultExtension
    function freeCollateral(uint32 account) external view returns (int256) {
        return _freeCollateral(account);
    }

    /// @inheritdoc IVaultExtension
    function accountOf(address member) external view returns (uint32) {
        return _accountOf[member];
    }

    /// @inheritdoc IVaultExtension
    function memberOf(uint32 account) external view returns (address) {
        return _memberOf[account];
    }

    /// @inheritdoc IVaultExtension
    function accountCount() external view returns (uint32) {
        return _accountCount;
    }

    /// @inheritdoc IVaultExtension
    function assetCount() external view returns (uint16) {
        return _assetCount;
    }

    /// @inheritdoc IVaultExtension
    function assetToken(uint16 asset) external view returns (IERC20) {
        return _token(asset);
    }

    /// @inheritdoc IVaultExtension
    function totalOwed(uint16 asset) external view returns (uint256) {
        return _totalOwed[asset];
    }

    /// @inheritdoc IVaultExtension
    function withdrawal(uint256 id) external view returns (Withdrawal memory) {
        return _withdrawals[id];
    }

    /// @inheritdoc IVaultExtension
    function withdrawalNonce(address member) external view returns (uint256) {
        return _nonces[member];
    }

    /// @inheritdoc IVaultExtension
    function lastSequence() external view returns (uint64) {
        return _lastSequence;
    }

    /// @inheritdoc IVaultExtension
    function lastBatchHash() external view returns (bytes32) {
        return _lastBatchHash;
    }

    /// @inheritdoc IVaultExtension
    function lastAsOf() external view returns (uint64) {
        return _lastAsOf;
    }

    /// @inheritdoc IVaultExtension
    function lastSettledAt() external view returns (uint64) {
        return _lastSettledAt;
    }

    /// @inheritdoc IVaultExtension
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @inheritdoc IVaultExtension
    function threshold() external view returns (uint8) {
        return _threshold;
    }

    /// @inheritdoc IVaultExtension
    function isSigner(address signer) external view returns (bool) {
        return _isSigner[signer];
    }

    /// @inheritdoc IVaultExtension
    function withdrawalDelay() external view returns (uint64) {
        return _withdrawalDelay;
    }

    /// @inheritdoc IVaultExtension
    function escapePeriod() external view returns (uint64) {
        return _escapePeriod;
    }

    /// @inheritdoc IVaultExtension
    function woundDown() external view returns (bool) {
        return _woundDown;
    }

    /// @inheritdoc IVaultExtension
    function contributionOf(uint32 account) external view returns (uint256) {
        return DefaultFund.valueOf(_fund, account);
    }

    /// @inheritdoc IVaultExtension
    function defaultFundPool() external view returns (uint256 value, uint256 shares) {
        return (_fund.value, _fund.shares);
    }

    /// @inheritdoc IVaultExtension
    function inDefault(uint32 account) external view returns (bool) {
        return DefaultFund.isOpen(_fund, account);
    }

    /// @inheritdoc IVaultExtension
    function defaulted(uint32 account) external view returns (bool) {
        return _fund.defaults[account].defaulted;
    }

    /// @inheritdoc IVaultExtension
    function openDefaults() external view returns (uint256) {
        return _fund.open;
    }

    /// @inheritdoc IVaultExtension
    function marginCallOf(uint32 account) external view returns (uint128 amount, uint64 deadline) {
        uint256 packed = _marginCalls[account];
        // forge-lint: disable-next-line(unsafe-typecast)
        (amount, deadline) = (uint128(packed), uint64(packed >> 128)); // packed < 2**192
    }

    /// @inheritdoc IVaultExtension
    function operatorCapital() external view returns (uint256) {
        return _ledger.balanceOf(Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET);
    }

    // ------------------------------------------------------------------ helpers

    function _cancel(Withdrawal storage w, uint256 id) private {
        w.status = CANCELLED;
        _dropPending(w.account, id);
        _ledger.credit(w.account, w.asset, w.amount); // settlement asset repays an advance first
        emit WithdrawalCancelled(id);
    }

    function _requestWithdrawal(uint32 account, uint16 asset, uint128 amount, address to)
        private
        returns (uint256 id)
    {
        _requireNotWoundDown();
        _token(asset);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        if (DefaultFund.isOpen(_fund, account)) revert MemberInDefault(account);
        if (_pendingIds[account].length >= MAX_PENDING_WITHDRAWALS) {
            revert TooManyPendingWithdrawals(account, MAX_PENDING_WITHDRAWALS);
        }
        _ledger.debit(account, asset, amount, false); // InsufficientBalance, never an advance
        _requireMargin(account);

        id = ++_withdrawalCount;
        uint64 readyAt = _now() + _withdrawalDelay;
        _withdrawals[id] = Withdrawal(account, asset, amount, to, readyAt, PENDING, _pauseClock());
        _pendingIds[account].push(id);
        emit WithdrawalRequested(id, account, asset, amount, to, readyAt);
    }

    /// @dev After wind-down, the one path by which a member's value leaves (a pending withdrawal's execution,
    /// its balance in `windDownWithdraw`): of `amount` of `asset`, its debt takes its part into the default
    /// fund's estate first; the rest is the payout, off what the vault owes.
    function _releaseWoundDown(uint32 account, uint16 asset, uint256 amount)
        private
        returns (uint256 payout, uint256 seized)
    {
        seized = _seizeForDebt(account, asset, amount);
        payout = amount - seized;
        _totalOwed[asset] -= payout;
    }

    /// @dev After wind-down: the part of `amount` of `asset` leaving `account` that its debt takes (VaultDefaults).
    function _seizeForDebt(uint32 account, uint16 asset, uint256 amount) private returns (uint256) {
        if (_ledger.debtOf(account) == 0) return 0;
        return abi.decode(_delegate(_defaults, abi.encodeCall(VaultDefaults.seizeForDebt, (account, asset, amount))), (uint256));
    }

    /// @dev lastSettledAt + the period in force then + the time paused since.
    function _escapeOpensAt() private view returns (uint64) {
        return _lastSettledAt + _escapePeriod + (_pauseClock() - _pauseClockAtSettle);
    }

    function _mark(uint16 asset) private view returns (Margin.Mark memory) {
        if (asset >= _assetCount) revert UnknownAsset(asset);
        return _marks[asset];
    }

}
