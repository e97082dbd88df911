// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Gas of `settle` per transfer row, as a whole transaction would pay it: 21,000 base + calldata
/// (EIP-2028 4/16 gas per zero/non-zero byte, or the EIP-7623 floor if higher) + execution, divided by the
/// number of rows. Execution is measured around an external call from the test, which also pays a cold
/// account access a real transaction would not: the figure is slightly pessimistic.
///
/// Rows are realistic variation-margin moves among members that already hold balances (every row touches a
/// distinct, cold, non-zero storage word), signed by two ECDSA signers. Run with -vv to see the numbers.
contract VaultGasTest is VaultFixture {
    event log_named_uint(string key, uint256 val);

    uint256 internal constant MEMBERS = 2000;
    uint256 internal constant TARGET_PER_TRANSFER = 6000;

    uint32 internal firstAccount;

    function setUp() public override {
        super.setUp();
        firstAccount = vault.accountCount() + 1;
        usd.mint(address(this), MEMBERS * 10_000 * USD_UNIT);
        usd.approve(address(vault), type(uint256).max);
        vm.startPrank(operator);
        for (uint256 i; i < MEMBERS; ++i) {
            vault.admitMember(address(uint160(0x10000 + i)));
        }
        vm.stopPrank();
        for (uint256 i; i < MEMBERS; ++i) {
            vault.deposit(address(uint160(0x10000 + i)), USD, 10_000 * USD_UNIT);
        }
    }

    function test_gas_settle_10() public {
        _measure(10, type(uint256).max);
    }

    function test_gas_settle_100() public {
        _measure(100, type(uint256).max);
    }

    function test_gas_settle_500() public {
        _measure(500, TARGET_PER_TRANSFER);
    }

    function test_gas_settle_2000() public {
        _measure(2000, TARGET_PER_TRANSFER);
    }

    function _measure(uint256 n, uint256 limit) internal {
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](n);
        for (uint256 i; i < n; i += 2) {
            // forge-lint: disable-next-line(unsafe-typecast)
            uint32 payer = uint32(firstAccount + i);
            int256 amount = int256(1_000_000 + uint256(keccak256(abi.encode(i))) % 900_000_000); // 1..901 usd
            b.transfers[i] = _t(payer, USD, -amount);
            b.transfers[i + 1] = _t(payer + 1, USD, amount);
        }
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        bytes memory data = abi.encodeCall(vault.settle, (b, sigs));

        (uint256 standard, uint256 floorTokens) = _calldataCost(data);
        uint256 before = gasleft();
        (bool ok,) = address(vault).call(data);
        uint256 execution = before - gasleft();
        assertTrue(ok, "settle reverted");

        uint256 total = 21_000 + standard + execution;
        uint256 floor = 21_000 + 10 * floorTokens;
        if (floor > total) total = floor;
        emit log_named_uint("transfers", n);
        emit log_named_uint("execution gas", execution);
        emit log_named_uint("calldata gas", standard);
        emit log_named_uint("total tx gas", total);
        emit log_named_uint("gas per transfer", total / n);
        assertEq(vault.lastSequence(), 1, "applied");
        assertLe(total / n, limit, "gas per transfer");
    }

    /// @dev EIP-2028 cost and EIP-7623 floor tokens of `data`.
    function _calldataCost(bytes memory data) internal pure returns (uint256 standard, uint256 tokens) {
        for (uint256 i; i < data.length; ++i) {
            if (data[i] == 0) {
                standard += 4;
                tokens += 1;
            } else {
                standard += 16;
                tokens += 4;
            }
        }
    }
}
