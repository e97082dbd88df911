// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {Vault} from "../../src/Vault.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {BatchRandom} from "./BatchRandom.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

/// @notice The vault's batch digest: equal to the EIP-712 digest computed independently, stable (a pure
/// function of the batch and the domain), different for any change of any field, and bound to the chain
/// id and the vault address (so a signed batch cannot be replayed on another chain or vault).
contract BatchDigestFuzzTest is VaultFixture, BatchRandom {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    function _referenceDomain(address v, uint256 chainId) internal view returns (bytes32) {
        (, string memory name, string memory version,,,,) = IERC5267(v).eip712Domain();
        return keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(name)), keccak256(bytes(version)), chainId, v));
    }

    function _referenceDigest(Batch.Data memory b, address v, uint256 chainId) internal view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", _referenceDomain(v, chainId), referenceStructHash(b)));
    }

    function testFuzz_digestMatchesReference(uint256 seed, uint8 nT, uint8 nR, uint8 nM, uint8 nW) public view {
        Batch.Data memory b = randomBatch(seed, nT % 16, nR % 6, nM % 6, nW % 6);
        assertEq(vault.domainSeparator(), _referenceDomain(address(vault), block.chainid), "domain separator");
        assertEq(vault.batchDigest(b), _referenceDigest(b, address(vault), block.chainid), "digest");
    }

    function testFuzz_digestChangesWithEveryField(uint256 seed, uint8 field, uint256 salt) public view {
        Batch.Data memory b = randomBatch(seed, 3, 2, 2, 2);
        bytes32 d = vault.batchDigest(b);
        assertTrue(vault.batchDigest(mutate(b, field % 17, salt)) != d, "a changed batch kept its digest");
    }

    /// @dev The digest of a batch does not depend on the vault's state: settling other batches, moving time
    /// and pausing leave it unchanged.
    function testFuzz_digestStable(uint256 seed, uint32 dt) public {
        Batch.Data memory b = randomBatch(seed, 4, 1, 1, 1);
        bytes32 d = vault.batchDigest(b);
        _deposit(alice, USD, 10e6);
        Batch.Data memory other = _nextBatch();
        other.transfers = _two(_t(ALICE, USD, -1e6), _t(BOB, USD, 1e6));
        _settle(other);
        vm.warp(block.timestamp + dt);
        vm.prank(guardian);
        vault.pause();
        assertEq(vault.batchDigest(b), d, "digest moved with state");
    }

    /// @dev Another chain id gives another domain and digest; the signatures made for this chain fail there.
    function testFuzz_digestBindsChainId(uint256 seed, uint64 otherChain) public {
        vm.assume(otherChain != block.chainid && otherChain != 0);
        _deposit(alice, USD, 10e6);
        Batch.Data memory b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -int256(uint256(seed % 10e6) + 1)), _t(BOB, USD, int256(uint256(seed % 10e6) + 1)));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        bytes32 here = vault.batchDigest(b);
        uint256 chainHere = block.chainid;
        vm.chainId(otherChain);
        bytes32 there = vault.batchDigest(b);
        assertTrue(there != here, "digest ignores the chain id");
        assertEq(there, _referenceDigest(b, address(vault), otherChain), "digest on the other chain");
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        vault.settle(b, sigs);
        vm.chainId(chainHere);
        vault.settle(b, sigs); // the same signatures are good on their own chain
        assertEq(uint256(vault.lastSequence()), 1, "settled at home");
    }

    /// @dev A second vault with the same signers: the same batch has another digest there, and the
    /// signatures made for the first vault are refused by the second.
    function testFuzz_digestBindsVault(uint256 seed) public {
        ICrossclearVault twin = _deployVault(IERC20(address(usd)), signerAddrs, 2);
        Batch.Data memory b = randomBatch(seed, 0, 0, 0, 0);
        b.sequence = 1;
        b.prevHash = bytes32(0);
        b.asOf = uint64(block.timestamp);
        // random words would be applied as default-management rows: leave those arrays empty
        (b.contributions, b.marginCalls, b.defaultActions) = (new bytes32[](0), new bytes32[](0), new bytes32[](0));
        assertTrue(twin.batchDigest(b) != vault.batchDigest(b), "two vaults share a digest");
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        twin.settle(b, sigs);
        vault.settle(b, sigs);
        // and once applied, the same batch and signatures cannot be applied again (sequence moved on)
        vm.expectRevert(abi.encodeWithSelector(IVault.BadSequence.selector, uint64(2), uint64(1)));
        vault.settle(b, sigs);
    }

    /// @dev Digests of distinct random batches never collide (a smoke check of the encoding: a length
    /// confusion between arrays would show here).
    function testFuzz_digestsOfDistinctBatchesDiffer(uint256 s1, uint256 s2, uint8 n1, uint8 n2) public view {
        Batch.Data memory a = randomBatch(s1, n1 % 5, n1 % 3, n1 % 2, n1 % 4);
        Batch.Data memory b = randomBatch(s2, n2 % 5, n2 % 3, n2 % 2, n2 % 4);
        bool same = s1 == s2 && (n1 % 5 == n2 % 5) && (n1 % 3 == n2 % 3) && (n1 % 2 == n2 % 2) && (n1 % 4 == n2 % 4);
        assertEq(vault.batchDigest(a) == vault.batchDigest(b), same, "digest collision");
    }
}
