// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vault} from "../../src/Vault.sol";
import {VaultExtension} from "../../src/VaultExtension.sol";
import {Ledger} from "../../src/libraries/Ledger.sol";
import {Margin} from "../../src/libraries/Margin.sol";
import {MockERC20} from "../utils/MockERC20.sol";

/// @dev One risk signer: the proofs call the rule functions directly, not `settle`, so no signature is made.
function oneSigner() pure returns (address[] memory s) {
    s = new address[](1);
    s[0] = address(0x5157A1);
}

/// @notice The real Vault (its code, storage layout and rule functions, unchanged), deployed with fixed roles,
/// plus the few entry points the symbolic tests need: the batch's rule functions called with calldata rows
/// (`settle` itself needs signatures, which a symbolic run cannot forge), and raw storage set-up so a proof
/// can start from any state the vault could be in. Nothing here changes a rule: each `apply*` only forwards.
contract VaultHarness is Vault {
    constructor()
        Vault(
            IERC20(address(new MockERC20("usd", "USD", 6))),
            address(0x6077),
            address(0x6A4D),
            address(0x0BE4),
            oneSigner(),
            1,
            1 days,
            7 days,
            0,
            0,
            new VaultExtension()
        )
    {}

    // ---------------------------------------------------------------- the rules, as a batch applies them

    function applyMarks(bytes32[] calldata rows) external {
        _applyMarks(rows);
    }

    function applyRequirements(bytes32[] calldata rows) external {
        _applyRequirements(rows);
    }

    function spendOutflow(uint16 asset, uint128 amount) external returns (bool) {
        return _spendOutflow(asset, amount);
    }

    /// @dev The settlement path as `settle` runs it: the assembly fast loop, `_applyTransfer` for the rows it
    /// leaves, then the zero-sum check.
    function applyTransfers(bytes32[] calldata rows) external returns (bool fundPaid) {
        return _applyTransfers(rows);
    }

    /// @dev The reference path: every row through the plain-Solidity `_applyTransfer` (which validates, repays
    /// and advances), then the same zero-sum check and default-fund test, written out without the fast loop.
    function applyTransfersReference(bytes32[] calldata rows) external returns (bool fundPaid) {
        uint256 cash = _ledger[Ledger.DEFAULT_FUND_CASH];
        int256[] memory acc = new int256[](uint256(MAX_ASSETS) + 1); // per-asset sums, then Σ debt change
        uint256 sums;
        assembly ("memory-safe") {
            sums := add(acc, 0x20)
        }
        for (uint256 i; i < rows.length; ++i) {
            _applyTransfer(rows[i], _accountCount, _assetCount, sums);
        }
        for (uint256 a; a < _assetCount; ++a) {
            // forge-lint: disable-next-line(unsafe-typecast)
            if (acc[a] != 0) revert NonZeroSum(uint16(a), acc[a]);
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        fundPaid = int256(_ledger[Ledger.DEFAULT_FUND_CASH]) + acc[MAX_ASSETS] < int256(cash);
    }

    // ---------------------------------------------------------------- reads

    function requirementInForce(uint32 account) external view returns (uint256 im, uint256 mm) {
        return _requirementInForce(account);
    }

    function effectiveHaircut(uint16 asset) external view returns (uint256) {
        return Margin.effective(_marks[asset]).haircutBps;
    }

    function ledgerWord(uint256 key) external view returns (uint256) {
        return _ledger[key];
    }

    function outflow(uint16 asset) external view returns (Outflow memory) {
        return _outflow[asset];
    }

    // ---------------------------------------------------------------- state set-up

    function setCounts(uint32 accounts, uint16 assets) external {
        (_accountCount, _assetCount) = (accounts, assets);
    }

    function setLedger(uint256 key, uint256 word) external {
        _ledger[key] = word;
    }

    function setLoosening(uint64 delay, uint16 bandBps) external {
        (_looseningDelay, _markBandBps) = (delay, bandBps);
    }

    function setRequirement(uint32 account, uint256 packed, uint256 floor) external {
        (_requirements[account], _requirementFloors[account]) = (packed, floor);
    }

    function setMark(uint16 asset, uint128 price, uint16 haircutBps, uint8 decimals) external {
        _marks[asset] = Margin.Mark({price: price, haircutBps: haircutBps, decimals: decimals, haircutFloor: 0, floorUntil: 0});
    }

    function setOutflow(uint16 asset, Outflow calldata o, NextBudget calldata next) external {
        (_outflow[asset], _nextOutflowBudget[asset]) = (o, next);
    }
}
