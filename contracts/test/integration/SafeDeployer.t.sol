// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "../utils/Test.sol";
import {SafeDeployer, ISafe, Owner1271Wallet} from "./SafeHelpers.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @notice The Safe deployed from the npm artefacts behaves as Safe 1.4.1 does: owners, threshold,
/// and EIP-1271 through the CompatibilityFallbackHandler with the SafeMessage hashing.
contract SafeDeployerTest is Test {
    SafeDeployer internal d;
    ISafe internal safe;
    uint256[] internal keys;

    function setUp() public {
        d = new SafeDeployer();
        keys.push(0xA11CE);
        keys.push(0xB0B);
        keys.push(0xCA11);
        address[] memory owners = new address[](3);
        for (uint256 i; i < 3; ++i) {
            owners[i] = vm.addr(keys[i]);
        }
        safe = d.createSafe(owners, 2);
    }

    function test_safeIsTwoOfThree() public view {
        assertEq(safe.getThreshold(), 2, "threshold");
        assertEq(safe.getOwners().length, 3, "owners");
    }

    function test_messageHashMatchesReference() public view {
        bytes32 h = keccak256("anything");
        assertEq(d.safeMessageHash(safe, h), d.safeMessageHashReference(safe, h), "SafeMessage hash");
    }

    function test_isValidSignatureTwoOwners() public view {
        bytes32 h = keccak256("digest");
        uint256[] memory two = new uint256[](2);
        two[0] = keys[2];
        two[1] = keys[0];
        bytes memory sig = d.sign1271(safe, two, h);
        assertEq(IERC1271(address(safe)).isValidSignature(h, sig) == bytes4(0x1626ba7e), true, "magic");
    }

    function test_isValidSignatureOneOwnerReverts() public {
        bytes32 h = keccak256("digest");
        uint256[] memory one = new uint256[](1);
        one[0] = keys[1];
        bytes memory sig = d.sign1271(safe, one, h);
        vm.expectRevert(abi.encodeWithSignature("Error(string)", "GS020"));
        IERC1271(address(safe)).isValidSignature(h, sig);
    }

    function test_ownerWallet1271() public {
        Owner1271Wallet w = new Owner1271Wallet(vm.addr(7));
        bytes32 h = keccak256("x");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(7, h);
        assertEq(w.isValidSignature(h, abi.encodePacked(r, s, v)), bytes4(0x1626ba7e), "valid");
        (v, r, s) = vm.sign(8, h);
        assertEq(w.isValidSignature(h, abi.encodePacked(r, s, v)), bytes4(0xffffffff), "invalid");
    }
}
