// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Vm} from "../utils/Vm.sol";

/// @notice The slice of Safe 1.4.1's ABI the integration tests call (Enum.Operation is a uint8).
interface ISafe {
    function setup(
        address[] calldata owners,
        uint256 threshold,
        address to,
        bytes calldata data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address payable paymentReceiver
    ) external;

    function execTransaction(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address payable refundReceiver,
        bytes memory signatures
    ) external payable returns (bool success);

    function getTransactionHash(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        uint256 nonce
    ) external view returns (bytes32);

    function nonce() external view returns (uint256);
    function domainSeparator() external view returns (bytes32);
    function getOwners() external view returns (address[] memory);
    function getThreshold() external view returns (uint256);
    function approveHash(bytes32 hashToApprove) external;
}

interface ISafeProxyFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

interface ICompatibilityFallbackHandler {
    function getMessageHashForSafe(address safe, bytes memory message) external view returns (bytes32);
}

/// @notice Deploys Safe 1.4.1 (singleton, proxy factory, compatibility fallback handler) from the
/// compiled artefacts that the npm package safe-contracts (Safe Global) ships, creates Safes and
/// produces their owners' signatures, the way the Safe{Wallet} would.
contract SafeDeployer {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    string private constant ARTIFACTS = "node_modules/@safe-global/safe-contracts/build/artifacts/contracts/";

    address public singleton;
    ISafeProxyFactory public factory;
    address public fallbackHandler;
    uint256 private _salt;

    constructor() {
        singleton = _deploy("Safe.sol/Safe.json");
        factory = ISafeProxyFactory(_deploy("proxies/SafeProxyFactory.sol/SafeProxyFactory.json"));
        fallbackHandler = _deploy("handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json");
    }

    function _deploy(string memory artifact) private returns (address deployed) {
        string memory json = vm.readFile(string.concat(ARTIFACTS, artifact));
        bytes memory code = vm.parseJsonBytes(json, ".bytecode");
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0) && deployed.code.length > 0, "SafeDeployer: create failed");
    }

    /// @notice A new Safe proxy with `owners`, `threshold` and the compatibility fallback handler (so
    /// it answers EIP-1271 `isValidSignature(bytes32,bytes)`).
    function createSafe(address[] memory owners, uint256 threshold) external returns (ISafe safe) {
        bytes memory init = abi.encodeCall(
            ISafe.setup, (owners, threshold, address(0), "", fallbackHandler, address(0), 0, payable(address(0)))
        );
        safe = ISafe(factory.createProxyWithNonce(singleton, init, ++_salt));
    }

    /// @notice The hash Safe owners sign so that the Safe's EIP-1271 `isValidSignature(hash, sig)`
    /// accepts `sig`: CompatibilityFallbackHandler wraps `hash` as SafeMessage(bytes message) with
    /// message = abi.encode(hash), under the Safe's own EIP-712 domain (chain id, Safe address).
    function safeMessageHash(ISafe safe, bytes32 hash) public view returns (bytes32) {
        return ICompatibilityFallbackHandler(fallbackHandler).getMessageHashForSafe(address(safe), abi.encode(hash));
    }

    /// @notice Same as `safeMessageHash`, computed here from the Safe 1.4.1 source, as a cross-check.
    function safeMessageHashReference(ISafe safe, bytes32 hash) public view returns (bytes32) {
        bytes32 safeMsgTypehash = keccak256("SafeMessage(bytes message)");
        bytes32 domainTypehash = keccak256("EIP712Domain(uint256 chainId,address verifyingContract)");
        bytes32 domain = keccak256(abi.encode(domainTypehash, block.chainid, address(safe)));
        bytes32 msgHash = keccak256(abi.encode(safeMsgTypehash, keccak256(abi.encode(hash))));
        return keccak256(abi.encodePacked(bytes1(0x19), bytes1(0x01), domain, msgHash));
    }

    /// @notice Concatenated 65-byte ECDSA signatures over `digest` by `keys`, ordered by owner address
    /// ascending as Safe's checkNSignatures requires.
    function ownerSignatures(uint256[] memory keys, bytes32 digest) public pure returns (bytes memory sigs) {
        uint256[] memory sorted = _sortByAddress(keys);
        for (uint256 i; i < sorted.length; ++i) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(sorted[i], digest);
            sigs = abi.encodePacked(sigs, r, s, v);
        }
    }

    /// @notice Owners' signatures that make `safe.isValidSignature(hash, sigs)` return the magic value.
    function sign1271(ISafe safe, uint256[] memory keys, bytes32 hash) external view returns (bytes memory) {
        return ownerSignatures(keys, safeMessageHash(safe, hash));
    }

    /// @notice Execute `to.call(data)` from `safe` with the owners `keys` signing the Safe transaction.
    function exec(ISafe safe, uint256[] memory keys, address to, bytes memory data) external returns (bool) {
        bytes memory sigs = ownerSignatures(keys, txHash(safe, to, data));
        bytes memory call_ = abi.encodeWithSelector(
            ISafe.execTransaction.selector, to, 0, data, 0, 0, 0, 0, address(0), address(0), sigs
        );
        (bool ok, bytes memory ret) = address(safe).call(call_);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return abi.decode(ret, (bool));
    }

    /// @notice The Safe transaction hash owners sign for a plain call (no refund) at the current nonce.
    function txHash(ISafe safe, address to, bytes memory data) public view returns (bytes32) {
        uint256 n = safe.nonce();
        return safe.getTransactionHash(to, 0, data, 0, 0, 0, 0, address(0), address(0), n);
    }

    function _sortByAddress(uint256[] memory keys) private pure returns (uint256[] memory out) {
        out = new uint256[](keys.length);
        for (uint256 i; i < keys.length; ++i) {
            out[i] = keys[i];
        }
        for (uint256 i = 1; i < out.length; ++i) {
            uint256 k = out[i];
            address a = vm.addr(k);
            uint256 j = i;
            while (j > 0 && vm.addr(out[j - 1]) > a) {
                out[j] = out[j - 1];
                --j;
            }
            out[j] = k;
        }
    }
}

/// @notice A minimal EIP-1271 smart wallet: valid when its single owner's ECDSA signature is over the
/// digest itself. Used as a contract risk signer in batch-threshold tests.
contract Owner1271Wallet {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return 0xffffffff;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        address rec = ecrecover(hash, v, r, s);
        return rec != address(0) && rec == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}
