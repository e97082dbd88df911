// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IVault} from "./IVault.sol";

/// @title IVaultExtension
/// @notice The functions of the VaultExtension module: the vault's fallback delegatecalls every selector it
/// does not implement itself to it, so these run on the vault's storage at the vault's address.
interface IVaultExtension is IVault {
    /// @notice The VaultDefaults module the vault delegatecalls for default-management rows.
    function defaultsModule() external view returns (address);

    // ------------------------------------------------------------------ deposits and withdrawals

    /// @notice Request a withdrawal of the caller's own collateral. The amount leaves the balance at once
    /// (it is pending) and the request must leave haircut collateral less debt at or above initial margin.
    /// @param asset The asset number.
    /// @param amount Base units to withdraw.
    /// @param to Recipient of the tokens.
    /// @return id The withdrawal id.
    function requestWithdrawal(uint16 asset, uint128 amount, address to) external returns (uint256 id);

    /// @notice Request a withdrawal on behalf of a member that signed it (EIP-712; EIP-1271 for contracts).
    /// @param req The signed request; `nonce` must equal `withdrawalNonce(member)`.
    /// @param signature The member's signature over `withdrawalRequestDigest(req)`.
    /// @return id The withdrawal id.
    function requestWithdrawalBySig(WithdrawalRequest calldata req, bytes calldata signature)
        external
        returns (uint256 id);

    /// @notice Pay out a pending withdrawal once its delay has passed (or a batch approved it); anyone may
    /// call. The margin check is made again against the latest posted marks and requirements.
    /// @param id The withdrawal id.
    function executeWithdrawal(uint256 id) external;

    /// @notice Cancel a pending withdrawal (its owner only); the amount returns to the balance.
    /// @param id The withdrawal id.
    function cancelWithdrawal(uint256 id) external;

    /// @notice Send a pending withdrawal back to its owner's balance during its delay (guardian role): the
    /// check on a compromised signer quorum, whose moves beyond the outflow budget wait the full delay.
    /// @param id The withdrawal id.
    function vetoWithdrawal(uint256 id) external;

    // ------------------------------------------------------------------ escape hatch

    /// @notice Ask to leave (a member): the signers must close its positions out and post IM 0 within the
    /// escape period (unpaused time), else anyone may arm the wind-down with `forceWindDown` and open it
    /// WIND_DOWN_GRACE later (and must, within WIND_DOWN_WINDOW after that, else the request lapses). A
    /// guardian veto of its withdrawal makes the exit unserved for good; an open default makes it unserved.
    function requestExit() external;
    /// @notice Withdraw the caller's exit request.
    function cancelExit() external;
    /// @notice Open the wind-down because `account`'s exit request went unserved (its IM in force above 0, a
    /// withdrawal of it vetoed, or it in an open default) for the escape period of unpaused time since it
    /// became unserved; anyone may call. The first overdue call arms it (`WindDownArmed`); a call
    /// WIND_DOWN_GRACE (1 day) of unpaused time later opens the wind-down if the exit is still unserved; a call
    /// WIND_DOWN_WINDOW (1 day, unpaused) or more after that clears the request instead (`ExitLapsed`).
    /// Refused while paused (`EnforcedPause`).
    function forceWindDown(uint32 account) external;

    /// @notice Start the wind-down once no batch has landed for `escapePeriod`; anyone may call.
    function triggerWindDown() external;

    /// @notice After wind-down, withdraw the caller's whole balance of `asset`, less its recorded debt
    /// (collateral that covers an outstanding advance, at the last marks, goes to the default fund's estate),
    /// plus its pro-rata part (by pool shares) of the default fund's estate in `asset` (`estateClaimOf`).
    /// May be called again: later recoveries (debt seizures, repayments) raise the estate.
    /// @param asset The asset number.
    /// @param to Recipient of the tokens.
    function windDownWithdraw(uint16 asset, address to) external;

    /// @notice After wind-down, anyone: seize what covers `account`'s debt of its `asset` balance into the
    /// default fund's estate (DebtCollateralSeized), as its own withdrawal would.
    function seizeCollateralForDebt(uint32 account, uint16 asset) external;

    /// @notice After wind-down, anyone: net `account`'s part of the default fund's estate in `asset` against its
    /// debt (`EstateClaimed`), as its own `windDownWithdraw` would; what exceeds the debt becomes its balance.
    /// Does nothing for a member without debt or pool shares.
    function netEstateForDebt(uint32 account, uint16 asset) external;

    /// @notice After wind-down, anyone: close `account`'s open default by the waterfall's order (no batch lands
    /// any more): its own balances and its part of the estate cover its debt first (as `seizeCollateralForDebt`
    /// and `netEstateForDebt`), then operator capital's cash pays the default fund up to the debt left
    /// (`WaterfallDraw` layer 3); what is still owed stays its debt, a loss of the estate; `DefaultClosed`.
    /// `NotWoundDown()` before the wind-down, `NotInDefault(account)` unless its default is open.
    function closeDefaultAfterWindDown(uint32 account) external;

    /// @notice After wind-down: what `account` may still claim of the default fund's estate in `asset`
    /// (floor(received × its shares / pool shares) less what it claimed; `windDownWithdraw` pays it).
    function estateClaimOf(uint32 account, uint16 asset) external view returns (uint256);

    /// @notice After wind-down, pay out a system account to `to` (governance role): the fee account and
    /// operator capital whole; the default fund's balances only once no pool share exists
    /// (`ClaimantsRemain(shares)`): they are the estate its shares claim; operator capital (waterfall layer 3)
    /// only once no default is open (`DefaultsOpen(open)`).
    function windDownWithdrawSystem(uint32 account, uint16 asset, address to) external;

    // ------------------------------------------------------------------ governance and guardian

