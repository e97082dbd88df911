// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IVault} from "./interfaces/IVault.sol";
import {Batch} from "./libraries/Batch.sol";
import {Ledger} from "./libraries/Ledger.sol";
import {Margin} from "./libraries/Margin.sol";
import {Signatures} from "./libraries/Signatures.sol";
import {DefaultFund} from "./libraries/DefaultFund.sol";
import {VaultStorage} from "./VaultStorage.sol";
import {VaultDefaults} from "./VaultDefaults.sol";
import {WithdrawalRequests} from "./libraries/WithdrawalRequests.sol";

/// @title Vault
/// @notice crossclear's collateral vault. It holds every member's collateral, applies the risk engine's
/// signed zero-sum settlement batches, checks withdrawals against the last posted marks and margin
/// requirements by itself, and winds down on its own if batches stop.
/// @dev Entry points only; the arithmetic lives in libraries: Ledger (balances, debt and the liquidity
/// advance), Margin (valuation), Signatures (k-of-n risk signers), Batch and WithdrawalRequests (EIP-712),
/// DefaultFund (contributions as pool shares, defaults) and Waterfall (the draws of a COVER, layer by layer).
contract Vault is
    VaultStorage,
    IVault,
    EIP712("crossclear Vault", "1"),
    AccessControl,
    Pausable,
    ReentrancyGuardTransient
{
    using SafeERC20 for IERC20;
    using Ledger for mapping(uint256 => uint256);

    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    uint8 internal constant MAX_DECIMALS = 36;
    uint64 internal constant MAX_DELAY = 365 days;

    uint8 internal constant PENDING = 1;
    uint8 internal constant EXECUTED = 2;
    uint8 internal constant CANCELLED = 3;

    /// @dev Bits [207..128] of a transfer row and [223..128] of a mark row must be zero (literals, for assembly).
    uint256 internal constant TRANSFER_RESERVED = 0x0000000000000000ffffffffffffffffffff00000000000000000000000000000000;
    uint256 internal constant MASK128 = 0xffffffffffffffffffffffffffffffff; // == Ledger.MASK128
    uint256 internal constant MARK_RESERVED = 0x00000000ffffffffffffffffffffffff00000000000000000000000000000000;

    /// @dev Storage lives in VaultStorage (first base, so VaultDefaults shares the layout); the default
    /// management rows run in the VaultDefaults module by delegatecall, which keeps this contract under the
    /// EIP-170 size limit.
    address internal immutable _defaults;

    // ------------------------------------------------------------------ construction

    /// @param settlementToken Asset 0: the USD stablecoin in which cash moves; marked at 1.
    /// @param governor Governance (a TimelockController); also the role admin.
    /// @param guardian May pause deposits and settlement.
    /// @param operator May admit members.
    /// @param signers_ The risk signers.
    /// @param threshold_ How many of them must sign a batch.
    /// @param withdrawalDelay_ Delay between a withdrawal request and its execution.
    /// @param escapePeriod_ How long without a batch opens the escape hatch.
    constructor(
        IERC20 settlementToken,
        address governor,
        address guardian,
        address operator,
        address[] memory signers_,
        uint8 threshold_,
        uint64 withdrawalDelay_,
        uint64 escapePeriod_
    ) {
        if (governor == address(0) || guardian == address(0) || operator == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, governor);
        _grantRole(GOVERNOR_ROLE, governor);
        _grantRole(GUARDIAN_ROLE, guardian);
        _grantRole(OPERATOR_ROLE, operator);

        _setSigners(signers_, threshold_);
        _setWithdrawalDelay(withdrawalDelay_);
        _setEscapePeriod(escapePeriod_);

        uint8 decimals = _listAsset(settlementToken);
        // forge-lint: disable-next-line(unsafe-typecast)
        _marks[0].price = uint128(10 ** decimals); // decimals <= 36, and 10**38 < 2**128
        _accountCount = Ledger.OPERATOR_CAPITAL; // system accounts 1..3 exist from the start
        _lastSettledAt = _now();
        _defaults = address(new VaultDefaults());
    }

    // ------------------------------------------------------------------ members and assets

    /// @inheritdoc IVault
    function admitMember(address member) external onlyRole(OPERATOR_ROLE) returns (uint32 account) {
        if (member == address(0)) revert ZeroAddress();
        if (_accountOf[member] != 0) revert AlreadyMember(member);
        account = ++_accountCount;
        _accountOf[member] = account;
        _memberOf[account] = member;
        emit MemberAdmitted(member, account);
    }

    /// @inheritdoc IVault
    function listAsset(IERC20 token) external onlyRole(GOVERNOR_ROLE) returns (uint16 asset) {
        asset = _assetCount;
        _listAsset(token);
    }

    // ------------------------------------------------------------------ deposits and withdrawals

    /// @inheritdoc IVault
    /// @dev Measures the vault's balance before and after the pull, so fee-on-transfer and other tokens
    /// that deliver less than asked are refused rather than over-credited.
    function deposit(address member, uint16 asset, uint256 amount) external whenNotPaused nonReentrant {
        _requireNotWoundDown();
        uint32 account = _requireMember(member);
        IERC20 token = _token(asset);
        if (amount == 0) revert ZeroAmount();
        if (amount > Ledger.MASK128) revert AmountTooLarge(amount);

        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 afterwards = token.balanceOf(address(this));
        uint256 received = afterwards > before ? afterwards - before : 0;
        if (received != amount) revert TransferAmountMismatch(amount, received);

        _ledger.credit(account, asset, amount);
        _totalOwed[asset] += amount;
        emit Deposited(account, asset, msg.sender, amount);
    }

    /// @inheritdoc IVault
    function requestWithdrawal(uint16 asset, uint128 amount, address to) external nonReentrant returns (uint256) {
        return _requestWithdrawal(_requireMember(msg.sender), asset, amount, to);
    }

    /// @inheritdoc IVault
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

    /// @inheritdoc IVault
    /// @dev Not blocked by a pause. After wind-down the delay and the margin check no longer apply, but a
    /// member with debt first gives up what of the withdrawal covers it, as in `windDownWithdraw`.
    function executeWithdrawal(uint256 id) external nonReentrant {
        Withdrawal storage w = _pendingWithdrawal(id);
        (uint32 account, uint16 asset, uint128 amount, address to) = (w.account, w.asset, w.amount, w.to);
        uint256 payout = amount;
        if (!_woundDown) {
            uint64 readyAt = w.readyAt;
            // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
            if (readyAt > block.timestamp) revert WithdrawalNotReady(id, readyAt);
            if (DefaultFund.isOpen(_fund, account)) revert MemberInDefault(account);
            _requireMargin(account);
        } else {
            uint256 seized = _seizeForDebt(account, asset, amount);
            payout -= seized;
            if (seized != 0) emit WindDownWithdrawal(account, asset, to, payout, seized);
        }
        w.status = EXECUTED;
        _totalOwed[asset] -= payout;
        emit WithdrawalExecuted(id);
        if (payout != 0) _tokens[asset].safeTransfer(to, payout);
    }

    /// @inheritdoc IVault
    function cancelWithdrawal(uint256 id) external nonReentrant {
        Withdrawal storage w = _pendingWithdrawal(id);
        if (_memberOf[w.account] != msg.sender) revert NotWithdrawalOwner(id, msg.sender);
        w.status = CANCELLED;
        _ledger.credit(w.account, w.asset, w.amount); // settlement asset repays an advance first
        emit WithdrawalCancelled(id);
    }

    // ------------------------------------------------------------------ settlement

    /// @inheritdoc IVault
    /// @dev The recipe: check the header (sequence, hash chain, time), check the risk signers, post marks and
    /// requirements, apply the zero-sum transfers, contributions, margin calls and default actions, release
    /// co-signed withdrawals, record the batch.
    function settle(Batch.Data calldata batch, SignerSignature[] calldata signatures)
        external
        whenNotPaused
        nonReentrant
    {
        _requireNotWoundDown();
        bytes32 digest = _checkHeader(batch);
        Signatures.verify(digest, signatures, _isSigner, _threshold);
        _applyMarks(batch.marks);
        _applyRequirements(batch.requirements);
        bool fundPaid = _applyTransfers(batch.transfers);
        if (
            fundPaid || batch.contributions.length != 0 || batch.marginCalls.length != 0
                || batch.defaultActions.length != 0
        ) {
            _delegate(
                abi.encodeCall(
                    VaultDefaults.applyRows, (batch.contributions, batch.marginCalls, batch.defaultActions, fundPaid)
                )
            );
        }
        _approveWithdrawals(batch.approvedWithdrawals);
        _recordBatch(batch, digest);
    }

    // ------------------------------------------------------------------ escape hatch

    /// @inheritdoc IVault
    function triggerWindDown() external {
        _requireNotWoundDown();
        uint64 opensAt = _lastSettledAt + _escapePeriod;
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (block.timestamp < opensAt) revert EscapeHatchNotOpen(opensAt);
        _woundDown = true;
        emit WindDownTriggered(_lastSequence, _lastSettledAt);
    }

    /// @inheritdoc IVault
    /// @dev A member with debt withdrawing a collateral asset first gives up ceil(debt * 10**decimals / price)
    /// of it (at most its balance; all of it at a zero price) to the default fund, and its debt falls by the
    /// floor value of what was seized. Settlement-asset balances repay debt one for one. For the settlement
    /// asset the member's default-fund contribution value is paid too: it first nets any debt left, the
    /// rest comes out of the default fund's cash (as far as that cash goes).
    function windDownWithdraw(uint16 asset, address to) external nonReentrant {
        _requireWoundDown();
        uint32 account = _requireMember(msg.sender);
        _token(asset);
        if (to == address(0)) revert ZeroAddress();

        uint256 seized = _seizeForDebt(account, asset, _ledger.balanceOf(account, asset));
        uint256 payout = _drain(account, asset, seized);
        if (asset == Ledger.SETTLEMENT_ASSET && DefaultFund.valueOf(_fund, account) != 0) {
            payout += abi.decode(_delegate(abi.encodeCall(VaultDefaults.payContribution, (account))), (uint256));
        }
        emit WindDownWithdrawal(account, asset, to, payout, seized);
        if (payout != 0) _tokens[asset].safeTransfer(to, payout);
    }

    /// @inheritdoc IVault
    function windDownWithdrawSystem(uint32 account, uint16 asset, address to)
        external
        onlyRole(GOVERNOR_ROLE)
        nonReentrant
    {
        _requireWoundDown();
        if (account == 0 || account >= Ledger.FIRST_MEMBER) revert UnknownAccount(account);
        _token(asset);
        if (to == address(0)) revert ZeroAddress();
        uint256 payout;
        if (account == Ledger.DEFAULT_FUND && asset == Ledger.SETTLEMENT_ASSET) {
            // the members' contributions stay for them (windDownWithdraw pays them); the excess goes
            payout = abi.decode(_delegate(abi.encodeCall(VaultDefaults.releaseFundCash, ())), (uint256));
        } else {
            payout = _drain(account, asset, 0);
        }
        emit WindDownWithdrawal(account, asset, to, payout, 0);
        if (payout != 0) _tokens[asset].safeTransfer(to, payout);
    }

    // ------------------------------------------------------------------ governance and guardian

    /// @inheritdoc IVault
    function setSigners(address[] calldata signers_, uint8 threshold_) external onlyRole(GOVERNOR_ROLE) {
        _setSigners(signers_, threshold_);
    }

    /// @inheritdoc IVault
    function setWithdrawalDelay(uint64 delay) external onlyRole(GOVERNOR_ROLE) {
        _setWithdrawalDelay(delay);
    }

    /// @inheritdoc IVault
    function setEscapePeriod(uint64 period) external onlyRole(GOVERNOR_ROLE) {
        _setEscapePeriod(period);
    }

    /// @inheritdoc IVault
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @inheritdoc IVault
    function unpause() external onlyRole(GOVERNOR_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IVault
    function batchDigest(Batch.Data calldata batch) external view returns (bytes32) {
        return _hashTypedDataV4(Batch.structHash(batch));
    }

    /// @inheritdoc IVault
    function withdrawalRequestDigest(WithdrawalRequest calldata req) external view returns (bytes32) {
        return _hashTypedDataV4(WithdrawalRequests.structHash(req));
    }

    /// @inheritdoc IVault
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IVault
    function balanceOf(uint32 account, uint16 asset) external view returns (uint256) {
        return _ledger.balanceOf(account, asset);
    }

    /// @inheritdoc IVault
    function debtOf(uint32 account) external view returns (uint256) {
        return _ledger.debtOf(account);
    }

    /// @inheritdoc IVault
    function requirementOf(uint32 account) external view returns (uint112 im, uint112 mm) {
        uint256 packed = _requirements[account];
        // forge-lint: disable-next-line(unsafe-typecast)
        (im, mm) = (uint112(packed >> 112), uint112(packed)); // packed < 2**224
    }

    /// @inheritdoc IVault
    function markOf(uint16 asset) external view returns (uint128 price, uint16 haircutBps) {
        Margin.Mark memory m = _mark(asset);
        return (m.price, m.haircutBps);
    }

    /// @inheritdoc IVault
    function freeCollateral(uint32 account) external view returns (int256) {
        return _freeCollateral(account);
    }

    /// @inheritdoc IVault
    function accountOf(address member) external view returns (uint32) {
        return _accountOf[member];
    }

    /// @inheritdoc IVault
    function memberOf(uint32 account) external view returns (address) {
        return _memberOf[account];
    }

    /// @inheritdoc IVault
    function accountCount() external view returns (uint32) {
        return _accountCount;
    }

    /// @inheritdoc IVault
    function assetCount() external view returns (uint16) {
        return _assetCount;
    }

    /// @inheritdoc IVault
    function assetToken(uint16 asset) external view returns (IERC20) {
        return _token(asset);
    }

    /// @inheritdoc IVault
    function totalOwed(uint16 asset) external view returns (uint256) {
        return _totalOwed[asset];
    }

    /// @inheritdoc IVault
    function withdrawal(uint256 id) external view returns (Withdrawal memory) {
        return _withdrawals[id];
    }

    /// @inheritdoc IVault
    function withdrawalNonce(address member) external view returns (uint256) {
        return _nonces[member];
    }

    /// @inheritdoc IVault
    function lastSequence() external view returns (uint64) {
        return _lastSequence;
    }

    /// @inheritdoc IVault
    function lastBatchHash() external view returns (bytes32) {
        return _lastBatchHash;
    }

    /// @inheritdoc IVault
    function lastAsOf() external view returns (uint64) {
        return _lastAsOf;
    }

    /// @inheritdoc IVault
    function lastSettledAt() external view returns (uint64) {
        return _lastSettledAt;
    }

    /// @inheritdoc IVault
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @inheritdoc IVault
    function threshold() external view returns (uint8) {
        return _threshold;
    }

    /// @inheritdoc IVault
    function isSigner(address signer) external view returns (bool) {
        return _isSigner[signer];
    }

    /// @inheritdoc IVault
    function withdrawalDelay() external view returns (uint64) {
        return _withdrawalDelay;
    }

    /// @inheritdoc IVault
    function escapePeriod() external view returns (uint64) {
        return _escapePeriod;
    }

    /// @inheritdoc IVault
    function woundDown() external view returns (bool) {
        return _woundDown;
    }

    /// @inheritdoc IVault
    function contributionOf(uint32 account) external view returns (uint256) {
        return DefaultFund.valueOf(_fund, account);
    }

    /// @inheritdoc IVault
    function defaultFundPool() external view returns (uint256 value, uint256 shares) {
        return (_fund.value, _fund.shares);
    }

    /// @inheritdoc IVault
    function inDefault(uint32 account) external view returns (bool) {
        return DefaultFund.isOpen(_fund, account);
    }

    /// @inheritdoc IVault
    function defaulted(uint32 account) external view returns (bool) {
        return _fund.defaults[account].defaulted;
    }

    /// @inheritdoc IVault
    function openDefaults() external view returns (uint256) {
        return _fund.open;
    }

    /// @inheritdoc IVault
    function marginCallOf(uint32 account) external view returns (uint128 amount, uint64 deadline) {
        uint256 packed = _marginCalls[account];
        // forge-lint: disable-next-line(unsafe-typecast)
        (amount, deadline) = (uint128(packed), uint64(packed >> 128)); // packed < 2**192
    }

    /// @inheritdoc IVault
    function operatorCapital() external view returns (uint256) {
        return _ledger.balanceOf(Ledger.OPERATOR_CAPITAL, Ledger.SETTLEMENT_ASSET);
    }

    // ------------------------------------------------------------------ settlement steps

    /// @dev sequence = last + 1, prevHash = last digest, lastAsOf <= asOf <= now; returns the batch digest.
    function _checkHeader(Batch.Data calldata batch) private view returns (bytes32) {
        uint64 expected = _lastSequence + 1;
        if (batch.sequence != expected) revert BadSequence(expected, batch.sequence);
        bytes32 prev = _lastBatchHash;
        if (batch.prevHash != prev) revert BadPrevHash(prev, batch.prevHash);
        uint64 last = _lastAsOf;
        if (batch.asOf < last) revert StaleAsOf(last, batch.asOf);
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (batch.asOf > block.timestamp) revert FutureAsOf(_now(), batch.asOf);
        return _hashTypedDataV4(Batch.structHash(batch));
    }

    /// @dev Mark row: asset [255..240] | haircut bps [239..224] | zero [223..128] | price [127..0].
    function _applyMarks(bytes32[] calldata marks) private {
        uint256 assets = _assetCount;
        for (uint256 i; i < marks.length; ++i) {
            (uint16 asset, uint16 haircutBps, uint128 price) = Batch.unpackMark(marks[i]);
            if (uint256(marks[i]) & MARK_RESERVED != 0) revert MalformedRow(marks[i]);
            if (asset >= assets) revert UnknownAsset(asset);
            if (haircutBps > Margin.BPS) revert InvalidHaircut(asset, haircutBps);
            Margin.Mark storage m = _marks[asset];
            (m.price, m.haircutBps) = (price, haircutBps);
        }
    }

    /// @dev Requirement row: account [255..224] | im [223..112] | mm [111..0]; members only, mm <= im.
    function _applyRequirements(bytes32[] calldata requirements) private {
        uint256 accounts = _accountCount;
        for (uint256 i; i < requirements.length; ++i) {
            (uint32 account, uint112 im, uint112 mm) = Batch.unpackRequirement(requirements[i]);
            if (account < Ledger.FIRST_MEMBER || account > accounts || mm > im) {
                revert InvalidRequirement(account, im, mm);
            }
            _requirements[account] = (uint256(im) << 112) | mm;
        }
    }

    /// @dev Transfer row: account [255..224] | asset [223..208] | zero [207..128] | amount int128 [127..0].
    /// Rows apply in order. The common row (a valid credit to a word without debt, or a debit the balance
    /// covers) is applied by the assembly loop in `_applySimpleTransfers`; it stops at the first other row,
    /// which `_applyTransfer` handles (or rejects) in plain Solidity, and the loop resumes after it.
    /// Per-asset sums accumulate in MAX_ASSETS memory words and must all be zero at the end.
    /// Returns whether the rows paid out of the default fund's cash on net: Σ of its own rows < 0, which is
    /// its cash change plus the change of the members' debt (advances and repayments move cash and debt
    /// together, and only rows `_applyTransfer` handles change a debt; the word after the sums adds them up).
    function _applyTransfers(bytes32[] calldata rows) private returns (bool fundPaid) {
        uint256 accounts = _accountCount;
        uint256 assets = _assetCount;
        uint256 cash = _ledger[Ledger.DEFAULT_FUND_CASH];
        uint256 sums; // memory: int256[MAX_ASSETS], then int256 Σ debt change
        assembly ("memory-safe") {
            sums := mload(0x40)
            // Zero the accumulators (memory past the free pointer may hold scratch from hashing).
            calldatacopy(sums, calldatasize(), mul(add(MAX_ASSETS, 1), 0x20))
            mstore(0x40, add(sums, mul(add(MAX_ASSETS, 1), 0x20)))
        }
        uint256 n = rows.length;
        for (uint256 i = _applySimpleTransfers(rows, 0, accounts, assets, sums); i < n;) {
            _applyTransfer(rows[i], accounts, assets, sums);
            i = _applySimpleTransfers(rows, i + 1, accounts, assets, sums);
        }
        for (uint256 a; a < assets; ++a) {
            int256 sum;
            assembly ("memory-safe") {
                sum := mload(add(sums, shl(5, a)))
            }
            // forge-lint: disable-next-line(unsafe-typecast)
            if (sum != 0) revert NonZeroSum(uint16(a), sum); // a < MAX_ASSETS
        }
        int256 debtChange;
        assembly ("memory-safe") {
            debtChange := mload(add(sums, mul(MAX_ASSETS, 0x20)))
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        fundPaid = int256(_ledger[Ledger.DEFAULT_FUND_CASH]) + debtChange < int256(cash); // all < 2**128
    }

    /// @dev The hot loop. One cold SLOAD plus one SSTORE (5,000 gas) per row is the floor, so the rest is
    /// kept to a few dozen gas: no bounds or cleanup code, the key is the row's top 48 bits, the amount is
    /// sign-extended in place. Applies rows from `i` while they are simple and returns the index of the first
    /// row that is not (or rows.length). A row is simple when it is well-formed and either
    ///  - a credit to a word with no debt half whose balance stays below 2**128, or
    ///  - a debit of at most the balance.
    /// Anything else (a malformed row, a credit that repays an advance or overflows, a debit that needs an
    /// advance or must fail) is left to `_applyTransfer`, so every rejection is raised in Solidity.
    function _applySimpleTransfers(bytes32[] calldata rows, uint256 i, uint256 accounts, uint256 assets, uint256 sums)
        private
        returns (uint256)
    {
        assembly ("memory-safe") {
            let end := add(rows.offset, shl(5, rows.length))
            let ptr := add(rows.offset, shl(5, i))
            for {} lt(ptr, end) { ptr := add(ptr, 0x20) } {
                let row := calldataload(ptr)
                let key := shr(208, row) // account << 16 | asset: the ledger key
                let asset := and(key, 0xffff)
                // Well-formed: 1 <= account <= accounts (account - 1 wraps for 0), asset < assets, reserved zero.
                if or(
                    iszero(lt(sub(shr(16, key), 1), accounts)),
                    or(iszero(lt(asset, assets)), and(row, TRANSFER_RESERVED))
                ) { break }
                // slot = keccak256(key . _ledger.slot), as Solidity lays out mapping(uint256 => uint256).
                mstore(0x00, key)
                mstore(0x20, _ledger.slot)
                let slot := keccak256(0x00, 0x40)
                let word := sload(slot)
                let amount := signextend(15, row) // int128 in the low 16 bytes
                let next
                switch slt(amount, 0)
                case 0 {
                    // Credit: a word with a debt half is >= 2**128, and so is an overflowing balance.
                    if gt(word, MASK128) { break }
                    next := add(word, amount)
                    if gt(next, MASK128) { break }
                }
                default {
                    // Debit: at most the balance (low half); the debt half is untouched.
                    let debit := sub(0, amount)
                    if gt(debit, and(word, MASK128)) { break }
                    next := sub(word, debit)
                }
                sstore(slot, next)
                // sums[asset] += amount: each term is below 2**127 in magnitude, so no overflow.
                let p := add(sums, shl(5, asset))
                mstore(p, add(mload(p), amount))
            }
            i := shr(5, sub(ptr, rows.offset))
        }
        return i;
    }

    /// @dev One row the fast loop left: validate it, then credit (repaying an advance first) or debit
    /// (drawing an advance for a member's settlement cash, else InsufficientBalance).
    function _applyTransfer(bytes32 row, uint256 accounts, uint256 assets, uint256 sums) private {
        (uint32 account, uint16 asset, int128 amount) = Batch.unpackTransfer(row);
        if (account == 0 || account > accounts || asset >= assets || uint256(row) & TRANSFER_RESERVED != 0) {
            revert MalformedRow(row);
        }
        // Widen in Solidity first: inline assembly may see dirty high bits in a uint16 or int128.
        (uint256 index, int256 value) = (asset, amount);
        assembly ("memory-safe") {
            let p := add(sums, shl(5, index))
            mstore(p, add(mload(p), value))
        }
        uint256 k = Ledger.key(account, asset);
        uint256 debt = _ledger[k] >> 128;
        if (amount >= 0) {
            // forge-lint: disable-next-line(unsafe-typecast)
            _ledger.credit(account, asset, uint256(int256(amount))); // non-negative
        } else {
            // forge-lint: disable-next-line(unsafe-typecast)
            _ledger.debit(account, asset, uint256(-int256(amount)), true); // -amount <= 2**127
        }
        // Σ debt change (advances less repayments), in the word after the sums: each term < 2**128
        // forge-lint: disable-next-line(unsafe-typecast)
        int256 change = int256(_ledger[k] >> 128) - int256(debt);
        if (change != 0) {
            assembly ("memory-safe") {
                let p := add(sums, mul(MAX_ASSETS, 0x20))
                mstore(p, add(mload(p), change))
            }
        }
    }

    /// @dev Each id must be a pending withdrawal; it becomes executable now (the margin check still runs).
    function _approveWithdrawals(uint256[] calldata ids) private {
        for (uint256 i; i < ids.length; ++i) {
            uint256 id = ids[i];
            _pendingWithdrawal(id).readyAt = _now();
            emit WithdrawalApproved(id);
        }
    }

    function _recordBatch(Batch.Data calldata batch, bytes32 digest) private {
        (_lastSequence, _lastAsOf, _lastSettledAt) = (batch.sequence, batch.asOf, _now());
        _lastBatchHash = digest;
        emit BatchSettled(batch.sequence, digest, batch.fillsRoot, batch.asOf, batch.transfers.length);
    }

    // ------------------------------------------------------------------ withdrawal helpers

    function _requestWithdrawal(uint32 account, uint16 asset, uint128 amount, address to)
        private
        returns (uint256 id)
    {
        _requireNotWoundDown();
        _token(asset);
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        if (DefaultFund.isOpen(_fund, account)) revert MemberInDefault(account);
        _ledger.debit(account, asset, amount, false); // InsufficientBalance, never an advance
        _requireMargin(account);

        id = ++_withdrawalCount;
        uint64 readyAt = _now() + _withdrawalDelay;
        _withdrawals[id] = Withdrawal(account, asset, amount, to, readyAt, PENDING);
        emit WithdrawalRequested(id, account, asset, amount, to, readyAt);
    }

    function _pendingWithdrawal(uint256 id) private view returns (Withdrawal storage w) {
        w = _withdrawals[id];
        uint8 status = w.status;
        if (status == 0) revert WithdrawalNotFound(id);
        if (status != PENDING) revert WithdrawalNotPending(id);
    }

    function _requireMargin(uint32 account) private view {
        int256 free = _freeCollateral(account);
        if (free < 0) revert InsufficientMargin(account, free);
    }

    /// @dev Σ haircut value of every balance − debt − initial margin, at the last posted marks.
    function _freeCollateral(uint32 account) private view returns (int256) {
        uint256 value;
        uint256 assets = _assetCount;
        for (uint256 a; a < assets; ++a) {
            uint256 balance = _ledger.balanceOf(account, a);
            if (balance != 0) value += Margin.haircutValue(balance, _marks[a]);
        }
        return Margin.freeCollateral(value, _ledger.debtOf(account), _requirements[account] >> 112);
    }

    /// @dev Zero a balance (keeping any debt half), of which `kept` already went elsewhere; returns the
    /// payout and takes it off what the vault owes.
    function _drain(uint256 account, uint16 asset, uint256 kept) private returns (uint256 payout) {
        uint256 k = Ledger.key(account, asset);
        uint256 word = _ledger[k];
        payout = (word & Ledger.MASK128) - kept;
        _ledger[k] = word & ~Ledger.MASK128;
        _totalOwed[asset] -= payout;
    }

    /// @dev After wind-down: the part of `amount` of `asset` leaving `account` that its debt takes (VaultDefaults).
    function _seizeForDebt(uint32 account, uint16 asset, uint256 amount) private returns (uint256) {
        if (_ledger.debtOf(account) == 0) return 0;
        return abi.decode(_delegate(abi.encodeCall(VaultDefaults.seizeForDebt, (account, asset, amount))), (uint256));
    }

    /// @dev Run `data` in the VaultDefaults module on this contract's storage; bubble up its revert.
    function _delegate(bytes memory data) private returns (bytes memory ret) {
        bool ok;
        (ok, ret) = _defaults.delegatecall(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    // ------------------------------------------------------------------ configuration helpers

    function _listAsset(IERC20 token) private returns (uint8 decimals) {
        if (address(token) == address(0)) revert ZeroAddress();
        if (_listed[address(token)]) revert AssetAlreadyListed(address(token));
        uint16 asset = _assetCount;
        if (asset >= MAX_ASSETS) revert TooManyAssets();
        decimals = IERC20Metadata(address(token)).decimals();
        if (decimals > MAX_DECIMALS) revert UnsupportedDecimals(decimals);
        _listed[address(token)] = true;
        _tokens[asset] = token;
        _marks[asset] = Margin.Mark({price: 0, haircutBps: 0, decimals: decimals});
        _assetCount = asset + 1;
        emit AssetListed(asset, address(token), decimals);
    }

    function _setSigners(address[] memory signers_, uint8 threshold_) private {
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

    function _setWithdrawalDelay(uint64 delay) private {
        if (delay > MAX_DELAY) revert InvalidDelay(delay);
        _withdrawalDelay = delay;
        emit WithdrawalDelayUpdated(delay);
    }

    function _setEscapePeriod(uint64 period) private {
        if (period == 0 || period > MAX_DELAY) revert InvalidDelay(period);
        _escapePeriod = period;
        emit EscapePeriodUpdated(period);
    }

    // ------------------------------------------------------------------ small checks

    function _requireMember(address member) private view returns (uint32 account) {
        account = _accountOf[member];
        if (account == 0) revert NotMember(member);
    }

    function _token(uint16 asset) private view returns (IERC20) {
        if (asset >= _assetCount) revert UnknownAsset(asset);
        return _tokens[asset];
    }

    function _mark(uint16 asset) private view returns (Margin.Mark memory) {
        if (asset >= _assetCount) revert UnknownAsset(asset);
        return _marks[asset];
    }

    function _requireNotWoundDown() private view {
        if (_woundDown) revert WoundDown();
    }

    function _requireWoundDown() private view {
        if (!_woundDown) revert NotWoundDown();
    }

    function _now() private view returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint64(block.timestamp); // 64-bit seconds last for 584 billion years
    }
}
