// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Test} from "../utils/Test.sol";
import {Registry} from "../../src/Registry.sol";
import {IRegistry} from "../../src/interfaces/IRegistry.sol";

/// @notice Drives one venue's keys through random rotations, revocations, re-keyings and refused attempts
/// (wrong consent, back-dated, stale nonce), with time moving; the handler is the governor.
contract RegistryKeyHandler is Test {
    Registry public registry;
    string public constant VENUE = "cex";
    uint256 public constant ADMIN_KEY = 0xAD1;
    uint256 public currentKey; // private key of the current key (0 after a revocation)
    uint256 public nextKey = 0x1000;
    uint256 public changes;
    uint256 public rotations; // changes that added a key
    // Enough windows to exercise rotations, revocations and gaps; bounded so each invariant check stays cheap
    // (after the cap, calls keep attacking and moving time).
    uint256 public constant MAX_CHANGES = 8;

    constructor() {
        vm.warp(1_800_000_000);
        registry = new Registry(address(this), IRegistry.Params(600_000, 5_000, 60));
        currentKey = nextKey++;
        address key = vm.addr(currentKey);
        registry.addVenue(VENUE, "cex", vm.addr(ADMIN_KEY), key, 0, _sign(currentKey, key, 0, 0));
    }

    function _sign(uint256 signer, address newKey, uint64 validFrom, uint256 nonce) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signer, registry.keyChangeDigest(VENUE, newKey, validFrom, nonce));
        return abi.encodePacked(r, s, v);
    }

    function _nonce() internal view returns (uint256 n) {
        (,, n,) = registry.venue(VENUE);
    }

    function rotate(uint32 wait, uint32 ahead, bool byAdmin) external {
        if (changes >= MAX_CHANGES) return;
        vm.warp(block.timestamp + bound(wait, 1, 10 days));
        uint64 from = uint64(block.timestamp + bound(ahead, 0, 1 days));
        uint256 k = nextKey++;
        uint256 consent = byAdmin || currentKey == 0 ? ADMIN_KEY : currentKey;
        try registry.rotateVenueKey(VENUE, vm.addr(k), from, _sign(consent, vm.addr(k), from, _nonce())) {
            currentKey = k;
            changes += 1;
            rotations += 1;
        } catch {} // refused when a pending key starts later than `from` (KeyNotAfterCurrent)
    }

    function revoke(uint32 wait) external {
        if (currentKey == 0 || changes >= MAX_CHANGES) return;
        vm.warp(block.timestamp + bound(wait, 1, 10 days));
        try registry.rotateVenueKey(VENUE, address(0), 0, _sign(ADMIN_KEY, address(0), 0, _nonce())) {
            currentKey = 0;
            changes += 1;
        } catch {}
    }

    /// Attempts that must always fail: consent by a stranger, a stale nonce, a back-dated window.
    function attack(uint8 kind) external {
        uint256 k = nextKey++;
        uint256 n = _nonce();
        bytes memory sig;
        uint64 from = 0;
        if (kind % 3 == 0) sig = _sign(0xBAD, vm.addr(k), 0, n);
        else if (kind % 3 == 1) sig = _sign(ADMIN_KEY, vm.addr(k), 0, n - 1);
        else (from, sig) = (uint64(block.timestamp - 1), _sign(ADMIN_KEY, vm.addr(k), uint64(block.timestamp - 1), n));
        try registry.rotateVenueKey(VENUE, vm.addr(k), from, sig) {
            revert("an attack succeeded");
        } catch {}
    }
}

contract RegistryInvariantTest is Test {
    RegistryKeyHandler internal handler;

    function setUp() public {
        handler = new RegistryKeyHandler();
        targetContract(address(handler));
    }

    /// Windows are non-empty, in order, never overlapping; only the last may be open; each change used one
    /// nonce and added at most one window; keyAt answers each window's key at its first and last second, and
    /// nothing in a gap left by a revocation. (One invariant: each invariant is its own 100,000-call campaign.)
    /// forge-config: default.invariant.runs = 250
    /// forge-config: default.invariant.depth = 400
    function invariant_keyWindows() public view {
        Registry registry = handler.registry();
        string memory venue = handler.VENUE();
        (,, uint256 nonce, IRegistry.KeyWindow[] memory keys) = registry.venue(venue);
        assertEq(nonce, 1 + handler.changes(), "one nonce per change");
        assertEq(keys.length, 1 + handler.rotations(), "one window per key added, none removed");
        for (uint256 i = 0; i < keys.length; ++i) {
            assertLt(keys[i].validFrom, keys[i].validUntil, "non-empty window");
            assertEq(registry.keyAt(venue, keys[i].validFrom), keys[i].key, "start");
            assertEq(registry.keyAt(venue, keys[i].validUntil - 1), keys[i].key, "end");
            if (i + 1 < keys.length) {
                assertLe(keys[i].validUntil, keys[i + 1].validFrom, "disjoint and ordered");
                assertTrue(keys[i].validUntil != type(uint64).max, "only the last is open");
                if (keys[i].validUntil < keys[i + 1].validFrom) {
                    assertEq(registry.keyAt(venue, keys[i].validUntil), address(0), "gap after a revocation");
                }
            }
        }
    }
}
