// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {VaultFixture} from "../utils/VaultFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {Vault} from "../../src/Vault.sol";
import {VaultExtension} from "../../src/VaultExtension.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

/// @notice Construction, roles, members and assets, signer set, delays, pause.
contract VaultGovernanceTest is VaultFixture {
    // ---------------------------------------------------------------- construction

    function test_constructor_state() public view {
        assertEq(uint256(vault.accountCount()), 7, "3 system accounts + 4 members");
        assertEq(uint256(vault.assetCount()), 2, "usd + weth");
        assertEq(address(vault.assetToken(USD)), address(usd), "asset 0");
        assertEq(uint256(vault.threshold()), 2, "threshold");
        assertEq(vault.signers().length, 3, "signers");
        assertTrue(vault.isSigner(signerAddrs[0]), "isSigner");
        assertEq(uint256(vault.withdrawalDelay()), WITHDRAWAL_DELAY, "delay");
        assertEq(uint256(vault.escapePeriod()), ESCAPE_PERIOD, "escape");
        assertEq(uint256(vault.lastSettledAt()), START, "hatch clock starts at deployment");
        assertTrue(vault.hasRole(vault.DEFAULT_ADMIN_ROLE(), governor), "admin");
        assertTrue(vault.hasRole(vault.GOVERNOR_ROLE(), governor), "governor");
        assertTrue(vault.hasRole(vault.GUARDIAN_ROLE(), guardian), "guardian");
        assertTrue(vault.hasRole(vault.OPERATOR_ROLE(), operator), "operator");
        assertEq(vault.memberOf(ALICE), alice, "memberOf");
        assertEq(uint256(vault.accountOf(bob)), BOB, "accountOf");
        assertEq(vault.memberOf(FUND), address(0), "system accounts have no member");
    }

    function test_constructor_domainSeparator() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("crossclear Vault"),
                keccak256("1"),
                block.chainid,
                address(vault)
            )
        );
        assertEq(vault.domainSeparator(), expected, "domain");
    }

    function test_constructor_setsTheLooseningRules() public {
        ICrossclearVault v = ICrossclearVault(
            address(new Vault(usd, governor, guardian, operator, signerAddrs, 2, 1 hours, 1, 1 days, 2500, new VaultExtension()))
        );
        (uint64 delay, uint16 band) = v.loosening();
        assertEq(delay, 1 days, "loosening delay");
        assertEq(band, 2500, "mark band");
    }

    function test_constructor_rejectsBadArguments() public {
        VaultExtension ext = new VaultExtension();
        address[] memory none = new address[](0);
        vm.expectRevert(IVault.ZeroAddress.selector);
        new Vault(usd, address(0), guardian, operator, signerAddrs, 2, 1 hours, 1, 0, 0, ext);
        vm.expectRevert(IVault.ZeroAddress.selector);
        new Vault(IERC20(address(0)), governor, guardian, operator, signerAddrs, 2, 1 hours, 1, 0, 0, ext);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidThreshold.selector, uint256(1), uint256(0)));
        new Vault(usd, governor, guardian, operator, none, 1, 1 hours, 1, 0, 0, ext);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidDelay.selector, uint64(0)));
        new Vault(usd, governor, guardian, operator, signerAddrs, 2, 1 hours, 0, 0, 0, ext);
        // finding 7 of the fourth review: D below the floor the outflow bound assumes
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalDelayTooShort.selector, uint64(0), uint64(1 hours)));
        new Vault(usd, governor, guardian, operator, signerAddrs, 2, 0, 1, 0, 0, ext);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidDelay.selector, uint64(366 days)));
        new Vault(usd, governor, guardian, operator, signerAddrs, 2, 1 hours, 1, 366 days, 0, ext);
        MockERC20 odd = new MockERC20("Odd", "ODD", 37);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnsupportedDecimals.selector, uint8(37)));
        new Vault(odd, governor, guardian, operator, signerAddrs, 2, 1 hours, 1, 0, 0, ext);
    }

    // ---------------------------------------------------------------- members

    function test_admit_numbersAccountsFromFour() public {
        vm.expectEmit();
        emit IVault.MemberAdmitted(address(0xE1), 8);
        vm.prank(operator);
        uint32 account = vault.admitMember(address(0xE1));
        assertEq(uint256(account), 8, "next account");
        assertEq(uint256(vault.accountCount()), 8, "count");
    }

    function test_admit_errors() public {
        bytes32 role = vault.OPERATOR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        vm.prank(alice);
        vault.admitMember(address(0xE1));
        vm.startPrank(operator);
        vm.expectRevert(IVault.ZeroAddress.selector);
        vault.admitMember(address(0));
        vm.expectRevert(abi.encodeWithSelector(IVault.AlreadyMember.selector, alice));
        vault.admitMember(alice);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- assets

    function test_list_readsDecimalsAndTakesItsFirstMark() public {
        MockERC20 wbtc = new MockERC20("WBTC", "WBTC", 8);
        vm.expectEmit();
        emit IVault.AssetListed(2, address(wbtc), 8, uint128(60_000 * USD_UNIT), 1500);
        vm.prank(governor);
        uint16 asset = vault.listAsset(IERC20(address(wbtc)), uint128(60_000 * USD_UNIT), 1500);
        assertEq(uint256(asset), 2, "asset number");
        (uint128 price, uint16 haircut) = vault.markOf(asset);
        assertEq(uint256(price), 60_000 * USD_UNIT, "governance's first price");
        assertEq(uint256(haircut), 1500, "governance's first haircut");
    }

    function test_list_errors() public {
        bytes32 role = vault.GOVERNOR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, operator, role));
        vm.prank(operator);
        vault.listAsset(IERC20(address(0xAAA)), 1, 0);
        vm.startPrank(governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.AssetAlreadyListed.selector, address(weth)));
        vault.listAsset(IERC20(address(weth)), 1, 0);
        vm.expectRevert(IVault.ZeroAddress.selector);
        vault.listAsset(IERC20(address(0)), 1, 0);
        MockERC20 odd = new MockERC20("Odd", "ODD", 40);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnsupportedDecimals.selector, uint8(40)));
        vault.listAsset(IERC20(address(odd)), 1, 0);
        // an asset is listed with its first mark (issue 11, finding 9)
        MockERC20 wbtc = new MockERC20("WBTC", "WBTC", 8);
        vm.expectRevert(IVault.ListingUnpriced.selector);
        vault.listAsset(IERC20(address(wbtc)), 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidHaircut.selector, uint16(2), uint16(10_001)));
        vault.listAsset(IERC20(address(wbtc)), 1, 10_001);
        vm.stopPrank();
    }

    function test_list_atMost32Assets() public {
        vm.startPrank(governor);
        for (uint256 i = 2; i < 32; ++i) {
            vault.listAsset(IERC20(address(new MockERC20("T", "T", 18))), 1, 0);
        }
        MockERC20 extra = new MockERC20("T", "T", 18);
        vm.expectRevert(IVault.TooManyAssets.selector);
        vault.listAsset(IERC20(address(extra)), 1, 0);
        vm.stopPrank();
        assertEq(uint256(vault.assetCount()), 32, "count");
    }

    function test_views_unknownAssetReverts() public {
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(2)));
        vault.markOf(2);
        vm.expectRevert(abi.encodeWithSelector(IVault.UnknownAsset.selector, uint16(40)));
        vault.assetToken(40);
    }

    // ---------------------------------------------------------------- signers

    function test_setSigners_replacesTheSet() public {
        address[] memory set = new address[](1);
        set[0] = vm.addr(0xF1);
        vm.expectEmit();
        emit IVault.SignersUpdated(set, 1);
        vm.prank(governor);
        vault.setSigners(set, 1);
        assertFalse(vault.isSigner(signerAddrs[0]), "old signer removed");
        assertTrue(vault.isSigner(set[0]), "new signer");
        uint256[] memory keys = new uint256[](1);
        keys[0] = 0xF1;
        Batch.Data memory b = _nextBatch();
        vault.settle(b, _sign(b, keys));
        assertEq(uint256(vault.lastSequence()), 1, "1-of-1 settles");
    }

    function test_setSigners_errors() public {
        bytes32 role = vault.GOVERNOR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, role));
        vm.prank(guardian);
        vault.setSigners(signerAddrs, 2);

        vm.startPrank(governor);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidThreshold.selector, uint256(0), uint256(3)));
        vault.setSigners(signerAddrs, 0);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidThreshold.selector, uint256(4), uint256(3)));
        vault.setSigners(signerAddrs, 4);
        address[] memory withZero = new address[](2);
        withZero[0] = signerAddrs[0];
        vm.expectRevert(IVault.ZeroAddress.selector);
        vault.setSigners(withZero, 1);
        address[] memory dup = new address[](2);
        (dup[0], dup[1]) = (signerAddrs[1], signerAddrs[1]);
        vm.expectRevert(abi.encodeWithSelector(IVault.DuplicateSigner.selector, signerAddrs[1]));
        vault.setSigners(dup, 1);
        vm.stopPrank();
    }

    // ---------------------------------------------------------------- delays

    function test_delays_setAndBounded() public {
        vm.startPrank(governor);
        vm.expectEmit();
        emit IVault.WithdrawalDelayUpdated(1 hours);
        vault.setWithdrawalDelay(1 hours); // the floor itself is accepted
        vm.expectRevert(abi.encodeWithSelector(IVault.WithdrawalDelayTooShort.selector, uint64(0), uint64(1 hours)));
        vault.setWithdrawalDelay(0);
        vm.expectRevert(
            abi.encodeWithSelector(IVault.WithdrawalDelayTooShort.selector, uint64(1 hours - 1), uint64(1 hours))
        );
        vault.setWithdrawalDelay(1 hours - 1);
        vm.expectEmit();
        emit IVault.EscapePeriodUpdated(30 days);
        vault.setEscapePeriod(30 days);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidDelay.selector, uint64(366 days)));
        vault.setWithdrawalDelay(366 days);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidDelay.selector, uint64(0)));
        vault.setEscapePeriod(0);
        vm.expectRevert(abi.encodeWithSelector(IVault.InvalidDelay.selector, uint64(366 days)));
        vault.setEscapePeriod(366 days);
        vm.stopPrank();
        assertEq(uint256(vault.withdrawalDelay()), 1 hours, "delay");
        assertEq(uint256(vault.nextEscapePeriod()), 30 days, "escape period scheduled");
        _settle(_nextBatch());
        assertEq(uint256(vault.escapePeriod()), 30 days, "escape period in force from the next batch");

        bytes32 role = vault.GOVERNOR_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        vm.prank(alice);
        vault.setEscapePeriod(1 days);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        vm.prank(alice);
        vault.setWithdrawalDelay(1 days);
    }

    // ---------------------------------------------------------------- pause

    function test_pause_blocksSettlementNotRequests() public {
        _deposit(alice, USD, 10e6);
        vm.prank(guardian);
        vault.pause();
        Batch.Data memory b = _nextBatch();
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.settle(b, sigs);
        vm.prank(alice);
        vault.requestWithdrawal(USD, 1e6, alice); // never blocked
        vm.prank(governor);
        vault.unpause();
        vault.settle(b, sigs);
    }

    function test_pause_roles() public {
        bytes32 guardianRole = vault.GUARDIAN_ROLE();
        bytes32 governorRole = vault.GOVERNOR_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, governor, guardianRole)
        );
        vm.prank(governor);
        vault.pause();
        vm.prank(guardian);
        vault.pause();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, guardian, governorRole)
        );
        vm.prank(guardian);
        vault.unpause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(guardian);
        vault.pause();
    }
}
