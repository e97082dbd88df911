// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IVaultMain} from "./interfaces/IVaultMain.sol";
import {Batch} from "./libraries/Batch.sol";
import {Ledger} from "./libraries/Ledger.sol";
import {Margin} from "./libraries/Margin.sol";
import {Signatures} from "./libraries/Signatures.sol";
import {VaultBase} from "./VaultBase.sol";
import {VaultDefaults} from "./VaultDefaults.sol";
import {VaultExtension} from "./VaultExtension.sol";

/// @title Vault
/// @notice crossclear's collateral vault. It holds every member's collateral, applies the risk engine's
/// signed zero-sum settlement batches, checks withdrawals against the last posted marks and margin
/// requirements by itself, and winds down on its own if batches stop.
/// @dev Three deployed contracts share one storage layout (VaultStorage), each well under EIP-170:
///  - Vault (this): settlement and deposits, the hot paths, plus the roles' one-line actions;
///  - VaultExtension (deployed first, passed to the constructor): withdrawals, the wind-down, governance setters and every view; the fallback below
///    delegatecalls every selector this contract does not implement to it (Balancer V3's Vault /
///    VaultExtension split);
///  - VaultDefaults (deployed by the extension's constructor): a batch's default-management rows and the wind-down's default-fund payouts, run by
///    delegatecall from here and from the extension.
/// The arithmetic lives in libraries: Ledger (balances, debt and the liquidity advance), Margin (valuation),
/// Signatures (k-of-n risk signers), Batch and WithdrawalRequests (EIP-712), DefaultFund (contributions as
/// pool shares, defaults) and Waterfall (the draws of a COVER, layer by layer).
contract Vault is VaultBase, IVaultMain {
    using SafeERC20 for IERC20;
    using Ledger for mapping(uint256 => uint256);

    uint8 internal constant MAX_DECIMALS = 36;

    /// @dev Bits [207..128] of a transfer row and [223..128] of a mark row must be zero (literals, for assembly).
    uint256 internal constant TRANSFER_RESERVED = 0x0000000000000000ffffffffffffffffffff00000000000000000000000000000000;
    uint256 internal constant MASK128 = 0xffffffffffffffffffffffffffffffff; // == Ledger.MASK128
    uint256 internal constant MARK_RESERVED = 0x00000000ffffffffffffffffffffffff00000000000000000000000000000000;
    uint256 internal constant APPROVAL_RESERVED = 0xffff << 128; // bits [143..128] of an approval row

    /// @dev The modules; their code runs on this contract's storage. They are deployed in their own
    /// transactions (EIP-3860 caps initcode at 49,152 bytes, and the three together exceed it).
    address internal immutable _defaults;
    address internal immutable _extension;

    // ------------------------------------------------------------------ construction

    /// @param settlementToken Asset 0: the USD stablecoin in which cash moves; marked at 1.
    /// @param governor Governance (a TimelockController); also the role admin.
    /// @param guardian May pause deposits and settlement.
    /// @param operator May admit members.
    /// @param signers_ The risk signers.
    /// @param threshold_ How many of them must sign a batch.
    /// @param withdrawalDelay_ Delay between a withdrawal request and its execution.
    /// @param escapePeriod_ How long without a batch opens the escape hatch.
    /// @param looseningDelay_ How long a decrease of a requirement or a haircut waits (`setLooseningDelay`).
    /// @param markBandBps_ How far a collateral's price may rise per period (`setMarkBand`; 0: no band).
    /// @param extension The VaultExtension module (deployed first; it deploys VaultDefaults): its code must be
    /// the audited one, which anyone can check against the published artefact before depositing.
    constructor(
        IERC20 settlementToken,
        address governor,
        address guardian,
        address operator,
        address[] memory signers_,
        uint8 threshold_,
        uint64 withdrawalDelay_,
        uint64 escapePeriod_,
        uint64 looseningDelay_,
        uint16 markBandBps_,
        VaultExtension extension
    ) {
        if (
            governor == address(0) || guardian == address(0) || operator == address(0)
                || address(extension) == address(0)
        ) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, governor);
        _grantRole(GOVERNOR_ROLE, governor);
        _grantRole(GUARDIAN_ROLE, guardian);
        _grantRole(OPERATOR_ROLE, operator);

        _setSigners(signers_, threshold_);
        _setWithdrawalDelay(withdrawalDelay_);
        _setEscapePeriod(escapePeriod_);
        // The loosening rules are on from the first block: a deployment never starts with a quorum able to free
        // collateral at once (governance may change them later, never retroactively).
        if (looseningDelay_ > MAX_DELAY) revert InvalidDelay(looseningDelay_);
        (_looseningDelay, _markBandBps) = (looseningDelay_, markBandBps_);
        emit LooseningDelayUpdated(looseningDelay_);
        emit MarkBandUpdated(markBandBps_);

        _listAsset(settlementToken, 0, 0); // marked at one whole unit
        _accountCount = Ledger.OPERATOR_CAPITAL; // system accounts 1..3 exist from the start
        _lastSettledAt = _now();
        _extension = address(extension);
        _defaults = extension.defaultsModule();
    }

    /// @notice Every selector the Vault does not implement runs in the VaultExtension module, on the vault's
    /// storage (IVaultExtension lists them).
    fallback() external {
        address extension = _extension;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), extension, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    // ------------------------------------------------------------------ members and assets

    /// @inheritdoc IVaultMain
    function admitMember(address member) external onlyRole(OPERATOR_ROLE) returns (uint32 account) {
        if (member == address(0)) revert ZeroAddress();
        if (_accountOf[member] != 0) revert AlreadyMember(member);
        account = ++_accountCount;
        _accountOf[member] = account;
        _memberOf[account] = member;
        emit MemberAdmitted(member, account);
    }

    /// @inheritdoc IVaultMain
    function listAsset(IERC20 token, uint128 price, uint16 haircutBps)
        external
        onlyRole(GOVERNOR_ROLE)
        returns (uint16 asset)
    {
        asset = _assetCount;
        if (price == 0) revert ListingUnpriced();
        if (haircutBps > Margin.BPS) revert InvalidHaircut(asset, haircutBps);
        _listAsset(token, price, haircutBps);
    }

    // ------------------------------------------------------------------ deposits

    /// @inheritdoc IVaultMain
    /// @dev Measures the vault's balance before and after the pull, so fee-on-transfer and other tokens
    /// that deliver less than asked are refused rather than over-credited.
    /// Allowed while paused: a deposit only adds collateral (a cure of a margin call must stay possible).
    function deposit(address member, uint16 asset, uint256 amount) external nonReentrant {
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

    // ------------------------------------------------------------------ settlement

    /// @inheritdoc IVaultMain
    /// @dev The recipe: check the header (sequence, hash chain, time), check the risk signers, post the
    /// requirements, apply the zero-sum transfers, contributions, margin calls and default actions, post the
    /// marks, release co-signed withdrawals, record the batch.
    function settle(Batch.Data calldata batch, SignerSignature[] calldata signatures)
        external
        whenNotPaused
        nonReentrant
    {
        _requireNotWoundDown();
        bytes32 digest = _checkHeader(batch);
        Signatures.verify(digest, signatures, _isSigner, _threshold);
        if (batch.defaultActions.length != 0) _refuseCapacityMovesBesideCover(batch);
        _applyRequirements(batch.requirements);
        bool fundPaid = _applyTransfers(batch.transfers);
        if (
            fundPaid || batch.contributions.length != 0 || batch.marginCalls.length != 0
                || batch.defaultActions.length != 0
        ) {
            _delegate(
                _defaults,
                abi.encodeCall(
                    VaultDefaults.applyRows, (batch.contributions, batch.marginCalls, batch.defaultActions, fundPaid)
                )
            );
        }
        // After the default rows: a COVER values layer 1 at the marks in force when the batch began, so no mark
        // row (nor a deposit a third party makes between signing and inclusion) moves that capacity.
        _applyMarks(batch.marks);
        _approveWithdrawals(batch.approvedWithdrawals);
        _recordBatch(batch, digest);
    }

    // ------------------------------------------------------------------ guardian and governance

    /// @inheritdoc IVaultMain
    /// @dev Lapses by itself after MAX_PAUSE; a new one only PAUSE_COOLDOWN after the last ended.
    function pause() external onlyRole(GUARDIAN_ROLE) whenNotPaused {
        uint64 since = _pausedSince;
        uint64 nowTs = _now();
        if (since != 0) {
            uint64 until = _pausedUntil;
            if (nowTs < until + PAUSE_COOLDOWN) revert PauseCoolingDown(until + PAUSE_COOLDOWN);
            _pausedTotal += until - since; // fold the last pause into the clock
        }
        (_pausedSince, _pausedUntil) = (nowTs, nowTs + MAX_PAUSE);
        emit Paused(msg.sender);
    }

    /// @inheritdoc IVaultMain
    function unpause() external onlyRole(GOVERNOR_ROLE) whenPaused {
        _pausedUntil = _now();
        emit Unpaused(msg.sender);
    }

    /// @inheritdoc IVaultMain
    function batchDigest(Batch.Data calldata batch) external view returns (bytes32) {
        return _hashTypedDataV4(Batch.structHash(batch));
    }


    // ------------------------------------------------------------------ settlement steps

    /// @dev sequence = last + 1, prevHash = last digest, lastAsOf <= asOf <= now <= validUntil; returns the
    /// batch digest.
    function _checkHeader(Batch.Data calldata batch) private view returns (bytes32) {
        uint64 expected = _lastSequence + 1;
        if (batch.sequence != expected) revert BadSequence(expected, batch.sequence);
        bytes32 prev = _lastBatchHash;
        if (batch.prevHash != prev) revert BadPrevHash(prev, batch.prevHash);
        uint64 last = _lastAsOf;
        if (batch.asOf < last) revert StaleAsOf(last, batch.asOf);
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for day-scale delays
        if (batch.asOf > block.timestamp) revert FutureAsOf(_now(), batch.asOf);
        // forge-lint: disable-next-line(block-timestamp) // second-level skew is harmless for expiry
        if (block.timestamp > batch.validUntil) revert BatchExpired(batch.validUntil, _now());
        return _hashTypedDataV4(Batch.structHash(batch));
    }

    /// @dev The waterfall's capacities are those at the start of the batch. Layer 1 is valued at the marks in
    /// force when the batch began (the batch's mark rows apply after its default rows), so no mark row needs
    /// a rule here, and nothing a third party does between signing and inclusion (a deposit for the
    /// defaulter, a withdrawal request that a DECLARE recalls) can make the batch revert: it only adds to
    /// layer 1. Refused (CapacityMovedBesideCover), judged on the batch's rows alone: beside a DECLARE or a
    /// COVER, any contribution row (a return would take a stake out of layers 2 and 4 before the loss, and
    /// out of the assessment cap stored at the DECLARE; a top-up would have new money pay an old loss);
    /// beside a COVER, a transfer row debiting operator capital (layer 3) or a non-settlement asset of a
    /// COVERed account (layer 1's collateral). Requirement rows move no capacity.
    function _refuseCapacityMovesBesideCover(Batch.Data calldata batch) private pure {
        bytes32[] calldata actions = batch.defaultActions;
        uint256 covers;
        uint256 declares;
        for (uint256 i; i < actions.length; ++i) {
            (, uint8 action,) = Batch.unpackDefaultAction(actions[i]);
            if (action == Batch.COVER) ++covers;
            else if (action == Batch.DECLARE) ++declares;
        }
        if (covers + declares != 0 && batch.contributions.length != 0) {
            revert CapacityMovedBesideCover(batch.contributions[0]);
        }
        if (covers == 0) return;
        bytes32[] calldata rows = batch.transfers;
        for (uint256 i; i < rows.length; ++i) {
            (uint32 account, uint16 asset, int128 amount) = Batch.unpackTransfer(rows[i]);
            if (amount >= 0) continue;
            if (account == Ledger.OPERATOR_CAPITAL) revert CapacityMovedBesideCover(rows[i]);
            if (asset == Ledger.SETTLEMENT_ASSET) continue;
            for (uint256 j; j < actions.length; ++j) {
                (uint32 defaulter, uint8 action,) = Batch.unpackDefaultAction(actions[j]);
                if (action == Batch.COVER && defaulter == account) revert CapacityMovedBesideCover(rows[i]);
            }
        }
    }

    /// @dev Mark row: asset [255..240] | haircut bps [239..224] | zero [223..128] | price [127..0].
    /// Loosening is bounded (the trust model): a price may rise at most the governed band above the asset's
    /// last non-zero price at the start of the period (MarkOutsideBand), and a haircut decrease counts only
    /// after the loosening delay (the haircut in force keeps applying until then). Falls in price and rises
    /// in haircut apply at once: refusing a tightening would overvalue collateral in a crash.
    function _applyMarks(bytes32[] calldata marks) internal {
        uint256 assets = _assetCount;
        for (uint256 i; i < marks.length; ++i) {
            (uint16 asset, uint16 haircutBps, uint128 price) = Batch.unpackMark(marks[i]);
            if (uint256(marks[i]) & MARK_RESERVED != 0) revert MalformedRow(marks[i]);
            if (asset >= assets) revert UnknownAsset(asset);
            if (haircutBps > Margin.BPS) revert InvalidHaircut(asset, haircutBps);
            Margin.Mark memory m = _marks[asset];
            if (asset == Ledger.SETTLEMENT_ASSET && price != 10 ** m.decimals) revert SettlementMarkFixed(price);
            if (_markBandBps != 0) _checkMarkBand(asset, m.price, price);
            if (haircutBps < m.haircutBps) {
                uint64 delay = _looseningDelay;
                if (delay != 0) {
                    // the haircut in force now (the floor of an earlier decrease, if still waiting) holds for
                    // `delay` more
                    uint16 inForce = Margin.effective(m).haircutBps;
                    uint64 until = _now() + delay;
                    (m.haircutFloor, m.floorUntil) = (inForce, until);
                    emit HaircutDecreaseQueued(asset, inForce, until);
                }
            }
            (m.price, m.haircutBps) = (price, haircutBps);
            _marks[asset] = m;
        }
    }

    /// @dev A mark row moving `asset` from `last` to `price` under a band. The period's anchor is the price
    /// before its first mark row, or the earlier anchor if that price is 0; the first anchor is governance's
    /// listing price (never 0), so an anchor is never 0 and the quorum never sets a price unbounded (issue 11,
    /// finding 9; a price posted at 0 and re-priced later is held to the band around the last real price).
    /// A rise above anchor × (1 + band) is refused; a fall never is.
    function _checkMarkBand(uint16 asset, uint128 last, uint128 price) private {
        MarkAnchor memory a = _markAnchors[asset];
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 period = uint32(block.timestamp / OUTFLOW_PERIOD); // lasts 11 million years
        bool moved = a.period != period;
        if (moved) {
            a.period = period;
            if (last != 0) a.price = last;
        }
        if (price > last) {
            uint256 max = uint256(a.price) * (Margin.BPS + _markBandBps) / Margin.BPS; // floor: against the rise
            if (price > max) revert MarkOutsideBand(asset, price, max);
        }
        if (moved) _markAnchors[asset] = a;
    }

    /// @dev Requirement row: account [255..224] | im [223..112] | mm [111..0]; members only, mm <= im.
    /// Increases apply at once; a decrease (of IM or of MM) counts only after the loosening delay: until then
    /// margin checks keep the higher of the posted requirement and the one in force when it was posted.
    function _applyRequirements(bytes32[] calldata requirements) internal {
        uint256 accounts = _accountCount;
        for (uint256 i; i < requirements.length; ++i) {
            (uint32 account, uint112 im, uint112 mm) = Batch.unpackRequirement(requirements[i]);
            if (account < Ledger.FIRST_MEMBER || account > accounts || mm > im) {
                revert InvalidRequirement(account, im, mm);
            }
            uint256 posted = _requirements[account];
            uint256 postedIm = posted >> 112;
            if (im != 0 && postedIm == 0) _restartServedExit(account); // judged on the state before the row
            if (im < postedIm || mm < posted & MASK112) _queueRequirementDecrease(account, im == 0);
            _requirements[account] = (uint256(im) << 112) | mm;
        }
    }

    /// @dev A rise of the IM of a member whose exit request was served (IM 0 in force for at least a withdrawal
    /// delay: what it asked to withdraw then has become executable) restarts the exit's clock: the forced exit
    /// protects a member the signers hold in, and a request served long ago must not let a later batch (a
    /// compromised quorum moving value to it and posting IM 1) open the wind-down in the same block, before
    /// anyone can react. A member the signers never served (IM in force above 0, or 0 for less than the delay)
    /// keeps its clock: rows cycling its IM between 0 and more cannot hold it in.
    /// A vetoed exit (EXIT_VETOED, VaultExtension.vetoWithdrawal) stays unserved whatever its IM: no restart.
    function _restartServedExit(uint32 account) private {
        uint256 r = _exitRequests[account];
        if (r == 0 || r & EXIT_VETOED != 0 || !_servedForDelay(account)) return;
        _startExitClock(account);
        emit ExitRequested(account); // its clock starts again now
    }

    /// @dev `imToZero`: the row posts IM 0; if the IM in force was above 0, record when the 0 takes force.
    function _queueRequirementDecrease(uint32 account, bool imToZero) private {
        uint64 delay = _looseningDelay;
        (uint256 im, uint256 mm) = _requirementInForce(account);
        uint64 until = _now() + delay;
        if (imToZero && im != 0) _imZeroAt[account] = until;
        if (delay == 0) return;
        _requirementFloors[account] = (uint256(until) << 224) | (im << 112) | mm;
        // forge-lint: disable-next-line(unsafe-typecast)
        emit RequirementDecreaseQueued(account, uint112(im), uint112(mm), until); // each < 2**112
    }

    /// @dev Transfer row: account [255..224] | asset [223..208] | zero [207..128] | amount int128 [127..0].
    /// Rows apply in order. The common row (a valid credit to a word without debt, or a debit the balance
    /// covers) is applied by the assembly loop in `_applySimpleTransfers`; it stops at the first other row,
    /// which `_applyTransfer` handles (or rejects) in plain Solidity, and the loop resumes after it.
    /// Per-asset sums accumulate in MAX_ASSETS memory words and must all be zero at the end.
    /// Returns whether the rows paid out of the default fund's cash on net: Σ of its own rows < 0, which is
    /// its cash change plus the change of the members' debt (advances and repayments move cash and debt
    /// together, and only rows `_applyTransfer` handles change a debt; the word after the sums adds them up).
    function _applyTransfers(bytes32[] calldata rows) internal returns (bool fundPaid) {
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
    function _applyTransfer(bytes32 row, uint256 accounts, uint256 assets, uint256 sums) internal {
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
            uint256 debit = uint256(-int256(amount)); // -amount <= 2**127
            if (debit > (_ledger[k] & MASK128) && _pendingIds[account].length != 0) {
                _recallFor(account, asset, k, debit);
            }
            _ledger.debit(account, asset, debit, true);
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

    /// @dev Approval row: id [255..192] | account [191..160] | asset [159..144] | zero [143..128] | amount.
    /// It must name an existing withdrawal with exactly that account, asset and amount (ApprovalMismatch),
    /// which becomes executable now (the margin check still runs at execution). A withdrawal that is no
    /// longer pending (its owner cancelled it, or anyone executed it, after the batch was signed) is skipped
    /// with RowAdjusted rather than failing the batch.
    function _approveWithdrawals(uint256[] calldata rows) private {
        for (uint256 i; i < rows.length; ++i) {
            uint256 row = rows[i];
            if (row & APPROVAL_RESERVED != 0) revert MalformedRow(bytes32(row));
            (uint64 id, uint32 account, uint16 asset, uint128 amount) = Batch.unpackApproval(row);
            Withdrawal storage w = _withdrawals[id];
            uint8 status = w.status;
            if (status == 0) revert WithdrawalNotFound(id);
            if (w.account != account || w.asset != asset || w.amount != amount) revert ApprovalMismatch(id);
            // No longer pending, or beyond the asset's outflow budget for this period: skipped (a pending one
            // keeps its full delay, during which the guardian and governance can react).
            if (status != PENDING || !_spendOutflow(asset, amount)) {
                emit RowAdjusted(Batch.ROWS_APPROVALS, i, bytes32(row), 0);
                continue;
            }
            (w.readyAt, w.pauseClock) = (_now(), _pauseClock());
            emit WithdrawalApproved(id);
        }
    }

    /// @dev Take `amount` of `asset` from this period's outflow budget, if it is there.
    function _spendOutflow(uint16 asset, uint128 amount) internal returns (bool) {
        Outflow memory o = _outflow[asset];
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 period = uint32(block.timestamp / OUTFLOW_PERIOD); // lasts 11 million years
        if (o.period != period) (o.period, o.used) = (period, 0);
        NextBudget memory next = _nextOutflowBudget[asset];
        if (next.set && period >= next.from) {
            o.budget = next.budget;
            delete _nextOutflowBudget[asset];
        }
        bool fits = uint256(o.used) + amount <= o.budget;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (fits) o.used += uint112(amount); // <= budget < 2**112
        _outflow[asset] = o;
        return fits;
    }

    function _recordBatch(Batch.Data calldata batch, bytes32 digest) private {
        (_lastSequence, _lastAsOf, _lastSettledAt) = (batch.sequence, batch.asOf, _now());
        _pauseClockAtSettle = uint48(_pauseClock()); // same slot; 2**48 seconds is 8.9 million years
        uint64 next = _nextEscapePeriod; // same slot as the threshold, already read
        if (next != 0) (_escapePeriod, _nextEscapePeriod) = (next, 0);
        _lastBatchHash = digest;
        emit BatchSettled(batch.sequence, digest, batch.fillsRoot, batch.asOf, batch.transfers.length);
    }

    // ------------------------------------------------------------------ configuration helpers

    /// @dev List `token` with its first mark, which also anchors the mark band for the listing's period (the
    /// settlement asset, listed first: one whole unit, haircut 0).
    function _listAsset(IERC20 token, uint128 price, uint16 haircutBps) private {
        if (address(token) == address(0)) revert ZeroAddress();
        if (_listed[address(token)]) revert AssetAlreadyListed(address(token));
        uint16 asset = _assetCount;
        if (asset >= MAX_ASSETS) revert TooManyAssets();
        uint8 decimals = IERC20Metadata(address(token)).decimals();
        if (decimals > MAX_DECIMALS) revert UnsupportedDecimals(decimals);
        // forge-lint: disable-next-line(unsafe-typecast)
        if (asset == Ledger.SETTLEMENT_ASSET) price = uint128(10 ** decimals); // decimals <= 36: 10**36 < 2**128
        _listed[address(token)] = true;
        _tokens[asset] = token;
        _marks[asset] =
            Margin.Mark({price: price, haircutBps: haircutBps, decimals: decimals, haircutFloor: 0, floorUntil: 0});
        // forge-lint: disable-next-line(unsafe-typecast)
        _markAnchors[asset] = MarkAnchor(price, uint32(block.timestamp / OUTFLOW_PERIOD)); // 11 million years
        _assetCount = asset + 1;
        emit AssetListed(asset, address(token), decimals, price, haircutBps);
    }
}
