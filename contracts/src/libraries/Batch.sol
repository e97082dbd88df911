// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title Batch
/// @notice The settlement batch: its struct, its EIP-712 type hash, its hashing, and the packing of
/// its per-row words. Encoding sits beside the type (as CoW's GPv2Order does), and the Python side
/// (offchain/core/eip712.py) mirrors it exactly; a property test ties the two together.
///
/// Rows are packed into one 32-byte word each, because a batch carries hundreds of transfers and
/// calldata plus one cold storage write per row is the whole cost of settlement:
///  - transfer:    account uint32 [255..224] | asset uint16 [223..208] | zero [207..128] | amount int128 [127..0]
///  - requirement: account uint32 [255..224] | initial margin uint112 [223..112] | maintenance uint112 [111..0]
///  - mark:        asset uint16 [255..240] | haircut bps uint16 [239..224] | zero [223..128] | price uint128 [127..0]
///    where price is the value, in settlement-asset base units, of one whole token (10**decimals base units).
///  - contribution:  account uint32 [255..224] | zero [223..128] | amount int128 [127..0]
///    (> 0 moves cash into the member's default-fund contribution, < 0 returns contribution value to cash)
///  - margin call:   account uint32 [255..224] | deadline uint64 [223..160] | zero [159..128] | amount uint128 [127..0]
///  - default action: account uint32 [255..224] | action uint8 [223..216] | zero [215..128] | amount uint128 [127..0]
///    (action 1 DECLARE, 2 COVER, 3 CLOSE, 4 ASSESS; see IVault and docs/contracts.md)
///  - approval (a uint256 of approvedWithdrawals): id uint64 [255..192] | account uint32 [191..160] |
///    asset uint16 [159..144] | zero [143..128] | amount uint128 [127..0]: it binds the whole withdrawal
library Batch {
    struct Data {
        uint64 sequence; // last applied sequence + 1
        bytes32 prevHash; // EIP-712 digest of the last applied batch (zero before the first)
        uint64 asOf; // engine time the batch was computed at; non-decreasing, never in the future
        bytes32 fillsRoot; // OpenZeppelin StandardMerkleTree root of the fills this batch settles
        bytes32[] transfers; // packed transfer words; sum to zero per asset
        bytes32[] requirements; // packed requirement words for members whose IM/MM changed
        bytes32[] marks; // packed mark words for assets whose price/haircut changed
        uint256[] approvedWithdrawals; // packed approvals (id, account, asset, amount) for instant release
        bytes32 contextHash; // keccak256 of the published batch context (instrument marks, funding, fees)
        bytes32[] contributions; // packed default-fund contribution words (applied after transfers)
        bytes32[] marginCalls; // packed margin-call words (stored, no balance effect)
        bytes32[] defaultActions; // packed default-action words: DECLARE, COVER, CLOSE, ASSESS, in row order
        uint64 validUntil; // last block timestamp at which the batch may land (BatchExpired after)
    }

    uint8 internal constant DECLARE = 1;
    uint8 internal constant COVER = 2;
    uint8 internal constant CLOSE = 3;
    uint8 internal constant ASSESS = 4;

    /// @dev `rows` of a RowAdjusted event.
    uint8 internal constant ROWS_APPROVALS = 1;
    uint8 internal constant ROWS_DEFAULT_ACTIONS = 2;

    bytes32 internal constant TYPEHASH = keccak256(
        "Batch(uint64 sequence,bytes32 prevHash,uint64 asOf,bytes32 fillsRoot,bytes32[] transfers,bytes32[] requirements,bytes32[] marks,uint256[] approvedWithdrawals,bytes32 contextHash,bytes32[] contributions,bytes32[] marginCalls,bytes32[] defaultActions,uint64 validUntil)"
    );

    /// @notice EIP-712 struct hash of a batch. Arrays of atomic types hash as keccak256 of their
    /// concatenated 32-byte elements, which is exactly their calldata payload.
    /// @dev Every encoded member is one 32-byte word, so the concatenation of two abi.encode halves is the
    /// abi.encode of all fourteen (split only to stay within the stack).
    function structHash(Data calldata b) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                abi.encode(
                    TYPEHASH,
                    b.sequence,
                    b.prevHash,
                    b.asOf,
                    b.fillsRoot,
                    _hashWords(b.transfers),
                    _hashWords(b.requirements)
                ),
                abi.encode(
                    _hashWords(b.marks),
                    _hashUints(b.approvedWithdrawals),
                    b.contextHash,
                    _hashWords(b.contributions),
                    _hashWords(b.marginCalls),
                    _hashWords(b.defaultActions),
                    b.validUntil
                )
            )
        );
    }

    function _hashWords(bytes32[] calldata words) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let len := mul(words.length, 0x20)
            calldatacopy(ptr, words.offset, len)
            h := keccak256(ptr, len)
        }
    }

    function _hashUints(uint256[] calldata words) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let len := mul(words.length, 0x20)
            calldatacopy(ptr, words.offset, len)
            h := keccak256(ptr, len)
        }
    }

    // ------------------------------------------------------------------ row packing

    function unpackTransfer(bytes32 w) internal pure returns (uint32 account, uint16 asset, int128 amount) {
        account = uint32(uint256(w) >> 224);
        asset = uint16(uint256(w) >> 208);
        amount = int128(uint128(uint256(w)));
    }

    function packTransfer(uint32 account, uint16 asset, int128 amount) internal pure returns (bytes32) {
        return bytes32((uint256(account) << 224) | (uint256(asset) << 208) | uint256(uint128(amount)));
    }

    function unpackRequirement(bytes32 w) internal pure returns (uint32 account, uint112 im, uint112 mm) {
        account = uint32(uint256(w) >> 224);
        im = uint112(uint256(w) >> 112);
        mm = uint112(uint256(w));
    }

    function packRequirement(uint32 account, uint112 im, uint112 mm) internal pure returns (bytes32) {
        return bytes32((uint256(account) << 224) | (uint256(im) << 112) | uint256(mm));
    }

    function unpackMark(bytes32 w) internal pure returns (uint16 asset, uint16 haircutBps, uint128 price) {
        asset = uint16(uint256(w) >> 240);
        haircutBps = uint16(uint256(w) >> 224);
        price = uint128(uint256(w));
    }

    function packMark(uint16 asset, uint16 haircutBps, uint128 price) internal pure returns (bytes32) {
        return bytes32((uint256(asset) << 240) | (uint256(haircutBps) << 224) | uint256(price));
    }

    function unpackContribution(bytes32 w) internal pure returns (uint32 account, int128 amount) {
        account = uint32(uint256(w) >> 224);
        amount = int128(uint128(uint256(w)));
    }

    function packContribution(uint32 account, int128 amount) internal pure returns (bytes32) {
        return bytes32((uint256(account) << 224) | uint256(uint128(amount)));
    }

    function unpackMarginCall(bytes32 w) internal pure returns (uint32 account, uint64 deadline, uint128 amount) {
        account = uint32(uint256(w) >> 224);
        deadline = uint64(uint256(w) >> 160);
        amount = uint128(uint256(w));
    }

    function packMarginCall(uint32 account, uint64 deadline, uint128 amount) internal pure returns (bytes32) {
        return bytes32((uint256(account) << 224) | (uint256(deadline) << 160) | uint256(amount));
    }

    function unpackApproval(uint256 w)
        internal
        pure
        returns (uint64 id, uint32 account, uint16 asset, uint128 amount)
    {
        id = uint64(w >> 192);
        account = uint32(w >> 160);
        asset = uint16(w >> 144);
        amount = uint128(w);
    }

    function packApproval(uint64 id, uint32 account, uint16 asset, uint128 amount) internal pure returns (uint256) {
        return (uint256(id) << 192) | (uint256(account) << 160) | (uint256(asset) << 144) | uint256(amount);
    }

    function unpackDefaultAction(bytes32 w) internal pure returns (uint32 account, uint8 action, uint128 amount) {
        account = uint32(uint256(w) >> 224);
        action = uint8(uint256(w) >> 216);
        amount = uint128(uint256(w));
    }

    function packDefaultAction(uint32 account, uint8 action, uint128 amount) internal pure returns (bytes32) {
        return bytes32((uint256(account) << 224) | (uint256(action) << 216) | uint256(amount));
    }
}
