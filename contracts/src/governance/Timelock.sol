// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title crossclear governance timelock
/// @notice The vault's governor: every parameter, listing and signer-set change is scheduled here and
/// executes only after `minDelay` (OpenZeppelin's TimelockController, unchanged).
/// @dev Exported to abi/Timelock.json so `crossclear deploy` and `crossclear gov` can deploy and drive it.
contract Timelock is TimelockController {
    /// @param minDelay Seconds between scheduling and execution.
    /// @param proposers May schedule and cancel (a multisig in production).
    /// @param executors May execute ready operations (address(0) in the list: anyone).
    /// @param admin Optional set-up admin (address(0): the timelock administers itself).
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
