// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IVaultMain} from "./IVaultMain.sol";
import {IVaultExtension} from "./IVaultExtension.sol";

/// @title ICrossclearVault
/// @notice Everything callable at the vault's address: the Vault's own functions, the VaultExtension's
/// (through the fallback) and OpenZeppelin's AccessControl. Tests, handlers and integrators use this type.
interface ICrossclearVault is IVaultMain, IVaultExtension, IAccessControl {
    /// @notice The admin of every role (the governor).
    function DEFAULT_ADMIN_ROLE() external view returns (bytes32);
    /// @notice The role that governs parameters (a TimelockController).
    function GOVERNOR_ROLE() external view returns (bytes32);
    /// @notice The role that may pause.
    function GUARDIAN_ROLE() external view returns (bytes32);
    /// @notice The role that admits members.
    function OPERATOR_ROLE() external view returns (bytes32);
    /// @notice The longest a guardian pause lasts, and the wait after one before the next.
    function MAX_PAUSE() external view returns (uint64);
    function PAUSE_COOLDOWN() external view returns (uint64);
    /// @notice The period of the outflow budgets.
    function OUTFLOW_PERIOD() external view returns (uint64);
    /// @notice Whether the guardian's pause is in force.
    function paused() external view returns (bool);
}
