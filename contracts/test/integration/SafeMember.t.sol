// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {VaultFixture} from "../utils/VaultFixture.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {IVaultExtension} from "../../src/interfaces/IVaultExtension.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {SafeDeployer, ISafe, Owner1271Wallet} from "./SafeHelpers.sol";

/// @notice A real Safe 1.4.1 (singleton, proxy factory and CompatibilityFallbackHandler deployed from the
/// npm package's compiled artefacts) as a clearing member, and contract accounts as risk signers.
contract SafeMemberTest is VaultFixture {
    SafeDeployer internal deployer;
    ISafe internal safe;
    uint32 internal safeAccount;
    uint256[] internal ownerKeys; // 2-of-3
    address internal treasury = address(0x7EA5);

    function setUp() public override {
        super.setUp();
        deployer = new SafeDeployer();
        ownerKeys.push(0x0A1);
        ownerKeys.push(0x0A2);
        ownerKeys.push(0x0A3);
        address[] memory owners = new address[](3);
        for (uint256 i; i < 3; ++i) {
            owners[i] = vm.addr(ownerKeys[i]);
        }
        safe = deployer.createSafe(owners, 2);
        vm.prank(operator);
        safeAccount = vault.admitMember(address(safe));
        _deposit(alice, USD, 1); // make sure an ordinary member exists alongside
        // anyone may pay for a member: bob deposits 1,000 usd for the Safe
        usd.mint(bob, 1_000 * USD_UNIT);
        vm.startPrank(bob);
        usd.approve(address(vault), 1_000 * USD_UNIT);
        vault.deposit(address(safe), USD, 1_000 * USD_UNIT);
        vm.stopPrank();
    }

    function _keys(uint256 a, uint256 b) internal view returns (uint256[] memory k) {
        k = new uint256[](2);
        (k[0], k[1]) = (ownerKeys[a], ownerKeys[b]);
    }

    function test_safeIsAMemberWithItsDeposit() public view {
        assertEq(uint256(vault.accountOf(address(safe))), uint256(safeAccount), "account");
        assertEq(vault.memberOf(safeAccount), address(safe), "member");
        assertEq(vault.balanceOf(safeAccount, USD), 1_000 * USD_UNIT, "balance");
        assertEq(safe.getThreshold(), 2, "2-of-3");
    }

    /// (a) The Safe calls requestWithdrawal itself, through execTransaction signed by two owners.
    function test_requestWithdrawalThroughExecTransaction() public {
        bytes memory call_ = abi.encodeCall(IVaultExtension.requestWithdrawal, (USD, uint128(400 * USD_UNIT), treasury));
        uint256 nonceBefore = safe.nonce();
        bool ok = deployer.exec(safe, _keys(0, 2), address(vault), call_);
        assertTrue(ok, "execTransaction");
        assertEq(safe.nonce(), nonceBefore + 1, "safe nonce");
        assertEq(vault.balanceOf(safeAccount, USD), 600 * USD_UNIT, "balance after request");
        IVault.Withdrawal memory w = vault.withdrawal(1);
        assertEq(uint256(w.account), uint256(safeAccount), "owner account");
        assertEq(w.to, treasury, "to");
        assertEq(uint256(w.status), 1, "pending");

        vm.warp(block.timestamp + WITHDRAWAL_DELAY);
        vault.executeWithdrawal(1);
        assertEq(usd.balanceOf(treasury), 400 * USD_UNIT, "paid to the treasury");

        // the Safe can also cancel its own request (and only it can)
        ok = deployer.exec(
            safe, _keys(1, 2), address(vault), abi.encodeCall(IVaultExtension.requestWithdrawal, (USD, uint128(100 * USD_UNIT), treasury))
        );
        vm.expectRevert(abi.encodeWithSelector(IVault.NotWithdrawalOwner.selector, uint256(2), address(this)));
        vault.cancelWithdrawal(2);
        deployer.exec(safe, _keys(0, 1), address(vault), abi.encodeCall(IVaultExtension.cancelWithdrawal, (uint256(2))));
        assertEq(vault.balanceOf(safeAccount, USD), 600 * USD_UNIT, "cancelled back");
    }

    /// A single owner cannot make the Safe act (Safe's own GS020), so the vault never sees the call.
    function test_execTransactionWithOneOwnerFails() public {
        uint256[] memory one = new uint256[](1);
        one[0] = ownerKeys[0];
        bytes memory call_ = abi.encodeCall(IVaultExtension.requestWithdrawal, (USD, uint128(1), treasury));
        vm.expectRevert(abi.encodeWithSignature("Error(string)", "GS020"));
        deployer.exec(safe, one, address(vault), call_);
    }

    function _request(uint128 amount) internal view returns (IVault.WithdrawalRequest memory) {
        return IVault.WithdrawalRequest({
            member: address(safe),
            asset: USD,
            amount: amount,
            to: treasury,
            nonce: vault.withdrawalNonce(address(safe)),
            deadline: uint64(block.timestamp + 1 hours)
        });
    }

    /// (b) Anyone relays a request the Safe signed with EIP-1271: two owners sign the Safe message hash of
    /// the vault's digest, and the CompatibilityFallbackHandler validates it for the Safe.
    function test_requestWithdrawalBySigEip1271() public {
        IVault.WithdrawalRequest memory req = _request(uint128(250 * USD_UNIT));
        bytes32 digest = vault.withdrawalRequestDigest(req);
        assertEq(deployer.safeMessageHash(safe, digest), deployer.safeMessageHashReference(safe, digest), "SafeMessage");
        bytes memory sig = deployer.sign1271(safe, _keys(2, 1), digest);
        vm.prank(address(0x5E1A7)); // a relayer
        uint256 id = vault.requestWithdrawalBySig(req, sig);
        assertEq(vault.withdrawalNonce(address(safe)), 1, "nonce used");
        assertEq(vault.balanceOf(safeAccount, USD), 750 * USD_UNIT, "balance");
        IVault.Withdrawal memory w = vault.withdrawal(id);
        assertEq(uint256(w.amount), 250 * USD_UNIT, "amount");

        // the same signature cannot be used twice (the nonce moved on)
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidNonce.selector, uint256(1), uint256(0)));
        vault.requestWithdrawalBySig(req, sig);
    }

    /// Only one of the two required owners signed: the Safe rejects it and the vault says so.
    function test_requestWithdrawalBySigOneOwnerIsRejected() public {
        IVault.WithdrawalRequest memory req = _request(uint128(250 * USD_UNIT));
        uint256[] memory one = new uint256[](1);
        one[0] = ownerKeys[1];
        bytes memory sig = deployer.sign1271(safe, one, vault.withdrawalRequestDigest(req));
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidMemberSignature.selector, address(safe)));
        vault.requestWithdrawalBySig(req, sig);
        assertEq(vault.withdrawalNonce(address(safe)), 0, "nonce unused");
        assertEq(vault.balanceOf(safeAccount, USD), 1_000 * USD_UNIT, "balance unchanged");
    }

    /// Two owners, but over the raw digest rather than the Safe message hash: rejected.
    function test_requestWithdrawalBySigWrongHashIsRejected() public {
        IVault.WithdrawalRequest memory req = _request(uint128(250 * USD_UNIT));
        bytes memory sig = deployer.ownerSignatures(_keys(0, 1), vault.withdrawalRequestDigest(req));
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidMemberSignature.selector, address(safe)));
        vault.requestWithdrawalBySig(req, sig);
    }

    /// An owner's plain ECDSA signature is not the Safe's: the member is the Safe, not its owner.
    function test_requestWithdrawalBySigOwnerEoaSignatureIsRejected() public {
        IVault.WithdrawalRequest memory req = _request(uint128(250 * USD_UNIT));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKeys[0], vault.withdrawalRequestDigest(req));
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidMemberSignature.selector, address(safe)));
        vault.requestWithdrawalBySig(req, abi.encodePacked(r, s, v));
    }

    // ------------------------------------------------------------------ contract risk signers

    ISafe internal riskSafe;
    Owner1271Wallet internal wallet;
    uint256[] internal riskKeys;
    uint256 internal constant WALLET_KEY = 0xC0FFEE;
    uint256 internal constant RISK_EOA_KEY = 0xE0A;

    /// @dev Signer set: a Safe (2-of-3 owners), a small EIP-1271 wallet and an EOA, threshold 2.
    function _contractSigners() internal {
        address[] memory riskOwners = new address[](3);
        for (uint256 i; i < 3; ++i) {
            riskKeys.push(0xB10 + i);
            riskOwners[i] = vm.addr(riskKeys[i]);
        }
        riskSafe = deployer.createSafe(riskOwners, 2);
        wallet = new Owner1271Wallet(vm.addr(WALLET_KEY));
        address[] memory set = new address[](3);
        (set[0], set[1], set[2]) = (address(riskSafe), address(wallet), vm.addr(RISK_EOA_KEY));
        vm.prank(governor);
        vault.setSigners(set, 2);
    }

    function _safeSig(bytes32 digest, uint256[] memory owners) internal view returns (IVault.SignerSignature memory) {
        return IVault.SignerSignature(address(riskSafe), deployer.sign1271(riskSafe, owners, digest));
    }

    function _cashBatch() internal returns (Batch.Data memory b) {
        _deposit(alice, USD, 100 * USD_UNIT);
        b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -30e6), _t(BOB, USD, 30e6));
    }

    /// The two contract signers alone meet the threshold.
    function test_contractRiskSignersMeetThreshold() public {
        _contractSigners();
        Batch.Data memory b = _cashBatch();
        bytes32 digest = vault.batchDigest(b);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (riskKeys[0], riskKeys[2]);
        IVault.SignerSignature memory walletSig = IVault.SignerSignature(address(wallet), _ecdsa(WALLET_KEY, digest));
        vault.settle(b, _sorted(_safeSig(digest, two), walletSig));
        assertEq(uint256(vault.lastSequence()), 1, "settled by two contract signers");
        assertEq(vault.balanceOf(BOB, USD), 30e6, "applied");
    }

    /// A Safe signer plus an EOA signer also meet it (mixed schemes in one list).
    function test_safeAndEoaRiskSignersMeetThreshold() public {
        _contractSigners();
        Batch.Data memory b = _cashBatch();
        bytes32 digest = vault.batchDigest(b);
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (riskKeys[1], riskKeys[2]);
        IVault.SignerSignature memory eoaSig = IVault.SignerSignature(vm.addr(RISK_EOA_KEY), _ecdsa(RISK_EOA_KEY, digest));
        vault.settle(b, _sorted(_safeSig(digest, two), eoaSig));
        assertEq(uint256(vault.lastSequence()), 1, "settled");
    }

    /// One contract signer alone is below the threshold.
    function test_oneContractRiskSignerIsBelowThreshold() public {
        _contractSigners();
        Batch.Data memory b = _cashBatch();
        uint256[] memory two = new uint256[](2);
        (two[0], two[1]) = (riskKeys[0], riskKeys[1]);
        IVault.SignerSignature[] memory lone = new IVault.SignerSignature[](1);
        lone[0] = _safeSig(vault.batchDigest(b), two);
        vm.expectRevert(abi.encodeWithSelector(IVault.BelowThreshold.selector, uint256(1), uint256(2)));
        vault.settle(b, lone);
    }

    /// A Safe signature with only one of its two owners is an invalid signature of the Safe signer.
    function test_underSignedSafeRiskSignatureIsInvalid() public {
        _contractSigners();
        Batch.Data memory b = _cashBatch();
        bytes32 digest = vault.batchDigest(b);
        uint256[] memory one = new uint256[](1);
        one[0] = riskKeys[1];
        IVault.SignerSignature memory walletSig = IVault.SignerSignature(address(wallet), _ecdsa(WALLET_KEY, digest));
        IVault.SignerSignature[] memory sigs = _sorted(_safeSig(digest, one), walletSig);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidSignature.selector, address(riskSafe)));
        vault.settle(b, sigs);
    }

    function _sorted(IVault.SignerSignature memory a, IVault.SignerSignature memory b)
        internal
        pure
        returns (IVault.SignerSignature[] memory s)
    {
        s = new IVault.SignerSignature[](2);
        (s[0], s[1]) = a.signer < b.signer ? (a, b) : (b, a);
    }
}
