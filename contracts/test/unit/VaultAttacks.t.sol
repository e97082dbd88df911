// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {FeeOnTransferToken, ReentrantToken, RebasingToken} from "../utils/AdversarialTokens.sol";
import {MockERC1271Wallet} from "../utils/MockERC1271Wallet.sol";
import {Vault} from "../../src/Vault.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {IVaultMain} from "../../src/interfaces/IVaultMain.sol";
import {IVaultExtension} from "../../src/interfaces/IVaultExtension.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

/// @notice What an attacker (or a careless submitter) may try against settlement and the token paths.
contract VaultAttacksTest is VaultFixture {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function setUp() public override {
        super.setUp();
        _deposit(alice, USD, 1000e6);
    }

    function _transferBatch() internal view returns (Batch.Data memory b) {
        b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -100e6), _t(BOB, USD, 100e6));
    }

    // ---------------------------------------------------------------- replay

    function test_replay_onAnotherChainId() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.chainId(block.chainid + 1); // a fork, or another network with the same vault address
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        vault.settle(b, sigs);
    }

    function test_replay_onAnotherVault() public {
        ICrossclearVault other = _deployVault(IERC20(address(usd)), signerAddrs, 2);
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum()); // signed for `vault`
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        other.settle(b, sigs);
    }

    function test_replay_ofAnAppliedBatch() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vault.settle(b, sigs);
        vm.expectRevert(abi.encodeWithSelector(IVault.BadSequence.selector, uint64(2), uint64(1)));
        vault.settle(b, sigs);
    }

    function test_reuse_ofSignaturesOnTheNextBatch() public {
        Batch.Data memory b1 = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b1, _quorum());
        vault.settle(b1, sigs);
        Batch.Data memory b2 = _transferBatch(); // same rows, next sequence and prevHash
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        vault.settle(b2, sigs);
    }

    function test_tampered_rowAfterSigning() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        b.transfers[1] = _t(CAROL, USD, 100e6); // redirect the credit
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        vault.settle(b, sigs);
    }

    // ---------------------------------------------------------------- signatures

    function test_forged_signatureUnderARealSignersName() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        sigs[1].signature = _ecdsa(0xBAD, vault.batchDigest(b)); // signed by someone else
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[1].signer));
        vault.settle(b, sigs);
    }

    function test_garbage_signatureBytes() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        sigs[0].signature = hex"1234";
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        vault.settle(b, sigs);
    }

    function test_malleable_highSSignatureRejected() public {
        Batch.Data memory b = _transferBatch();
        bytes32 digest = vault.batchDigest(b);
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKeys[0], digest);
        // (r, n - s, flipped v) recovers the same address: the classic malleated twin.
        sigs[0].signature = abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, sigs[0].signer));
        vault.settle(b, sigs);
    }

    function test_duplicated_signerCountsOnce() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory one = _sign(b, _quorum());
        IVault.SignerSignature[] memory sigs = new IVault.SignerSignature[](2);
        (sigs[0], sigs[1]) = (one[0], one[0]);
        vm.expectRevert(abi.encodeWithSelector(IVault.SignersNotAscending.selector, one[0].signer));
        vault.settle(b, sigs);
    }

    function test_unsorted_signersRejected() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        (sigs[0], sigs[1]) = (sigs[1], sigs[0]);
        vm.expectRevert(abi.encodeWithSelector(IVault.SignersNotAscending.selector, sigs[1].signer));
        vault.settle(b, sigs);
    }

    function test_zeroAddress_signerRejected() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        sigs[0].signer = address(0);
        vm.expectRevert(abi.encodeWithSelector(IVault.SignersNotAscending.selector, address(0)));
        vault.settle(b, sigs);
    }

    function test_underThreshold() public {
        Batch.Data memory b = _transferBatch();
        uint256[] memory keys = new uint256[](1);
        keys[0] = signerKeys[2];
        IVault.SignerSignature[] memory sigs = _sign(b, keys);
        vm.expectRevert(abi.encodeWithSelector(IVault.BelowThreshold.selector, uint256(1), uint256(2)));
        vault.settle(b, sigs);
    }

    function test_noSignatures() public {
        Batch.Data memory b = _transferBatch();
        vm.expectRevert(abi.encodeWithSelector(IVault.BelowThreshold.selector, uint256(0), uint256(2)));
        vault.settle(b, new IVault.SignerSignature[](0));
    }

    function test_unknown_signer() public {
        Batch.Data memory b = _transferBatch();
        uint256[] memory keys = new uint256[](2);
        (keys[0], keys[1]) = (signerKeys[0], 0xBAD);
        IVault.SignerSignature[] memory sigs = _sign(b, keys);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownSigner.selector, vm.addr(0xBAD)));
        vault.settle(b, sigs);
    }

    function test_rotatedOut_signerRejected() public {
        Batch.Data memory b = _transferBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        address[] memory fresh = new address[](2);
        (fresh[0], fresh[1]) = (vm.addr(0xF1), vm.addr(0xF2));
        vm.prank(governor);
        vault.setSigners(fresh, 2);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownSigner.selector, sigs[0].signer));
        vault.settle(b, sigs);
    }

    function test_contractSigner_viaEIP1271() public {
        MockERC1271Wallet wallet = new MockERC1271Wallet(vm.addr(0x5AFE));
        address[] memory set = new address[](2);
        (set[0], set[1]) = (signerAddrs[0], address(wallet));
        vm.prank(governor);
        vault.setSigners(set, 2);

        Batch.Data memory b = _transferBatch();
        bytes32 digest = vault.batchDigest(b);
        IVault.SignerSignature[] memory sigs = new IVault.SignerSignature[](2);
        IVault.SignerSignature memory eoa = IVault.SignerSignature(signerAddrs[0], _ecdsa(signerKeys[0], digest));
        IVault.SignerSignature memory sc = IVault.SignerSignature(address(wallet), _ecdsa(0x5AFE, digest));
        (sigs[0], sigs[1]) = signerAddrs[0] < address(wallet) ? (eoa, sc) : (sc, eoa);

        wallet.setRejectAll(true);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, address(wallet)));
        vault.settle(b, sigs);

        wallet.setRejectAll(false);
        vault.settle(b, sigs);
        assertEq(uint256(vault.lastSequence()), 1, "settled with an EIP-1271 signer");
    }

    // ---------------------------------------------------------------- sequence and chain

    function test_skipped_sequence() public {
        Batch.Data memory b = _transferBatch();
        b.sequence = 5;
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.BadSequence.selector, uint64(1), uint64(5)));
        vault.settle(b, sigs);
    }

    function test_stale_sequence() public {
        _settle(_nextBatch());
        _settle(_nextBatch());
        Batch.Data memory b = _transferBatch();
        b.sequence = 2;
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.BadSequence.selector, uint64(3), uint64(2)));
        vault.settle(b, sigs);
    }

    function test_wrong_prevHash_forkedChain() public {
        Batch.Data memory first = _nextBatch();
        _settle(first);
        Batch.Data memory b = _transferBatch();
        b.prevHash = bytes32(0); // built on a different history
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(abi.encodeWithSelector(IVault.BadPrevHash.selector, vault.lastBatchHash(), bytes32(0)));
        vault.settle(b, sigs);
    }

    // ---------------------------------------------------------------- tokens

    function test_feeOnTransfer_tokenRefused() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(100); // 1%
        vm.prank(governor);
        uint16 asset = vault.listAsset(IERC20(address(fot)), 1, 0);
        fot.mint(alice, 100e18);
        vm.startPrank(alice);
        fot.approve(address(vault), 100e18);
        vm.expectRevert(abi.encodeWithSelector(IVault.TransferAmountMismatch.selector, uint256(100e18), uint256(99e18)));
        vault.deposit(alice, asset, 100e18);
        vm.stopPrank();
    }

    function test_rebasing_tokenRefusedWhenItDeliversLess() public {
        RebasingToken reb = new RebasingToken();
        vm.prank(governor);
        uint16 asset = vault.listAsset(IERC20(address(reb)), 1, 0);
        reb.mint(alice, 100e18);
        reb.rebase(3e18); // balances triple; a transfer of 100 now moves 33.33.. shares = 99.99.. tokens
        vm.startPrank(alice);
        reb.approve(address(vault), 100e18);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.TransferAmountMismatch.selector, uint256(100e18), uint256(99999999999999999999))
        );
        vault.deposit(alice, asset, 100e18);
        vm.stopPrank();
    }

    function test_reentrant_tokenCannotReenterDeposit() public {
        ReentrantToken re = new ReentrantToken();
        vm.prank(governor);
        uint16 asset = vault.listAsset(IERC20(address(re)), 1, 0);
        re.mint(alice, 10e18);
        vm.prank(alice);
        re.approve(address(vault), 10e18);
        re.arm(address(vault), abi.encodeCall(IVaultMain.deposit, (alice, asset, 1e18)));
        vm.prank(alice);
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vault.deposit(alice, asset, 1e18);
    }

    function test_reentrant_tokenCannotDoubleExecuteAWithdrawal() public {
        ReentrantToken re = new ReentrantToken();
        vm.prank(governor);
        uint16 asset = vault.listAsset(IERC20(address(re)), 1, 0);
        re.mint(alice, 10e18);
        vm.startPrank(alice);
        re.approve(address(vault), 10e18);
        vault.deposit(alice, asset, 10e18);
        uint256 id = vault.requestWithdrawal(asset, 1e18, alice);
        vm.stopPrank();
        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        re.arm(address(vault), abi.encodeCall(IVaultExtension.executeWithdrawal, (id)));
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vault.executeWithdrawal(id);
        // Disarmed, the withdrawal pays exactly once.
        re.arm(address(0xdead), "");
        vault.executeWithdrawal(id);
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalNotPending.selector, id));
        vault.executeWithdrawal(id);
        assertEq(re.balanceOf(alice), 1e18, "paid once");
    }

    function test_unlisted_tokenRefused() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(2)));
        vault.deposit(alice, 2, 1);
    }

    function test_directTransfer_isNotCredited() public {
        usd.mint(address(vault), 5e6); // a gift: the vault holds more than it owes, nobody's balance moves
        assertEq(vault.totalOwed(USD), 1000e6, "owed");
        assertEq(usd.balanceOf(address(vault)), 1005e6, "held");
        _assertSolvent();
    }
}
