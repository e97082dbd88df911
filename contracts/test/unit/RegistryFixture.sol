// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Test} from "../utils/Test.sol";
import {Registry} from "../../src/Registry.sol";
import {IRegistry} from "../../src/interfaces/IRegistry.sol";

/// @notice A registry governed by a TimelockController (2 days), one instrument and one venue (key
/// 0xA11CE, admin 0xAD1), and helpers that run a change through schedule → wait → execute.
abstract contract RegistryFixture is Test {
    uint256 internal constant MIN_DELAY = 2 days;
    uint256 internal constant KEY1 = 0xA11CE;
    uint256 internal constant KEY2 = 0xB0B;
    uint256 internal constant ADMIN_KEY = 0xAD1;
    uint256 internal constant ATTACKER_KEY = 0xBAD;
    string internal constant BTC = "BTC-USD-PERP";
    string internal constant CEX = "cex";

    TimelockController internal timelock;
    Registry internal registry;
    address internal proposer = address(0x9409);
    uint256 internal saltCounter;

    function setUp() public virtual {
        vm.warp(1_800_000_000);
        address[] memory proposers = new address[](1);
        proposers[0] = proposer;
        address[] memory executors = new address[](1);
        executors[0] = address(0);
        timelock = new TimelockController(MIN_DELAY, proposers, executors, address(0));
        registry = new Registry(address(timelock), IRegistry.Params(600_000, 5_000, 60));
        _governed(abi.encodeCall(IRegistry.addInstrument, (BTC, "perp", "BTC", _terms(8, 1))));
        _governed(
            abi.encodeCall(
                IRegistry.addVenue, (CEX, "cex", vm.addr(ADMIN_KEY), vm.addr(KEY1), 0, _signKey(KEY1, CEX, vm.addr(KEY1), 0, 0))
            )
        );
    }

    function _terms(uint8 decimals, uint16 feeBps) internal pure returns (IRegistry.Terms memory) {
        return IRegistry.Terms({
            qtyDecimals: decimals,
            feeBps: feeBps,
            priceBandBps: 500,
            fundingIntervalS: 3600,
            fundingCapE8: 100_000,
            tick: 1
        });
    }

    /// schedule through the timelock, wait the delay, execute.
    function _governed(bytes memory data) internal {
        bytes32 salt = bytes32(++saltCounter);
        vm.prank(proposer);
        timelock.schedule(address(registry), 0, data, bytes32(0), salt, MIN_DELAY);
        vm.warp(block.timestamp + MIN_DELAY);
        timelock.execute(address(registry), 0, data, bytes32(0), salt);
    }

    /// schedule, wait, and expect the execution to revert with `err` (the timelock bubbles the revert data up).
    function _governedReverts(bytes memory data, bytes memory err) internal {
        bytes32 salt = bytes32(++saltCounter);
        vm.prank(proposer);
        timelock.schedule(address(registry), 0, data, bytes32(0), salt, MIN_DELAY);
        vm.warp(block.timestamp + MIN_DELAY);
        vm.expectRevert(err);
        timelock.execute(address(registry), 0, data, bytes32(0), salt);
    }

    function _signKey(uint256 signerKey, string memory venue, address newKey, uint64 validFrom, uint256 nonce)
        internal
        view
        returns (bytes memory)
    {
        bytes32 digest = registry.keyChangeDigest(venue, newKey, validFrom, nonce);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, digest);
        return abi.encodePacked(r, s, v);
    }

    function _rotate(uint256 signerKey, address newKey, uint64 validFrom) internal {
        (,, uint256 nonce,) = registry.venue(CEX);
        _governed(
            abi.encodeCall(IRegistry.rotateVenueKey, (CEX, newKey, validFrom, _signKey(signerKey, CEX, newKey, validFrom, nonce)))
        );
    }
}
