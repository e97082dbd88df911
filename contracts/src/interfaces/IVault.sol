// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Batch} from "../libraries/Batch.sol";

/// @title IVault
/// @notice crossclear's collateral vault: its structs, events and custom errors, shared by the vault, its
/// modules, the libraries, the tests and the ABI the Python side loads. The external functions are split as
/// the code is: IVaultMain (the Vault contract: settlement, deposits) and IVaultExtension (the VaultExtension
/// module the vault's fallback delegatecalls: withdrawals, wind-down, governance setters, views);
/// ICrossclearVault is the whole surface a caller sees at the vault's address.
///
/// Accounts are numbered (uint32): 1 = fee account, 2 = default fund, 3 = operator capital, members
/// from 4 in order of admission. Assets are numbered (uint16): 0 = the settlement asset (the USD
/// stablecoin in which variation margin, funding and fees are paid), then listed collateral.
interface IVault {
    /// @notice One signature over a batch digest. Signatures come sorted by signer, ascending, so a
    /// signer can count only once. `signature` is 65-byte ECDSA for an EOA signer or whatever the
    /// signer contract's EIP-1271 `isValidSignature` accepts.
    struct SignerSignature {
        address signer;
        bytes signature;
    }

    /// @notice A member's off-chain signed withdrawal request (EIP-712; EIP-1271 for contract members).
    struct WithdrawalRequest {
        address member;
        uint16 asset;
        uint128 amount;
        address to;
        uint256 nonce;
        uint64 deadline;
    }

    struct Withdrawal {
        uint32 account;
        uint16 asset;
        uint128 amount;
        address to;
        uint64 readyAt; // executable from this time (request time + delay, or batch approval time)
        uint8 status; // 1 = pending, 2 = executed, 3 = cancelled, 4 = recalled by a DECLARE
        uint64 pauseClock; // the vault's pause clock when readyAt was set: later paused time delays it
    }

    // ------------------------------------------------------------------ events

