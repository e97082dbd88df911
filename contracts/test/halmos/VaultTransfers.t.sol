// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Vm} from "../utils/Vm.sol";
import {Ledger} from "../../src/libraries/Ledger.sol";
import {VaultHarness} from "./VaultHarness.sol";

/// @notice Halmos proof that the settlement loop's assembly fast path is only an optimisation: on any ledger
/// state and any transfer rows (every bit of each row symbolic: malformed ones too), `settle`'s path (the
/// fast loop, falling back to `_applyTransfer` row by row) and the reference path (every row through
/// `_applyTransfer`) both revert with the same error, or both succeed with the same ledger and the same
/// default-fund verdict. Run by `tests/contracts/test_halmos.py`; docs/contracts.md, "Symbolic proofs".
contract VaultTransfersTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    uint32 internal constant ACCOUNTS = 5; // fee, default fund, operator capital, two members
    uint16 internal constant ASSETS = 2; // the settlement asset and one collateral

    VaultHarness internal fast;
    VaultHarness internal ref;

    function setUp() public {
        fast = new VaultHarness();
        ref = new VaultHarness();
        fast.setCounts(ACCOUNTS, ASSETS);
        ref.setCounts(ACCOUNTS, ASSETS);
    }

    /// @dev Every word a row can name (accounts 1..5, assets 0..1), then the debt total.
    function _keys() internal pure returns (uint256[11] memory k) {
        for (uint256 a = 1; a <= ACCOUNTS; ++a) {
            (k[2 * a - 2], k[2 * a - 1]) = (Ledger.key(a, 0), Ledger.key(a, 1));
        }
        k[10] = Ledger.DEBT_TOTAL;
    }

    /// @dev A reachable ledger: only the members' settlement words (accounts 4 and 5, asset 0) carry a debt
    /// half, and the debt total is their sum.
    function _load(uint256[11] memory keys, uint256[10] memory words) internal {
        uint256 total = (words[6] >> 128) + (words[8] >> 128);
        for (uint256 i; i < 10; ++i) {
            fast.setLedger(keys[i], words[i]);
            ref.setLedger(keys[i], words[i]);
        }
        fast.setLedger(keys[10], total);
        ref.setLedger(keys[10], total);
    }

    uint256 internal constant KEY_BITS = uint256(type(uint48).max) << 208; // account << 16 | asset

    /// @dev `row` naming one of the words a batch can move, or none. Halmos cannot index memory symbolically
    /// (the per-asset sums) and slows down on symbolic storage keys, so a valid key is taken concretely, one
    /// path each (`sel` 0..3: the default fund and a member, times the two assets; the default fund stands
    /// for every system account, which can neither carry nor draw an advance, the member for every member);
    /// `sel` 4 keeps the row's
    /// own key, any key that names no word (account 0 or above the count, asset above the count). The
    /// reserved bits and the amount stay symbolic.
    function _row(bytes32 row, uint8 sel) internal pure returns (bytes32) {
        vm.assume(sel <= 4);
        if (sel == 4) {
            uint256 account = uint256(row) >> 224;
            uint256 asset = (uint256(row) >> 208) & 0xffff;
            vm.assume(account == 0 || account > ACCOUNTS || asset >= ASSETS);
            return row;
        }
        for (uint256 i; i < 4; ++i) {
            // a branch per value: `sel` itself is symbolic, `i` is concrete
            if (sel == i) return bytes32((uint256(row) & ~KEY_BITS) | (Ledger.key(i < 2 ? 2 : 4, i % 2) << 208));
        }
        revert(); // unreachable: sel <= 3 here
    }

    /// @dev `words`: the ledger words of accounts 1..5 x assets 0..1 (in `_keys` order); `r0`, `r1`: the rows.
    function check_fastTransferPathMatchesTheReference(
        uint256[10] memory words,
        bytes32 r0,
        uint8 sel0,
        bytes32 r1,
        uint8 sel1
    ) public {
        bytes32[] memory rows = new bytes32[](2);
        (rows[0], rows[1]) = (_row(r0, sel0), _row(r1, sel1));
        _compare(words, rows);
    }

    function _compare(uint256[10] memory words, bytes32[] memory rows) internal {
        for (uint256 i; i < 10; ++i) {
            if (i != 6 && i != 8) words[i] &= type(uint128).max; // no debt half
        }
        uint256[11] memory keys = _keys();
        _load(keys, words);
        (bool okFast, bytes memory outFast) = address(fast).call(abi.encodeCall(VaultHarness.applyTransfers, (rows)));
        (bool okRef, bytes memory outRef) =
            address(ref).call(abi.encodeCall(VaultHarness.applyTransfersReference, (rows)));
        assert(okFast == okRef);
        assert(keccak256(outFast) == keccak256(outRef)); // the same error, or the same default-fund verdict
        if (okFast) {
            for (uint256 i; i < keys.length; ++i) {
                assert(fast.ledgerWord(keys[i]) == ref.ledgerWord(keys[i]));
            }
        }
    }
}
