// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {RegistryFixture} from "./RegistryFixture.sol";
import {Registry} from "../../src/Registry.sol";
import {IRegistry} from "../../src/interfaces/IRegistry.sol";
import {KeyChange} from "../../src/libraries/KeyChange.sol";
import {MockERC1271Wallet} from "../utils/MockERC1271Wallet.sol";

/// @notice The registry: governed changes only, venue consent to key changes, key windows that keep
/// judging old fills by the key of their time, versioned terms, permanent symbol maps, every refusal a
/// custom error.
contract RegistryTest is RegistryFixture {
    bytes32 internal constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");

    // ------------------------------------------------------------------ governance

    function test_onlyTheTimelockChangesAnything() public {
        assertTrue(registry.hasRole(GOVERNOR_ROLE, address(timelock)), "timelock governs");
        bytes[] memory calls = new bytes[](6);
        calls[0] = abi.encodeCall(IRegistry.addInstrument, ("ETH-USD-PERP", "perp", "ETH", _terms(8, 1)));
        calls[1] = abi.encodeCall(IRegistry.setTerms, (BTC, _terms(6, 500)));
        calls[2] = abi.encodeCall(IRegistry.addVenue, ("evil", "cex", proposer, proposer, 0, ""));
        calls[3] = abi.encodeCall(IRegistry.rotateVenueKey, (CEX, proposer, 0, ""));
        calls[4] = abi.encodeCall(IRegistry.mapSymbol, (CEX, "BTCUSDT", BTC));
        calls[5] = abi.encodeCall(IRegistry.setMemberTier, (proposer, "tier1"));
        for (uint256 i = 0; i < calls.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, proposer, GOVERNOR_ROLE)
            );
            vm.prank(proposer); // the proposer (the operator's Safe) cannot skip the delay
            (bool ok,) = address(registry).call(calls[i]);
            assertTrue(ok, "expectRevert consumed the revert");
        }
    }

    function test_constructorRefusesZeroGovernorAndBadParams() public {
        vm.expectRevert(IRegistry.ZeroAddress.selector);
        new Registry(address(0), IRegistry.Params(1, 0, 1));
        vm.expectRevert(abi.encodeWithSelector(IRegistry.InvalidParams.selector, "fillMaxAgeMs is zero"));
        new Registry(address(1), IRegistry.Params(0, 0, 1));
        vm.expectRevert(abi.encodeWithSelector(IRegistry.InvalidParams.selector, "minCureS is zero"));
        new Registry(address(1), IRegistry.Params(1, 0, 0));
    }

    // ------------------------------------------------------------------ instruments

    function test_termsAreVersionedAndOldVersionsStillAnswer() public {
        uint64 first = uint64(block.timestamp);
        vm.warp(block.timestamp + 10);
        bytes memory data = abi.encodeCall(IRegistry.setTerms, (BTC, _terms(8, 3)));
        vm.prank(proposer);
        timelock.schedule(address(registry), 0, data, bytes32(0), bytes32(0), MIN_DELAY);
        vm.warp(block.timestamp + MIN_DELAY);
        vm.expectEmit(true, false, false, true);
        emit IRegistry.TermsSet(keccak256(bytes(BTC)), BTC, _terms(8, 3), uint64(block.timestamp));
        timelock.execute(address(registry), 0, data, bytes32(0), bytes32(0));
        (string memory kind, string memory underlying, IRegistry.TermsVersion[] memory versions) =
            registry.instrument(BTC);
        assertEq(keccak256(bytes(kind)), keccak256("perp"), "kind");
        assertEq(keccak256(bytes(underlying)), keccak256("BTC"), "underlying");
        assertEq(versions.length, 2, "two versions");
        assertEq(uint256(registry.termsAt(BTC, first).feeBps), 1, "old fee at the old time");
        assertEq(uint256(registry.termsAt(BTC, uint64(block.timestamp)).feeBps), 3, "new fee now");
        vm.expectRevert(abi.encodeWithSelector(IRegistry.UnknownInstrument.selector, BTC));
        registry.termsAt(BTC, versions[0].since - 1);
    }

    function test_instrumentRefusals() public {
        _governedReverts(
            abi.encodeCall(IRegistry.addInstrument, (BTC, "perp", "BTC", _terms(8, 1))),
            abi.encodeWithSelector(IRegistry.InstrumentExists.selector, BTC)
        );
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, ("NOPE", _terms(8, 1))),
            abi.encodeWithSelector(IRegistry.UnknownInstrument.selector, "NOPE")
        );
        _governedReverts(
            abi.encodeCall(IRegistry.addInstrument, ("", "perp", "BTC", _terms(8, 1))),
            abi.encodeWithSelector(IRegistry.EmptyName.selector)
        );
        string memory long = "0123456789012345678901234567890123456789012345678901234567890123456789";
        _governedReverts(
            abi.encodeCall(IRegistry.addInstrument, (long, "perp", "BTC", _terms(8, 1))),
            abi.encodeWithSelector(IRegistry.NameTooLong.selector, bytes(long).length)
        );
        IRegistry.Terms memory t = _terms(39, 1);
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, (BTC, t)),
            abi.encodeWithSelector(IRegistry.InvalidTerms.selector, "qtyDecimals above 38")
        );
        t = _terms(8, 10_001);
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, (BTC, t)),
            abi.encodeWithSelector(IRegistry.InvalidTerms.selector, "feeBps above 10000")
        );
        t = _terms(8, 1);
        t.priceBandBps = 0;
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, (BTC, t)),
            abi.encodeWithSelector(IRegistry.InvalidTerms.selector, "priceBandBps not in 1..10000")
        );
        t = _terms(8, 1);
        t.fundingIntervalS = 0;
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, (BTC, t)),
            abi.encodeWithSelector(IRegistry.InvalidTerms.selector, "fundingIntervalS is zero")
        );
        t = _terms(8, 1);
        t.fundingCapE8 = 1e8 + 1;
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, (BTC, t)),
            abi.encodeWithSelector(IRegistry.InvalidTerms.selector, "fundingCapE8 above 100%")
        );
        t = _terms(8, 1);
        t.tick = 0;
        _governedReverts(
            abi.encodeCall(IRegistry.setTerms, (BTC, t)),
            abi.encodeWithSelector(IRegistry.InvalidTerms.selector, "tick is zero")
        );
    }

    // ------------------------------------------------------------------ venues and keys

    function test_venueNeedsItsKeysProofOfPossession() public {
        // The operator cannot register a venue under a key it does not hold: the key must sign.
        bytes memory forged = _signKey(ATTACKER_KEY, "dex", vm.addr(KEY2), 0, 0);
        _governedReverts(
            abi.encodeCall(IRegistry.addVenue, ("dex", "dex", vm.addr(ADMIN_KEY), vm.addr(KEY2), 0, forged)),
            abi.encodeWithSelector(IRegistry.VenueSignatureInvalid.selector, "dex")
        );
        _governedReverts(
            abi.encodeCall(IRegistry.addVenue, (CEX, "cex", vm.addr(ADMIN_KEY), vm.addr(KEY1), 0, "")),
            abi.encodeWithSelector(IRegistry.VenueExists.selector, CEX)
        );
        _governedReverts(
            abi.encodeCall(IRegistry.addVenue, ("dex", "dex", address(0), vm.addr(KEY2), 0, "")),
            abi.encodeWithSelector(IRegistry.ZeroAddress.selector)
        );
    }

    function test_rotationEndsTheOldWindowAndOldFillsStillVerify() public {
        uint64 t0 = uint64(block.timestamp);
        assertEq(registry.keyAt(CEX, t0), vm.addr(KEY1), "first key now");
        uint64 from = uint64(block.timestamp + MIN_DELAY + 100);
        _rotate(KEY1, vm.addr(KEY2), from);
        assertEq(registry.keyAt(CEX, t0), vm.addr(KEY1), "a fill of t0 still verifies against the old key");
        assertEq(registry.keyAt(CEX, from - 1), vm.addr(KEY1), "old key until the new one starts");
        assertEq(registry.keyAt(CEX, from), vm.addr(KEY2), "new key from validFrom");
        assertEq(registry.keyAt(CEX, t0 - 1), address(0), "no key before registration");
        (,, uint256 nonce, IRegistry.KeyWindow[] memory keys) = registry.venue(CEX);
        assertEq(nonce, 2, "nonce advanced");
        assertEq(keys.length, 2, "two windows");
        assertEq(uint256(keys[0].validUntil), uint256(from), "old window ends at the new start");
        assertEq(uint256(keys[1].validUntil), uint256(type(uint64).max), "new window open");
    }

    function test_adminMayRotateAndRevoke() public {
        _rotate(ADMIN_KEY, vm.addr(KEY2), 0);
        uint64 rotated = uint64(block.timestamp);
        assertEq(registry.keyAt(CEX, rotated), vm.addr(KEY2), "admin rotated");
        vm.warp(block.timestamp + 5);
        _rotate(ADMIN_KEY, address(0), 0); // compromised key: end it, no successor
        assertEq(registry.keyAt(CEX, uint64(block.timestamp)), address(0), "no key after revocation");
        assertEq(registry.keyAt(CEX, rotated), vm.addr(KEY2), "revoked key still judges its own window");
        // a new key after a revocation needs the admin: the revoked key cannot consent
        (,, uint256 nonce,) = registry.venue(CEX);
        bytes memory byOld = _signKey(KEY2, CEX, vm.addr(KEY1), 0, nonce);
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, (CEX, vm.addr(KEY1), 0, byOld)),
            abi.encodeWithSelector(IRegistry.VenueSignatureInvalid.selector, CEX)
        );
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, (CEX, address(0), 0, _signKey(ADMIN_KEY, CEX, address(0), 0, nonce))),
            abi.encodeWithSelector(IRegistry.NoCurrentKey.selector, CEX)
        );
        _rotate(ADMIN_KEY, vm.addr(KEY1), 0);
        assertEq(registry.keyAt(CEX, uint64(block.timestamp)), vm.addr(KEY1), "re-keyed by the admin");
    }

    /// A venue whose admin is a contract account (a Safe) consents through EIP-1271.
    function test_contractAdminConsentsByEip1271() public {
        MockERC1271Wallet safe = new MockERC1271Wallet(vm.addr(ADMIN_KEY));
        _governed(
            abi.encodeCall(
                IRegistry.addVenue, ("dao-venue", "dex", address(safe), vm.addr(KEY2), 0, _signKey(KEY2, "dao-venue", vm.addr(KEY2), 0, 0))
            )
        );
        bytes memory bySafeOwner = _signKey(ADMIN_KEY, "dao-venue", vm.addr(KEY1), 0, 1);
        safe.setRejectAll(true);
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, ("dao-venue", vm.addr(KEY1), 0, bySafeOwner)),
            abi.encodeWithSelector(IRegistry.VenueSignatureInvalid.selector, "dao-venue")
        );
        safe.setRejectAll(false);
        _governed(abi.encodeCall(IRegistry.rotateVenueKey, ("dao-venue", vm.addr(KEY1), 0, bySafeOwner)));
        assertEq(registry.keyAt("dao-venue", uint64(block.timestamp)), vm.addr(KEY1), "rotated by the Safe");
    }

    function test_rotationRefusals() public {
        (,, uint256 nonce,) = registry.venue(CEX);
        // the operator alone (its own signature) cannot rotate a venue's key
        _governedReverts(
            abi.encodeCall(
                IRegistry.rotateVenueKey, (CEX, vm.addr(ATTACKER_KEY), 0, _signKey(ATTACKER_KEY, CEX, vm.addr(ATTACKER_KEY), 0, nonce))
            ),
            abi.encodeWithSelector(IRegistry.VenueSignatureInvalid.selector, CEX)
        );
        // a signature over a used nonce is not replayable
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, (CEX, vm.addr(KEY2), 0, _signKey(KEY1, CEX, vm.addr(KEY2), 0, nonce - 1))),
            abi.encodeWithSelector(IRegistry.VenueSignatureInvalid.selector, CEX)
        );
        // back-dated: the window would re-judge fills already settled
        uint64 past = uint64(block.timestamp);
        bytes32 salt = bytes32(++saltCounter);
        bytes memory data = abi.encodeCall(
            IRegistry.rotateVenueKey, (CEX, vm.addr(KEY2), past, _signKey(KEY1, CEX, vm.addr(KEY2), past, nonce))
        );
        vm.prank(proposer);
        timelock.schedule(address(registry), 0, data, bytes32(0), salt, MIN_DELAY);
        vm.warp(block.timestamp + MIN_DELAY);
        vm.expectRevert(abi.encodeWithSelector(IRegistry.KeyBackdated.selector, past, uint64(block.timestamp)));
        timelock.execute(address(registry), 0, data, bytes32(0), salt);
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, (CEX, vm.addr(KEY1), 0, _signKey(KEY1, CEX, vm.addr(KEY1), 0, nonce))),
            abi.encodeWithSelector(IRegistry.KeyUnchanged.selector, vm.addr(KEY1))
        );
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, ("nope", vm.addr(KEY2), 0, "")),
            abi.encodeWithSelector(IRegistry.UnknownVenue.selector, "nope")
        );
    }

    function test_pendingKeyCannotBeOvertakenByAnEarlierOne() public {
        uint64 later = uint64(block.timestamp + 10 * MIN_DELAY);
        _rotate(KEY1, vm.addr(KEY2), later);
        (,, uint256 nonce,) = registry.venue(CEX);
        _governedReverts(
            abi.encodeCall(IRegistry.rotateVenueKey, (CEX, vm.addr(KEY1), 0, _signKey(ADMIN_KEY, CEX, vm.addr(KEY1), 0, nonce))),
            abi.encodeWithSelector(IRegistry.KeyNotAfterCurrent.selector, uint64(block.timestamp + MIN_DELAY), later)
        );
    }

    function test_keyChangeDigestIsEip712() public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("crossclear Registry"),
                keccak256("1"),
                block.chainid,
                address(registry)
            )
        );
        assertEq(registry.domainSeparator(), domain, "domain");
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("KeyChange(string venue,address newKey,uint64 validFrom,uint256 nonce)"),
                keccak256(bytes(CEX)),
                vm.addr(KEY2),
                uint64(7),
                uint256(3)
            )
        );
        assertEq(KeyChange.hash(CEX, vm.addr(KEY2), 7, 3), structHash, "struct hash");
        assertEq(
            registry.keyChangeDigest(CEX, vm.addr(KEY2), 7, 3),
            keccak256(abi.encodePacked("\x19\x01", domain, structHash)),
            "digest"
        );
    }

    // ------------------------------------------------------------------ symbols, tiers, params

    function test_symbolMapsArePermanent() public {
        _governed(abi.encodeCall(IRegistry.mapSymbol, (CEX, "BTCUSDT", BTC)));
        (string[] memory syms, string[] memory ins, uint64[] memory since) = registry.symbols(CEX);
        assertEq(syms.length, 1, "one symbol");
        assertEq(keccak256(bytes(syms[0])), keccak256("BTCUSDT"), "symbol");
        assertEq(keccak256(bytes(ins[0])), keccak256(bytes(BTC)), "instrument");
        assertEq(uint256(since[0]), block.timestamp, "since");
        _governed(abi.encodeCall(IRegistry.addInstrument, ("ETH-USD-PERP", "perp", "ETH", _terms(8, 1))));
        _governedReverts(
            abi.encodeCall(IRegistry.mapSymbol, (CEX, "BTCUSDT", "ETH-USD-PERP")),
            abi.encodeWithSelector(IRegistry.SymbolAlreadyMapped.selector, CEX, "BTCUSDT", BTC)
        );
        _governedReverts(
            abi.encodeCall(IRegistry.mapSymbol, (CEX, "X", "NOPE")),
            abi.encodeWithSelector(IRegistry.UnknownInstrument.selector, "NOPE")
        );
        _governedReverts(
            abi.encodeCall(IRegistry.mapSymbol, ("nope", "X", BTC)),
            abi.encodeWithSelector(IRegistry.UnknownVenue.selector, "nope")
        );
    }

    function test_memberTiersAreVersioned() public {
        address m = address(0x1234);
        _governed(abi.encodeCall(IRegistry.setMemberTier, (m, "tier1")));
        _governed(abi.encodeCall(IRegistry.setMemberTier, (m, "tier2")));
        IRegistry.TierVersion[] memory tiers = registry.memberTiers(m);
        assertEq(tiers.length, 2, "two versions");
        assertEq(keccak256(bytes(tiers[1].tier)), keccak256("tier2"), "current tier");
        assertEq(registry.members().length, 1, "listed once");
        _governedReverts(
            abi.encodeCall(IRegistry.setMemberTier, (address(0), "tier1")), abi.encodeWithSelector(IRegistry.ZeroAddress.selector)
        );
    }

    function test_params() public {
        _governed(abi.encodeCall(IRegistry.setParams, (IRegistry.Params(1, 2, 3))));
        IRegistry.Params memory p = registry.params();
        assertEq(uint256(p.fillMaxAgeMs) * 100 + uint256(p.fillMaxAheadMs) * 10 + p.minCureS, 123, "params");
        _governedReverts(
            abi.encodeCall(IRegistry.setParams, (IRegistry.Params(1, 2, 0))),
            abi.encodeWithSelector(IRegistry.InvalidParams.selector, "minCureS is zero")
        );
    }

    // ------------------------------------------------------------------ fuzz

    /// Any number of rotations at increasing times: every instant maps to exactly the key whose window
    /// holds it, and instants before the first window map to none.
    function testFuzz_keyWindowsPartitionTime(uint8 rotations, uint32 seed) public {
        uint256 n = bound(rotations, 1, 8);
        address[] memory expected = new address[](n + 1);
        uint64[] memory starts = new uint64[](n + 1);
        (,,, IRegistry.KeyWindow[] memory first) = registry.venue(CEX);
        expected[0] = vm.addr(KEY1);
        starts[0] = first[0].validFrom;
        for (uint256 i = 1; i <= n; ++i) {
            uint64 from = uint64(block.timestamp + MIN_DELAY + bound(uint256(keccak256(abi.encode(seed, i))), 1, 1000));
            expected[i] = vm.addr(KEY1 + 100 + i);
            starts[i] = from;
            _rotate(i == 1 ? KEY1 : KEY1 + 100 + i - 1, expected[i], from); // the current key consents
            vm.warp(from);
        }
        assertEq(registry.keyAt(CEX, starts[0] - 1), address(0), "nothing before the first window");
        for (uint256 i = 0; i <= n; ++i) {
            assertEq(registry.keyAt(CEX, starts[i]), expected[i], "start of window");
            if (i < n) assertEq(registry.keyAt(CEX, starts[i + 1] - 1), expected[i], "end of window");
        }
        assertEq(registry.keyAt(CEX, type(uint64).max - 1), expected[n], "last window open");
    }

    /// Terms are accepted exactly when in range, and then answer for their time.
    function testFuzz_termsValidation(uint8 decimals, uint16 feeBps, uint16 band, uint32 interval, uint32 cap, uint128 tick)
        public
    {
        IRegistry.Terms memory t = IRegistry.Terms(decimals, feeBps, band, interval, cap, tick);
        bool valid = decimals <= 38 && feeBps <= 10_000 && band > 0 && band <= 10_000 && interval > 0 && cap <= 1e8
            && tick > 0;
        bytes memory data = abi.encodeCall(IRegistry.setTerms, (BTC, t));
        bytes32 salt = bytes32(++saltCounter);
        vm.prank(proposer);
        timelock.schedule(address(registry), 0, data, bytes32(0), salt, MIN_DELAY);
        vm.warp(block.timestamp + MIN_DELAY);
        if (!valid) vm.expectRevert();
        timelock.execute(address(registry), 0, data, bytes32(0), salt);
        IRegistry.Terms memory now_ = registry.termsAt(BTC, uint64(block.timestamp));
        assertEq(uint256(now_.feeBps), valid ? feeBps : 1, "terms in force");
    }
}