    event MemberAdmitted(address indexed member, uint32 indexed account);
    /// @notice `price` and `haircutBps` are its first mark (the settlement asset's: one whole unit, 0).
    event AssetListed(uint16 indexed asset, address indexed token, uint8 decimals, uint128 price, uint16 haircutBps);
    event SignersUpdated(address[] signers, uint8 threshold);
    event WithdrawalDelayUpdated(uint64 delay);
    /// @notice The escape period is `period` from the next batch on (never retroactive: the window since the
    /// last batch keeps the period it started with).
    event EscapePeriodUpdated(uint64 period);
    /// @notice From period `from` (unix time / OUTFLOW_PERIOD) on, batch approvals may release at most `budget`
    /// of `asset` per period before its withdrawals' delay; beyond it an approval is skipped (RowAdjusted).
    event OutflowBudgetUpdated(uint16 indexed asset, uint112 budget, uint32 from);
    /// @notice Decreases of IM/MM and of haircuts posted from now on wait `delay` before they count.
    event LooseningDelayUpdated(uint64 delay);
    /// @notice A collateral mark may rise at most `bandBps` per period above the period's start price.
    event MarkBandUpdated(uint16 bandBps);
    /// @notice A requirement decrease of `account` counts only from `until`; until then margin checks keep
    /// (`im`, `mm`), the requirement in force when it was posted.
    event RequirementDecreaseQueued(uint32 indexed account, uint112 im, uint112 mm, uint64 until);
    /// @notice A haircut decrease of `asset` counts only from `until`; until then valuations keep `haircutBps`.
    event HaircutDecreaseQueued(uint16 indexed asset, uint16 haircutBps, uint64 until);
    event Deposited(uint32 indexed account, uint16 indexed asset, address indexed from, uint256 amount);
    event WithdrawalRequested(
        uint256 indexed id, uint32 indexed account, uint16 indexed asset, uint128 amount, address to, uint64 readyAt
    );
    event WithdrawalApproved(uint256 indexed id);
    event WithdrawalExecuted(uint256 indexed id);
    event WithdrawalCancelled(uint256 indexed id);
    /// @notice A DECLARE of the withdrawal's owner brought its amount back to the balance (into the waterfall).
    event WithdrawalRecalled(uint256 indexed id);
    /// @notice The guardian sent a pending withdrawal back to the balance (a WithdrawalCancelled follows).
    event WithdrawalVetoed(uint256 indexed id);
    /// @notice A member asked to leave: unless a batch brings its initial margin in force to 0 (its positions
    /// closed out) within the escape period of unpaused time, anyone can open the wind-down (`forceWindDown`).
    /// Emitted again when the clock restarts: a rise of the IM of a member served (IM 0 in force) for at least
    /// the withdrawal delay, or the guardian's first veto of a withdrawal of such a member (a vetoed exit counts
    /// as unserved from then on), or the first DECLARE of the member since the request, unless already armed.
    event ExitRequested(uint32 indexed account);
    /// @notice A withdrawal of `account` executed after a veto of one: the veto no longer counts its exit
    /// unserved (its clock keeps running from the veto's start; a later veto flags it again, no restart).
    event ExitVetoCleared(uint32 indexed account);
    /// @notice The first `forceWindDown` of an overdue exit: the wind-down opens at `windsDownAt` (WIND_DOWN_GRACE
    /// of unpaused time later) if the exit is still unserved then, so batches already signed land first.
    event WindDownArmed(uint32 indexed account, uint64 windsDownAt);
    /// @notice A `forceWindDown` later than WIND_DOWN_WINDOW (1 day of unpaused time) after `windsDownAt`: the
    /// armed exit was not used in time and its request is cleared (the member asks again and waits the whole
    /// escape period), so an armed exit is never a standing option to open the wind-down.
    event ExitLapsed(uint32 indexed account);
    event ExitRequestCancelled(uint32 indexed account);
    /// @notice One event per batch: the rows are in the transaction's calldata, which an auditor decodes.
    event BatchSettled(uint64 indexed sequence, bytes32 indexed digest, bytes32 fillsRoot, uint64 asOf, uint256 transfers);
    /// @notice The default fund advanced `amount` of settlement asset to pay a member's cash debit.
    event LiquidityAdvanced(uint32 indexed account, uint128 amount);
    /// @notice A member's cash credit (or deposit) repaid `amount` of its advance to the default fund.
    event AdvanceRepaid(uint32 indexed account, uint128 amount);
    /// @notice After wind-down: `account` claimed `amount` of `asset` of the default fund's estate (its pro-rata
    /// part by pool shares); `nettedForDebt` of it stayed in the estate against the member's debt.
    event EstateClaimed(uint32 indexed account, uint16 indexed asset, uint256 amount, uint256 nettedForDebt);
    /// @notice After wind-down: anyone seized `seized` of `account`'s `asset` into the default fund's estate for
    /// its debt (at the last mark, rounded up).
    event DebtCollateralSeized(uint32 indexed account, uint16 indexed asset, uint256 seized);
    event WindDownTriggered(uint64 lastSequence, uint64 lastSettledAt);
    event WindDownWithdrawal(uint32 indexed account, uint16 indexed asset, address to, uint256 amount, uint256 seizedForDebt);
    /// @notice A member's default-fund contribution changed by `amount` (settlement-asset base units; < 0 is a
    /// return to its cash, or a wind-down payout); `value` is its contribution value afterwards.
    event ContributionChanged(uint32 indexed account, int256 amount, uint256 value);
    /// @notice A batch recorded a margin call on `account` (amount 0 clears it).
    event MarginCalled(uint32 indexed account, uint128 amount, uint64 deadline);
    event DefaultDeclared(uint32 indexed account);
    event DefaultClosed(uint32 indexed account);
    /// @notice One draw of the waterfall covering `defaulter`'s debt: `layer` 1 its collateral (`amount` of
    /// `asset` seized into the default fund), 2 its contribution, 3 operator capital, 4 the survivors' pool,
    /// 5 an assessment of `account`. `value` (settlement-asset base units) is what the draw covered.
    event WaterfallDraw(
        uint32 indexed defaulter, uint8 indexed layer, uint32 account, uint16 asset, uint256 amount, uint256 value
    );

