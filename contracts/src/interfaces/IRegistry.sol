// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title IRegistry
/// @notice crossclear's trust anchors: venue signing keys with validity windows, each venue's
/// symbol-to-instrument map, instrument terms, members' tiers and the verifier's global parameters.
/// Every change is made by the governor (a TimelockController on a real chain); a change to a venue's
/// keys also needs the venue's own EIP-712 signature (`KeyChange`), so the operator cannot give a venue
/// a key it holds itself. Nothing is ever deleted or back-dated: keys get windows, terms get versions,
/// symbol maps are permanent, so a fill or batch of the past is judged by what was in force at its time.
///
/// Times are block timestamps (seconds). Names are the off-chain names ("BTC-USD-PERP", "cex").
interface IRegistry {
    /// @notice The terms of a cleared instrument, as the engine settles and the verifier re-derives them.
    /// `qtyDecimals`: quantities count 10**-qtyDecimals of one unit; `feeBps`: clearing fee per side, in
    /// basis points of notional; `priceBandBps`: the largest distance of a fill (and a close-out) from the
    /// mark; `fundingIntervalS`: funding is applied once per interval, at timestamps on the grid of
    /// multiples of the interval; `fundingCapE8`: the largest |rate| of one interval, in 1e-8 of notional;
    /// `tick`: the price increment, in settlement base units.
    struct Terms {
        uint8 qtyDecimals;
        uint16 feeBps;
        uint16 priceBandBps;
        uint32 fundingIntervalS;
        uint32 fundingCapE8;
        uint128 tick;
    }

    /// @notice Terms in force from `since` until the next version's `since`.
    struct TermsVersion {
        Terms terms;
        uint64 since;
    }

    /// @notice A venue signing key, valid for fills with validFrom <= ts < validUntil (seconds).
    /// `validUntil` is type(uint64).max while the key is current.
    struct KeyWindow {
        address key;
        uint64 validFrom;
        uint64 validUntil;
    }

    /// @notice A member's tier from `since` on.
    struct TierVersion {
        string tier;
        uint64 since;
    }

    /// @notice Global parameters the verifier checks batches against. `fillMaxAgeMs` / `fillMaxAheadMs`:
    /// the ingest window (how far a fill's timestamp may lie before the batch that could first have
    /// settled it, or after the batch that settles it); `minCureS`: the shortest cure period of a margin
    /// call (a DECLARE needs a call at least this old).
    struct Params {
        uint32 fillMaxAgeMs;
        uint32 fillMaxAheadMs;
        uint32 minCureS;
    }

    // ------------------------------------------------------------------ events

    event InstrumentAdded(bytes32 indexed id, string name, string kind, string underlying);
    event TermsSet(bytes32 indexed id, string name, Terms terms, uint64 since);
    event VenueAdded(bytes32 indexed id, string name, string kind, address admin);
    event VenueKeySet(bytes32 indexed id, string venue, address key, uint64 validFrom);
    event VenueKeyEnded(bytes32 indexed id, string venue, address key, uint64 validUntil);
    event SymbolMapped(bytes32 indexed venueId, string venue, string symbol, string instrument, uint64 since);
    event MemberTierSet(address indexed member, string tier, uint64 since);
    event ParamsSet(Params params);

    // ------------------------------------------------------------------ errors

    error EmptyName();
    error NameTooLong(uint256 length);
    error InstrumentExists(string name);
    error UnknownInstrument(string name);
    error VenueExists(string name);
    error UnknownVenue(string name);
    error SymbolAlreadyMapped(string venue, string symbol, string instrument);
    error InvalidTerms(string reason);
    error InvalidParams(string reason);
    error ZeroAddress();
    /// @notice A key window may not start in the past (fills of the past keep the key they were signed with).
    error KeyBackdated(uint64 validFrom, uint64 nowTs);
    /// @notice A new key must start after the current key's window started.
    error KeyNotAfterCurrent(uint64 validFrom, uint64 currentFrom);
    error KeyUnchanged(address key);
    error NoCurrentKey(string venue);
    /// @notice The venue did not co-sign the key change (`signer` is who had to: current key or admin).
    error VenueSignatureInvalid(string venue);

    // ------------------------------------------------------------------ governed changes

    /// @notice Add a cleared instrument with its first terms (in force from now).
    function addInstrument(string calldata name, string calldata kind, string calldata underlying, Terms calldata terms)
        external;

    /// @notice New terms for an instrument, in force from now (the old version keeps judging the past).
    function setTerms(string calldata name, Terms calldata terms) external;

    /// @notice Register a venue with its admin address and first signing key, valid from `validFrom`
    /// (0: now). `keySignature` is the key's own EIP-712 `KeyChange` signature (proof that the venue
    /// holds it; nonce 0).
    function addVenue(
        string calldata name,
        string calldata kind,
        address admin,
        address key,
        uint64 validFrom,
        bytes calldata keySignature
    ) external;

    /// @notice Rotate a venue's key: `newKey` is valid from `validFrom` (0: now) and the current key's
    /// window ends there; `newKey` = address(0) only ends the current key (a compromised key).
    /// `venueSignature`: the venue's EIP-712 `KeyChange` signature by its current key or its admin
    /// (EIP-1271 for a contract admin), over the venue's next nonce.
    function rotateVenueKey(string calldata venue, address newKey, uint64 validFrom, bytes calldata venueSignature)
        external;

    /// @notice Map a venue's own symbol onto a cleared instrument, permanently (a symbol never changes meaning).
    function mapSymbol(string calldata venue, string calldata symbol, string calldata instrument) external;

    /// @notice A member's tier (the risk model's IM multiplier and limits), from now on.
    function setMemberTier(address member, string calldata tier) external;

    function setParams(Params calldata params) external;

    // ------------------------------------------------------------------ views

    function instrumentNames() external view returns (string[] memory);
    function instrument(string calldata name)
        external
        view
        returns (string memory kind, string memory underlying, TermsVersion[] memory versions);
    /// @notice The terms in force at `ts` (reverts UnknownInstrument if none was yet).
    function termsAt(string calldata name, uint64 ts) external view returns (Terms memory);

    function venueNames() external view returns (string[] memory);
    function venue(string calldata name)
        external
        view
        returns (string memory kind, address admin, uint256 nonce, KeyWindow[] memory keys);
    /// @notice The venue's key valid at `ts`, or address(0).
    function keyAt(string calldata venue, uint64 ts) external view returns (address);
    /// @notice The venue's symbol map: symbols[i] maps to instruments[i] since since[i].
    function symbols(string calldata venue)
        external
        view
        returns (string[] memory symbols_, string[] memory instruments, uint64[] memory since);

    function members() external view returns (address[] memory);
    function memberTiers(address member) external view returns (TierVersion[] memory);
    function params() external view returns (Params memory);

    /// @notice The EIP-712 digest a venue signs for a key change (for off-chain signers and parity tests).
    function keyChangeDigest(string calldata venue, address newKey, uint64 validFrom, uint256 nonce)
        external
        view
        returns (bytes32);
}
