// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Test-only exposure of the Batch library's internal functions (as CoW's *TestInterface).
contract BatchHarness {
    function packTransfer(uint32 account, uint16 asset, int128 amount) external pure returns (bytes32) {
        return Batch.packTransfer(account, asset, amount);
    }

    function unpackTransfer(bytes32 w) external pure returns (uint32, uint16, int128) {
        return Batch.unpackTransfer(w);
    }

    function packRequirement(uint32 account, uint112 im, uint112 mm) external pure returns (bytes32) {
        return Batch.packRequirement(account, im, mm);
    }

    function unpackRequirement(bytes32 w) external pure returns (uint32, uint112, uint112) {
        return Batch.unpackRequirement(w);
    }

    function packMark(uint16 asset, uint16 haircutBps, uint128 price) external pure returns (bytes32) {
        return Batch.packMark(asset, haircutBps, price);
    }

    function unpackMark(bytes32 w) external pure returns (uint16, uint16, uint128) {
        return Batch.unpackMark(w);
    }

    function packContribution(uint32 account, int128 amount) external pure returns (bytes32) {
        return Batch.packContribution(account, amount);
    }

    function unpackContribution(bytes32 w) external pure returns (uint32, int128) {
        return Batch.unpackContribution(w);
    }

    function packMarginCall(uint32 account, uint64 deadline, uint128 amount) external pure returns (bytes32) {
        return Batch.packMarginCall(account, deadline, amount);
    }

    function unpackMarginCall(bytes32 w) external pure returns (uint32, uint64, uint128) {
        return Batch.unpackMarginCall(w);
    }

    function packDefaultAction(uint32 account, uint8 action, uint128 amount) external pure returns (bytes32) {
        return Batch.packDefaultAction(account, action, amount);
    }

    function unpackDefaultAction(bytes32 w) external pure returns (uint32, uint8, uint128) {
        return Batch.unpackDefaultAction(w);
    }

    function structHash(Batch.Data calldata b) external pure returns (bytes32) {
        return Batch.structHash(b);
    }
}
