// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {DefaultsFixture} from "../utils/DefaultsFixture.sol";
import {MockERC20} from "../utils/MockERC20.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";

/// @notice Round 4, finding 10: a layer-4 draw that leaves the pool at dust (value 1 base unit, shares
/// intact) makes every real contribution overflow: `DefaultFund.contribute` mints `amount × shares / value`
/// and reverts `AmountTooLarge` above 2^128, and the epoch resets only at value exactly 0. With an 18-decimal
/// settlement asset (DAI, USDS; USDC on BNB chain), 10 M of shares and 1 M contributed mint 1e49 > 3.4e38:
/// the default fund cannot be refilled after such a draw, and every batch carrying the engine's contribution
/// rows reverts. L4 leaves dust whenever a COVER's remainder is just below the pool's value.
contract Rev11R4PoolDustBricksContributions is DefaultsFixture {
    MockERC20 internal dai;
    uint256 internal constant DAI = 1e18;

    function setUp() public override {
        super.setUp();
        dai = new MockERC20("Dai", "DAI", 18);
        vault = _deployVault(IERC20(address(dai)), signerAddrs, 2); // a vault settling in an 18-decimal stablecoin
        vm.startPrank(operator);
        vault.admitMember(alice);
        vault.admitMember(bob);
        vault.admitMember(carol);
        vault.admitMember(dave);
        vm.stopPrank();
        _deposit(bob, USD, 10_000_000 * DAI);
        _deposit(carol, USD, 1_000_000 * DAI);
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(BOB, int256(10_000_000 * DAI))); // pool 1e25 value, 1e25 shares
        _settle(b);
        // alice (no cash) loses 10 M − 1 wei to dave: advanced by the fund, declared, covered from the pool
        b = _nextBatch();
        b.transfers = _two(_t(ALICE, USD, -int256(10_000_000 * DAI - 1)), _t(DAVE, USD, int256(10_000_000 * DAI - 1)));
        _settle(b);
        b = _nextBatch();
        b.defaultActions = _three(
            _a(ALICE, Batch.DECLARE, 0), _a(ALICE, Batch.COVER, 10_000_000 * DAI - 1), _a(ALICE, Batch.CLOSE, 0)
        );
        _settle(b);
        (uint256 value, uint256 shares) = vault.defaultFundPool();
        assertEq(value, 1, "the pool left at 1 wei");
        assertEq(shares, 10_000_000 * DAI, "its shares intact");
    }

    function test_harm_theFundCannotBeRefilled() public {
        Batch.Data memory b = _nextBatch();
        b.contributions = _one(_c(CAROL, int256(1_000_000 * DAI)));
        IVault.SignerSignature[] memory sigs = _sign(b, _quorum());
        uint256 minted = 1_000_000 * DAI * (10_000_000 * DAI); // amount × shares / 1
        vm.expectRevert(abi.encodeWithSelector(IVault.AmountTooLarge.selector, 10_000_000 * DAI + minted));
        vault.settle(b, sigs);
        (uint256 value,) = vault.defaultFundPool();
        assertEq(value, 1, "still 1 wei: the next default meets an empty fund (ASSESS caps are 2 x ~0)");
    }
}