    /// @notice A row that a third party could invalidate between signing and inclusion was applied with a
    /// lesser amount, or skipped (`applied` 0), instead of reverting the batch. `rows` names the array
    /// (ROWS_APPROVALS 1: approvedWithdrawals; ROWS_DEFAULT_ACTIONS 2: defaultActions), `index` the row in it.
    /// Approval of a withdrawal no longer pending (executed or cancelled since signing): skipped. COVER above
    /// the defaulter's debt (a deposit repaid part of it): the debt. ASSESS above what the last COVER left
    /// uncovered (layers 1-4 covered more than planned): that remainder.
    event RowAdjusted(uint8 indexed rows, uint256 index, bytes32 row, uint256 applied);

    // ------------------------------------------------------------------ errors

    error ZeroAddress();
    error NotMember(address account);
    error AlreadyMember(address account);
    error UnknownAccount(uint32 account);
    error UnknownAsset(uint16 asset);
    error AssetAlreadyListed(address token);
    error TooManyAssets();
    /// @notice `listAsset` with price 0: an asset is listed with its first mark (issue 11, finding 9).
    error ListingUnpriced();
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    /// @notice The vault's token balance rose by `received`, not `expected` (fee-on-transfer, rebasing).
    error TransferAmountMismatch(uint256 expected, uint256 received);
    error InsufficientBalance(uint32 account, uint16 asset, uint256 balance, uint256 needed);
    /// @notice Haircut collateral less debt would fall below the posted initial margin.
    error InsufficientMargin(uint32 account, int256 freeCollateral);
    error WithdrawalNotFound(uint256 id);
    /// @notice A request beyond MAX_PENDING_WITHDRAWALS (8) pending withdrawals of one account.
    error TooManyPendingWithdrawals(uint32 account, uint256 max);
    error WithdrawalNotPending(uint256 id);
    error WithdrawalNotReady(uint256 id, uint64 readyAt);
    error NotWithdrawalOwner(uint256 id, address caller);
    error SignatureExpired(uint64 deadline);
    error InvalidNonce(uint256 expected, uint256 given);
    error InvalidMemberSignature(address member);
    // settlement
    error BadSequence(uint64 expected, uint64 given);
    error BadPrevHash(bytes32 expected, bytes32 given);
    error StaleAsOf(uint64 last, uint64 given);
    error FutureAsOf(uint64 nowTs, uint64 given);
    /// @notice The batch's `validUntil` has passed: signed batches expire.
    error BatchExpired(uint64 validUntil, uint64 nowTs);
    /// @notice An approval row whose (account, asset, amount) differ from the withdrawal with its id.
    error ApprovalMismatch(uint256 id);
    /// @notice A mark row re-pricing the settlement asset (its price is fixed at one whole unit).
    error SettlementMarkFixed(uint128 price);
    /// @notice A mark row raising a collateral's price above `max`: the period's anchor (the price at the
    /// period's start; in the listing's period, the listing price) plus the governed band (`setMarkBand`).
    error MarkOutsideBand(uint16 asset, uint128 price, uint256 max);
    /// @notice A batch carrying a COVER also carries a row that would move a waterfall capacity first: a mark
    /// raising a price or lowering a haircut (layer 1), a transfer debiting a defaulter's collateral (layer 1)
    /// or operator capital (layer 3). `row` is that row.
    error CapacityMovedBesideCover(bytes32 row);
    error NonZeroSum(uint16 asset, int256 sum);
    error MalformedRow(bytes32 row);
    error InvalidRequirement(uint32 account, uint112 im, uint112 mm);
    error InvalidHaircut(uint16 asset, uint16 haircutBps);
    error SignersNotAscending(address signer);
    error UnknownSigner(address signer);
    error InvalidSignature(address signer);
    error BelowThreshold(uint256 valid, uint256 threshold);
    error DefaultFundExhausted(uint256 available, uint256 needed);
    // defaults and the default fund
    /// @notice A contribution return while a default is open.
    error ContributionLocked();
    /// @notice A member in default cannot request or execute withdrawals (nor be assessed).
    error MemberInDefault(uint32 account);
    error NotInDefault(uint32 account);
    /// @notice A DECLARE beyond DefaultFund.MAX_OPEN_DEFAULTS defaults open at once.
    error TooManyOpenDefaults(uint256 max);
    error AlreadyInDefault(uint32 account);
    /// @notice CLOSE of a default whose debt is not fully covered.
    error DebtOutstanding(uint32 account, uint256 debt);
    /// @notice More than is available: a COVER above the debt, ASSESS rows above the uncovered remainder, a
    /// contribution return above the contribution value.
    error OverDraw(uint256 available, uint256 amount);
    /// @notice A COVER left `remaining` uncovered after layer 4 and the ASSESS rows did not cover it exactly.
    error Uncovered(uint256 remaining);
    /// @notice An ASSESS row while an earlier layer (the survivors' pool, layer 4) still has value.
    error LayerNotExhausted(uint8 layer);
    /// @notice Assessments of `account` for one default would exceed `cap` (ASSESSMENT_CAP_MULTIPLE × its
    /// contribution value at the DECLARE); `amount` is the cumulative total.
    error AssessmentAboveCap(uint32 account, uint256 amount, uint256 cap);
    /// @notice A batch whose transfer rows paid out of the default fund's cash (net) would leave that cash
    /// plus the outstanding advances of members not in an open default below the pool's value (what the
    /// members' contributions claim), checked once the batch's default rows have applied.
    error PoolUnderfunded(uint256 cash, uint256 advances, uint256 poolValue);
    // governance, escape hatch
    error InvalidThreshold(uint256 threshold, uint256 signers);
    /// @notice A signer appears twice in a signer set (added; not in the first interface draft).
    error DuplicateSigner(address signer);
    /// @notice The token's decimals() exceed 36, which the valuation arithmetic does not support (added).
    error UnsupportedDecimals(uint8 decimals);
    error InvalidDelay(uint64 delay);
    /// @notice A withdrawal delay below the floor the outflow bound needs (VaultBase.MIN_WITHDRAWAL_DELAY).
    error WithdrawalDelayTooShort(uint64 delay, uint64 floor);
    error EscapeHatchNotOpen(uint64 opensAt);
    /// @notice `forceWindDown` for a member with no exit request.
    error NoExitRequest(uint32 account);
    /// @notice `forceWindDown` before the member's exit request has waited `opensAt` (the escape period since it
    /// became unserved, or once armed the grace since the arming).
    error ExitNotOverdue(uint32 account, uint64 opensAt);
    /// @notice `forceWindDown` for a member whose exit was served: its initial margin in force is 0, no
    /// withdrawal of it was vetoed and it is not in an open default, so it can withdraw.
    error ExitServed(uint32 account);
    /// @notice A new pause before `until` (PAUSE_COOLDOWN after the last one ended): a pause cannot be renewed
    /// back to back, so it never holds the escape hatch shut for long.
    error PauseCoolingDown(uint64 until);
    /// @notice `windDownWithdrawSystem` of the default fund's estate while `shares` pool shares still claim it.
    error ClaimantsRemain(uint256 shares);
    /// @notice `windDownWithdrawSystem` of operator capital (waterfall layer 3) while `open` defaults are open.
    error DefaultsOpen(uint256 open);
    error WoundDown();
    error NotWoundDown();
}
