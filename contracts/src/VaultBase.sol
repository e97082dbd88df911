// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IVault} from "./interfaces/IVault.sol";
import {Ledger} from "./libraries/Ledger.sol";
import {Margin} from "./libraries/Margin.sol";
import {VaultStorage} from "./VaultStorage.sol";

/// @title VaultBase
/// @notice What the Vault and its VaultExtension module share: the storage (VaultStorage, first), the bases
/// in the same order (so AccessControl's roles and Pausable's flag sit at the same slots in both), the role
/// and status constants, and the small checks both use. Only the functions a contract calls are compiled
/// into it, so sharing them costs neither contract size.
/// @dev Storage is declared in VaultStorage only; a base added here must not declare any.
abstract contract VaultBase is
    VaultStorage,
    IVault,
    EIP712("crossclear Vault", "1"),
    AccessControl,
    Pausable,
    ReentrancyGuardTransient
{
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    uint64 internal constant MAX_DELAY = 365 days;
    /// @dev The floor of the withdrawal delay D (issue 11, fourth review, finding 7): the outflow bound
    /// B × (⌈D/P⌉ + 1) assumes the guardian vetoes a colluder's request within D, so D must be a time an
    /// on-call guardian can act in. One hour: the app's default, the page-to-veto time a 24/7 rota can keep.
    uint64 internal constant MIN_WITHDRAWAL_DELAY = 1 hours;
    /// @notice A guardian pause lapses by itself after MAX_PAUSE, and the next can start only PAUSE_COOLDOWN
    /// after the last ended: at most half of any long stretch is paused, so the escape hatch (whose clock
    /// stops during pauses) opens within 2 × escapePeriod + MAX_PAUSE of the last batch, whatever happens.
    uint64 public constant MAX_PAUSE = 7 days;
    uint64 public constant PAUSE_COOLDOWN = 7 days;
    /// @notice Batch approvals (the only way value leaves before a withdrawal's full delay) may release at most
    /// the asset's governed budget per period of this length.
    uint64 public constant OUTFLOW_PERIOD = 1 days;

    uint8 internal constant PENDING = 1;
    uint8 internal constant EXECUTED = 2;
    uint8 internal constant CANCELLED = 3;

    // ------------------------------------------------------------------ configuration

    function _setSigners(address[] memory signers_, uint8 threshold_) internal {
        uint256 n = signers_.length;
        if (threshold_ == 0 || threshold_ > n) revert InvalidThreshold(threshold_, n);
        address[] storage old = _signers;
        for (uint256 i; i < old.length; ++i) {
            _isSigner[old[i]] = false;
        }
        for (uint256 i; i < n; ++i) {
            address s = signers_[i];
            if (s == address(0)) revert ZeroAddress();
            if (_isSigner[s]) revert DuplicateSigner(s);
            _isSigner[s] = true;
        }
        _signers = signers_;
        _threshold = threshold_;
        emit SignersUpdated(signers_, threshold_);
    }

    function _setWithdrawalDelay(uint64 delay) internal {
        if (delay > MAX_DELAY) revert InvalidDelay(delay);
        if (delay < MIN_WITHDRAWAL_DELAY) revert WithdrawalDelayTooShort(delay, MIN_WITHDRAWAL_DELAY);
        _withdrawalDelay = delay;
        emit WithdrawalDelayUpdated(delay);
    }

    function _checkEscapePeriod(uint64 period) internal pure {
        if (period == 0 || period > MAX_DELAY) revert InvalidDelay(period);
    }

    function _setEscapePeriod(uint64 period) internal {
        _checkEscapePeriod(period);
        _escapePeriod = period;
        emit EscapePeriodUpdated(period);
    }

    // ------------------------------------------------------------------ the pause clock
    // (_pauseClock, _requirementInForce and _now sit in VaultStorage, so the VaultDefaults module shares them.)

    /// @notice Whether the guardian's pause is in force: from `pause()` until `unpause()` or MAX_PAUSE later.
    function paused() public view override returns (bool) {
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale pauses
        return block.timestamp < _pausedUntil;
    }

    // ------------------------------------------------------------------ withdrawals and margin

    /// @dev Take `id` off `account`'s pending list (at most MAX_PENDING_WITHDRAWALS long).
    function _dropPending(uint32 account, uint256 id) internal {
        uint256[] storage ids = _pendingIds[account];
        uint256 last = ids.length - 1;
        for (uint256 i; i <= last; ++i) {
            if (ids[i] == id) {
                ids[i] = ids[last];
                break;
            }
        }
        ids.pop();
    }

    function _pendingWithdrawal(uint256 id) internal view returns (Withdrawal storage w) {
        w = _withdrawals[id];
        uint8 status = w.status;
        if (status == 0) revert WithdrawalNotFound(id);
        if (status != PENDING) revert WithdrawalNotPending(id);
    }

    function _requireMargin(uint32 account) internal view {
        int256 free = _freeCollateral(account);
        if (free < 0) revert InsufficientMargin(account, free);
    }

    /// @dev Σ haircut value of every balance − debt − initial margin, at the last posted marks.
    function _freeCollateral(uint32 account) internal view returns (int256) {
        uint256 value;
        uint256 assets = _assetCount;
        for (uint256 a; a < assets; ++a) {
            uint256 balance = Ledger.balanceOf(_ledger, account, a);
            if (balance != 0) value += Margin.haircutValue(balance, Margin.effective(_marks[a]));
        }
        (uint256 im,) = _requirementInForce(account);
        return Margin.freeCollateral(value, Ledger.debtOf(_ledger, account), im);
    }

    // ------------------------------------------------------------------ modules

    /// @dev Run `data` in the module at `module` on this contract's storage; bubble up its revert.
    function _delegate(address module, bytes memory data) internal returns (bytes memory ret) {
        bool ok;
        (ok, ret) = module.delegatecall(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    // ------------------------------------------------------------------ small checks

    function _requireMember(address member) internal view returns (uint32 account) {
        account = _accountOf[member];
        if (account == 0) revert NotMember(member);
    }

    function _token(uint16 asset) internal view returns (IERC20) {
        if (asset >= _assetCount) revert UnknownAsset(asset);
        return _tokens[asset];
    }

    function _requireNotWoundDown() internal view {
        if (_woundDown) revert WoundDown();
    }

    function _requireWoundDown() internal view {
        if (!_woundDown) revert NotWoundDown();
    }
}