    /// @notice Replace the risk-signer set and threshold (governance role, behind the timelock).
    function setSigners(address[] calldata signers, uint8 threshold) external;

    /// @notice Set the delay between a withdrawal request and its execution (governance role).
    function setWithdrawalDelay(uint64 delay) external;

    /// @notice Set how long without a batch opens the escape hatch (governance role), from the next batch on.
    function setEscapePeriod(uint64 period) external;

    // ------------------------------------------------------------------ views
    function withdrawalRequestDigest(WithdrawalRequest calldata req) external view returns (bytes32);
    function domainSeparator() external view returns (bytes32);
    function balanceOf(uint32 account, uint16 asset) external view returns (uint256);
    function debtOf(uint32 account) external view returns (uint256);
    function requirementOf(uint32 account) external view returns (uint112 im, uint112 mm);
    function markOf(uint16 asset) external view returns (uint128 price, uint16 haircutBps);
    /// @notice Haircut collateral value less debt less initial margin, in settlement-asset base units
    /// (rounded down: conservative against the member).
    function freeCollateral(uint32 account) external view returns (int256);
    function accountOf(address member) external view returns (uint32);
    function memberOf(uint32 account) external view returns (address);
    function accountCount() external view returns (uint32);
    function assetCount() external view returns (uint16);
    function assetToken(uint16 asset) external view returns (IERC20);
    /// @notice Sum of all balances plus pending withdrawals of `asset`: what the vault owes.
    function totalOwed(uint16 asset) external view returns (uint256);
    function withdrawal(uint256 id) external view returns (Withdrawal memory);
    function withdrawalNonce(address member) external view returns (uint256);
    function lastSequence() external view returns (uint64);
    function lastBatchHash() external view returns (bytes32);
    function lastAsOf() external view returns (uint64);
    function lastSettledAt() external view returns (uint64);
    function signers() external view returns (address[] memory);
    function threshold() external view returns (uint8);
    function isSigner(address signer) external view returns (bool);
    function withdrawalDelay() external view returns (uint64);
    function escapePeriod() external view returns (uint64);
    /// @notice When the escape hatch opens if no batch lands: lastSettledAt + escapePeriod + the time paused
    /// since (it moves on while a pause lasts).
    function escapeHatchOpensAt() external view returns (uint64);
    /// @notice Σ debt of all members (a running total; the pool's backing check reads it instead of looping).
    function totalDebt() external view returns (uint256);
    /// @notice Set `asset`'s outflow budget (governance role), in force from the next OUTFLOW_PERIOD: what batch
    /// approvals may release per period before its withdrawals' full delay.
    /// @notice Governance: how long a decrease of a member's IM/MM or of a haircut waits before margin checks
    /// and the waterfall use it (at most 365 days; 0: at once). Not retroactive.
    function setLooseningDelay(uint64 delay) external;
    /// @notice Governance: within one OUTFLOW_PERIOD a collateral's mark may rise at most `bandBps` above the
    /// period's anchor (its price at the period's start, the earlier anchor if that was 0; from listing, the
    /// listing's price) (MarkOutsideBand beyond); 0: no band. Falls are never refused.
    function setMarkBand(uint16 bandBps) external;
    /// @notice The loosening delay and the mark band in force.
    function loosening() external view returns (uint64 delay, uint16 markBandBps);
    /// @notice The requirement the last batch posted (`requirementOf` is the one in force: the higher of it and
    /// the one before its last decrease, while that decrease waits the loosening delay).
    function postedRequirementOf(uint32 account) external view returns (uint112 im, uint112 mm);
    function setOutflowBudget(uint16 asset, uint112 budget) external;
    /// @notice `asset`'s outflow budget as last applied, what approvals used of it and in which period.
    function outflowOf(uint16 asset) external view returns (uint112 budget, uint112 used, uint32 period);
    /// @notice The escape period governance set, in force from the next batch (0: no change pending).
    function nextEscapePeriod() external view returns (uint64);
    /// @notice Total seconds the vault has been paused: withdrawal delays and the escape period do not count them.
    function pauseClock() external view returns (uint64);
    function woundDown() external view returns (bool);

    // ------------------------------------------------------------------ defaults and the default fund

    /// @notice A member's default-fund contribution value now (its pool shares × pool value / shares, floor).
    /// @param account The member account.
    /// @return The value in settlement-asset base units.
    function contributionOf(uint32 account) external view returns (uint256);

    /// @notice The pool of members' contributions: total value (settlement-asset base units) and shares.
    /// @return value Σ contribution values (held in the default fund's cash, or owed to it by debtors).
    /// @return shares Total shares outstanding.
    function defaultFundPool() external view returns (uint256 value, uint256 shares);

    /// @notice Whether `account` is in an open default (declared and not closed).
    /// @param account The member account.
    /// @return True between DECLARE and CLOSE.
    function inDefault(uint32 account) external view returns (bool);

    /// @notice Whether `account` was ever declared in default (stays true after CLOSE).
    /// @param account The member account.
    /// @return True once declared.
    function defaulted(uint32 account) external view returns (bool);

    /// @notice How many defaults are open; while any is, contributions cannot be returned.
    /// @return The number of declared, not yet closed, defaults.
    function openDefaults() external view returns (uint256);

    /// @notice The last margin call a batch recorded on `account`.
    /// @param account The member account.
    /// @return amount Settlement-asset base units (0: no call).
    /// @return deadline Unix seconds by which the call must be met.
    function marginCallOf(uint32 account) external view returns (uint128 amount, uint64 deadline);

    /// @notice Operator capital (skin in the game, waterfall layer 3): account 3's settlement-asset cash.
    /// @return The balance in settlement-asset base units.
    function operatorCapital() external view returns (uint256);
}
