// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "./Test.sol";
import {MockERC20} from "./MockERC20.sol";
import {Vault} from "../../src/Vault.sol";
import {VaultExtension} from "../../src/VaultExtension.sol";
import {IVault} from "../../src/interfaces/IVault.sol";
import {Batch} from "../../src/libraries/Batch.sol";
import {ICrossclearVault} from "../../src/interfaces/ICrossclearVault.sol";

/// @notice Shared set-up for vault tests: tokens, a deployed vault with three risk signers (2-of-3),
/// four admitted members, and helpers to fund members and to build, sign and settle batches.
///
/// Accounts: 1 fee, 2 default fund, 3 operator capital, 4 alice, 5 bob, 6 carol, 7 dave.
/// Assets: 0 usd (6 decimals, marked at 1), 1 weth (18 decimals, marked at 2000 usd with a 20% haircut
/// after `_markWeth()`; unmarked right after set-up).
abstract contract VaultFixture is Test {
    uint256 internal constant SIGNER_KEY_1 = 0x5157A1;
    uint256 internal constant SIGNER_KEY_2 = 0x5157A2;
    uint256 internal constant SIGNER_KEY_3 = 0x5157A3;
    uint256 internal constant ALICE_KEY = 0xA11CE;
    uint256 internal constant BOB_KEY = 0xB0B;
    uint256 internal constant CAROL_KEY = 0xCA401;
    uint256 internal constant DAVE_KEY = 0xDA5E;

    uint64 internal constant WITHDRAWAL_DELAY = 1 days;
    uint64 internal constant ESCAPE_PERIOD = 7 days;
    uint256 internal constant START = 1_700_000_000;
    uint256 internal constant BATCH_TTL = 1 hours; // how long a batch built by `_nextBatch` stays valid

    uint32 internal constant FEE = 1;
    uint32 internal constant FUND = 2;
    uint32 internal constant OPCAP = 3;
    uint32 internal constant ALICE = 4;
    uint32 internal constant BOB = 5;
    uint32 internal constant CAROL = 6;
    uint32 internal constant DAVE = 7;
    uint16 internal constant USD = 0;
    uint16 internal constant WETH = 1;

    uint256 internal constant USD_UNIT = 1e6;
    uint256 internal constant WETH_UNIT = 1e18;
    /// @dev Governance lists weth with its first mark (issue 11, finding 9), the one `_markWeth` posts again.
    uint128 internal constant WETH_LIST_PRICE = uint128(2000 * USD_UNIT);
    uint16 internal constant WETH_LIST_HAIRCUT = 2000;

    ICrossclearVault internal vault;
    MockERC20 internal usd;
    MockERC20 internal weth;

    address internal governor = address(0x6077);
    address internal guardian = address(0x6A4D);
    address internal operator = address(0x0BE4);
    address internal alice;
    address internal bob;
    address internal carol;
    address internal dave;

    uint256[] internal signerKeys; // all three, in the order of their addresses
    address[] internal signerAddrs; // ascending

    function setUp() public virtual {
        vm.warp(START);
        usd = new MockERC20("USD Coin", "USDC", 6);
        weth = new MockERC20("Wrapped Ether", "WETH", 18);
        alice = vm.addr(ALICE_KEY);
        bob = vm.addr(BOB_KEY);
        carol = vm.addr(CAROL_KEY);
        dave = vm.addr(DAVE_KEY);
        vm.label(alice, "alice");
        vm.label(bob, "bob");
        vm.label(carol, "carol");
        vm.label(dave, "dave");

        uint256[] memory keys = new uint256[](3);
        keys[0] = SIGNER_KEY_1;
        keys[1] = SIGNER_KEY_2;
        keys[2] = SIGNER_KEY_3;
        keys = _sortKeys(keys);
        for (uint256 i; i < keys.length; ++i) {
            signerKeys.push(keys[i]);
            signerAddrs.push(vm.addr(keys[i]));
        }

        vault = _deployVault(IERC20(address(usd)), signerAddrs, 2);
        vm.prank(governor);
        vault.listAsset(IERC20(address(weth)), WETH_LIST_PRICE, WETH_LIST_HAIRCUT);

        vm.startPrank(operator);
        vault.admitMember(alice);
        vault.admitMember(bob);
        vault.admitMember(carol);
        vault.admitMember(dave);
        vm.stopPrank();
    }

    function _deployVault(IERC20 settlement, address[] memory signers_, uint8 threshold_) internal returns (ICrossclearVault) {
        return ICrossclearVault(
            address(
                new Vault(
                    settlement, governor, guardian, operator, signers_, threshold_, WITHDRAWAL_DELAY, ESCAPE_PERIOD, 0, 0, new VaultExtension()
                )
            )
        );
    }

    // ---------------------------------------------------------------- funding

    /// @dev Mint `amount` of `asset`'s token to `member`, approve and deposit it (as the member).
    function _deposit(address member, uint16 asset, uint256 amount) internal {
        MockERC20 token = MockERC20(address(vault.assetToken(asset)));
        token.mint(member, amount);
        vm.startPrank(member);
        token.approve(address(vault), amount);
        vault.deposit(member, asset, amount);
        vm.stopPrank();
    }

    /// @dev Fund the default fund (account 2) with `amount` usd via a deposit by dave and a batch transfer.
    function _fundDefaultFund(uint256 amount) internal {
        _deposit(dave, USD, amount);
        Batch.Data memory b = _nextBatch();
        b.transfers = new bytes32[](2);
        b.transfers[0] = _t(DAVE, USD, -int256(amount));
        b.transfers[1] = _t(FUND, USD, int256(amount));
        _settle(b);
    }

    // ---------------------------------------------------------------- batch building

    /// @dev An empty batch chained onto the vault's current state, asOf now.
    function _nextBatch() internal view returns (Batch.Data memory b) {
        b.sequence = vault.lastSequence() + 1;
        b.prevHash = vault.lastBatchHash();
        // forge-lint: disable-next-line(unsafe-typecast)
        b.asOf = uint64(block.timestamp);
        b.validUntil = uint64(block.timestamp + BATCH_TTL);
        b.fillsRoot = keccak256(abi.encode("fills", b.sequence));
        b.transfers = new bytes32[](0);
        b.requirements = new bytes32[](0);
        b.marks = new bytes32[](0);
        b.approvedWithdrawals = new uint256[](0);
    }

    function _t(uint32 account, uint16 asset, int256 amount) internal pure returns (bytes32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return Batch.packTransfer(account, asset, int128(amount));
    }

    function _req(uint32 account, uint256 im, uint256 mm) internal pure returns (bytes32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return Batch.packRequirement(account, uint112(im), uint112(mm));
    }

    function _mk(uint16 asset, uint16 haircutBps, uint256 price) internal pure returns (bytes32) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return Batch.packMark(asset, haircutBps, uint128(price));
    }

    function _one(bytes32 w) internal pure returns (bytes32[] memory a) {
        a = new bytes32[](1);
        a[0] = w;
    }

    function _two(bytes32 w0, bytes32 w1) internal pure returns (bytes32[] memory a) {
        a = new bytes32[](2);
        (a[0], a[1]) = (w0, w1);
    }

    /// @dev Let batch approvals release up to `budget` of `asset` per period (in force from the next one).
    function _allowOutflow(uint16 asset, uint256 budget) internal {
        vm.prank(governor);
        // forge-lint: disable-next-line(unsafe-typecast)
        vault.setOutflowBudget(asset, uint112(budget));
        vm.warp(block.timestamp + vault.OUTFLOW_PERIOD());
    }

    /// @dev One approval row binding withdrawal `id` as the vault holds it (id alone if it does not exist).
    function _approval(uint256 id) internal view returns (uint256[] memory a) {
        IVault.Withdrawal memory w = vault.withdrawal(id);
        a = new uint256[](1);
        // forge-lint: disable-next-line(unsafe-typecast)
        a[0] = Batch.packApproval(uint64(id), w.account, w.asset, w.amount);
    }

    /// @dev Post weth at 2000 usd with a 20% haircut.
    function _markWeth() internal {
        Batch.Data memory b = _nextBatch();
        b.marks = _one(_mk(WETH, 2000, 2000 * USD_UNIT));
        _settle(b);
    }

    // ---------------------------------------------------------------- signing and settling

    /// @dev Sign `b` with each key (sorted by signer address ascending, as the vault requires).
    function _sign(Batch.Data memory b, uint256[] memory keys) internal view returns (IVault.SignerSignature[] memory) {
        return _signDigest(vault.batchDigest(b), keys);
    }

    function _signDigest(bytes32 digest, uint256[] memory keys)
        internal
        pure
        returns (IVault.SignerSignature[] memory sigs)
    {
        keys = _sortKeys(keys);
        sigs = new IVault.SignerSignature[](keys.length);
        for (uint256 i; i < keys.length; ++i) {
            sigs[i] = IVault.SignerSignature(vm.addr(keys[i]), _ecdsa(keys[i], digest));
        }
    }

    function _ecdsa(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev The first two signers (a 2-of-3 quorum).
    function _quorum() internal view returns (uint256[] memory keys) {
        keys = new uint256[](2);
        (keys[0], keys[1]) = (signerKeys[0], signerKeys[1]);
    }

    function _settle(Batch.Data memory b) internal {
        vault.settle(b, _sign(b, _quorum()));
    }

    /// @dev Insertion sort of private keys by their address.
    function _sortKeys(uint256[] memory keys) internal pure returns (uint256[] memory) {
        for (uint256 i = 1; i < keys.length; ++i) {
            uint256 k = keys[i];
            address a = vm.addr(k);
            uint256 j = i;
            while (j > 0 && vm.addr(keys[j - 1]) > a) {
                keys[j] = keys[j - 1];
                --j;
            }
            keys[j] = k;
        }
        return keys;
    }

    // ---------------------------------------------------------------- withdrawals by signature

    function _withdrawalSig(uint256 key, IVault.WithdrawalRequest memory req) internal view returns (bytes memory) {
        return _ecdsa(key, vault.withdrawalRequestDigest(req));
    }

    // ---------------------------------------------------------------- invariants

    /// @dev Σ balances + pending == totalOwed <= token balance, for every asset, over all known accounts.
    function _assertSolvent() internal view {
        uint16 assets = vault.assetCount();
        uint32 accounts = vault.accountCount();
        for (uint16 a; a < assets; ++a) {
            IERC20 token = vault.assetToken(a);
            assertLe(vault.totalOwed(a), token.balanceOf(address(vault)), "owed <= held");
            uint256 sum;
            for (uint32 acc = 1; acc <= accounts; ++acc) {
                sum += vault.balanceOf(acc, a);
            }
            assertLe(sum, vault.totalOwed(a), "balances <= owed");
        }
    }
}
