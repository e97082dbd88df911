// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MockERC20} from "./MockERC20.sol";

/// @notice Takes a fee (in bps) on every transfer: the recipient receives less than the amount sent.
contract FeeOnTransferToken is MockERC20 {
    uint256 public immutable feeBps;

    constructor(uint256 feeBps_) MockERC20("Fee Token", "FEE", 18) {
        feeBps = feeBps_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 fee = value * feeBps / 10_000;
        super._update(from, address(0xFEE), fee);
        super._update(from, to, value - fee);
    }
}

/// @notice Calls `target` with `data` from inside transferFrom/transfer (once armed), bubbling any revert:
/// the shape of an ERC-777 hook or a malicious token re-entering the vault.
contract ReentrantToken is MockERC20 {
    address public target;
    bytes public data;
    bool public armed;

    constructor() MockERC20("Reentrant Token", "RE", 18) {}

    function arm(address target_, bytes calldata data_) external {
        (target, data, armed) = (target_, data_, true);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (armed && from != address(0) && to != address(0)) {
            armed = false;
            (bool ok, bytes memory ret) = target.call(data);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
        super._update(from, to, value);
    }
}

/// @notice Balances are shares times a global index (1e18 = 1.0): `rebase` changes every holder's balance.
contract RebasingToken is MockERC20 {
    uint256 public index = 1e18;

    constructor() MockERC20("Rebasing Token", "REB", 18) {}

    function rebase(uint256 newIndex) external {
        index = newIndex;
    }

    function balanceOf(address account) public view override returns (uint256) {
        return super.balanceOf(account) * index / 1e18;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value * 1e18 / index); // moves shares
    }
}
