// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title DevToken
/// @notice A plain ERC-20 with chosen decimals and an owner-only mint, for the local devnet and the
/// demo (a USD stablecoin, wrapped ETH and BTC, a tokenized T-bill fund share). Never deployed to a
/// real chain: there the vault lists the real tokens.
contract DevToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals, honoured by the vault's valuation.
    constructor(string memory name_, string memory symbol_, uint8 decimals_)
        ERC20(name_, symbol_)
        Ownable(msg.sender)
    {
        _decimals = decimals_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` base units to `to` (owner only: the devnet faucet).
    /// @param to Recipient.
    /// @param amount Base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
