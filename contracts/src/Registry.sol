// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IRegistry} from "./interfaces/IRegistry.sol";
import {KeyChange} from "./libraries/KeyChange.sol";

/// @title Registry
/// @notice The on-chain trust anchors of crossclear (see IRegistry): what the verifier and the
/// co-signers read instead of the operator's published header. Every change is the governor's (the
/// timelock); venue key changes also carry the venue's own EIP-712 consent. History is append-only:
/// keys get windows, terms get versions, symbol maps never change meaning, tiers get versions.
contract Registry is IRegistry, AccessControl, EIP712 {
    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    uint256 internal constant MAX_NAME = 64;
    uint8 internal constant MAX_QTY_DECIMALS = 38;
    uint16 internal constant BPS = 10_000;
    uint32 internal constant RATE_SCALE = 1e8;
    uint64 internal constant OPEN = type(uint64).max;

    struct InstrumentRecord {
        bool exists;
        string kind;
        string underlying;
        TermsVersion[] versions;
    }

    struct VenueRecord {
        bool exists;
        string kind;
        address admin;
        uint256 nonce;
        KeyWindow[] keys;
        string[] symbols;
        mapping(bytes32 symbolId => uint256 indexPlusOne) symbolIndex;
        string[] symbolInstruments;
        uint64[] symbolSince;
    }

    mapping(bytes32 id => InstrumentRecord) internal _instruments;
    string[] internal _instrumentNames;
    mapping(bytes32 id => VenueRecord) internal _venues;
    string[] internal _venueNames;
    mapping(address member => TierVersion[]) internal _tiers;
    address[] internal _members;
    Params internal _params;

    /// @param governor the timelock (on devnet the deployer): the only account that changes anything.
    /// @param initialParams the verifier's global parameters (validated like `setParams`).
    constructor(address governor, Params memory initialParams) EIP712("crossclear Registry", "1") {
        if (governor == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, governor);
        _grantRole(GOVERNOR_ROLE, governor);
        _setParams(initialParams);
    }

    // ------------------------------------------------------------------ instruments

    /// @inheritdoc IRegistry
    function addInstrument(string calldata name, string calldata kind, string calldata underlying, Terms calldata terms)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        bytes32 id = _id(name);
        InstrumentRecord storage ins = _instruments[id];
        if (ins.exists) revert InstrumentExists(name);
        _id(kind);
        _id(underlying);
        ins.exists = true;
        ins.kind = kind;
        ins.underlying = underlying;
        _instrumentNames.push(name);
        emit InstrumentAdded(id, name, kind, underlying);
        _pushTerms(id, name, ins, terms);
    }

    /// @inheritdoc IRegistry
    function setTerms(string calldata name, Terms calldata terms) external onlyRole(GOVERNOR_ROLE) {
        bytes32 id = _id(name);
        InstrumentRecord storage ins = _instruments[id];
        if (!ins.exists) revert UnknownInstrument(name);
        _pushTerms(id, name, ins, terms);
    }

    function _pushTerms(bytes32 id, string calldata name, InstrumentRecord storage ins, Terms calldata terms) internal {
        _validateTerms(terms);
        uint64 nowTs = uint64(block.timestamp);
        uint256 n = ins.versions.length;
        // Two changes in one block: the later one replaces the earlier (a version is in force for a time).
        if (n > 0 && ins.versions[n - 1].since == nowTs) {
            ins.versions[n - 1].terms = terms;
        } else {
            ins.versions.push(TermsVersion(terms, nowTs));
        }
        emit TermsSet(id, name, terms, nowTs);
    }

    function _validateTerms(Terms calldata t) internal pure {
        if (t.qtyDecimals > MAX_QTY_DECIMALS) revert InvalidTerms("qtyDecimals above 38");
        if (t.feeBps > BPS) revert InvalidTerms("feeBps above 10000");
        if (t.priceBandBps == 0 || t.priceBandBps > BPS) revert InvalidTerms("priceBandBps not in 1..10000");
        if (t.fundingIntervalS == 0) revert InvalidTerms("fundingIntervalS is zero");
        if (t.fundingCapE8 > RATE_SCALE) revert InvalidTerms("fundingCapE8 above 100%");
        if (t.tick == 0) revert InvalidTerms("tick is zero");
    }

    // ------------------------------------------------------------------ venues and keys

    /// @inheritdoc IRegistry
    function addVenue(
        string calldata name,
        string calldata kind,
        address admin,
        address key,
        uint64 validFrom,
        bytes calldata keySignature
    ) external onlyRole(GOVERNOR_ROLE) {
        bytes32 id = _id(name);
        VenueRecord storage v = _venues[id];
        if (v.exists) revert VenueExists(name);
        _id(kind);
        if (admin == address(0) || key == address(0)) revert ZeroAddress();
        uint64 from = _from(validFrom);
        if (!SignatureChecker.isValidSignatureNow(key, keyChangeDigest(name, key, validFrom, 0), keySignature)) {
            revert VenueSignatureInvalid(name);
        }
        v.exists = true;
        v.kind = kind;
        v.admin = admin;
        v.nonce = 1;
        v.keys.push(KeyWindow(key, from, OPEN));
        _venueNames.push(name);
        emit VenueAdded(id, name, kind, admin);
        emit VenueKeySet(id, name, key, from);
    }

    /// @inheritdoc IRegistry
    function rotateVenueKey(string calldata venueName, address newKey, uint64 validFrom, bytes calldata venueSignature)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        bytes32 id = _id(venueName);
        VenueRecord storage v = _venues[id];
        if (!v.exists) revert UnknownVenue(venueName);
        uint64 from = _from(validFrom);
        KeyWindow storage last = v.keys[v.keys.length - 1];
        bool open = last.validUntil == OPEN;
        if (open) {
            if (from <= last.validFrom) revert KeyNotAfterCurrent(from, last.validFrom);
            if (newKey == last.key) revert KeyUnchanged(newKey);
        } else {
            if (newKey == address(0)) revert NoCurrentKey(venueName);
            if (from < last.validUntil) revert KeyNotAfterCurrent(from, last.validUntil);
        }
        bytes32 digest = keyChangeDigest(venueName, newKey, validFrom, v.nonce);
        // The current key may consent while it is current; the admin always may (a lost or revoked key).
        bool consented = (open && SignatureChecker.isValidSignatureNow(last.key, digest, venueSignature))
            || SignatureChecker.isValidSignatureNow(v.admin, digest, venueSignature);
        if (!consented) revert VenueSignatureInvalid(venueName);
        v.nonce += 1;
        if (open) {
            last.validUntil = from;
            emit VenueKeyEnded(id, venueName, last.key, from);
        }
        if (newKey != address(0)) {
            v.keys.push(KeyWindow(newKey, from, OPEN));
            emit VenueKeySet(id, venueName, newKey, from);
        }
    }

    /// @inheritdoc IRegistry
    function mapSymbol(string calldata venueName, string calldata symbol, string calldata instrument_)
        external
        onlyRole(GOVERNOR_ROLE)
    {
        bytes32 venueId = _id(venueName);
        VenueRecord storage v = _venues[venueId];
        if (!v.exists) revert UnknownVenue(venueName);
        if (!_instruments[_id(instrument_)].exists) revert UnknownInstrument(instrument_);
        bytes32 symbolId = _id(symbol);
        uint256 at = v.symbolIndex[symbolId];
        if (at != 0) revert SymbolAlreadyMapped(venueName, symbol, v.symbolInstruments[at - 1]);
        v.symbols.push(symbol);
        v.symbolInstruments.push(instrument_);
        v.symbolSince.push(uint64(block.timestamp));
        v.symbolIndex[symbolId] = v.symbols.length;
        emit SymbolMapped(venueId, venueName, symbol, instrument_, uint64(block.timestamp));
    }

    // ------------------------------------------------------------------ members and parameters

    /// @inheritdoc IRegistry
    function setMemberTier(address member, string calldata tier) external onlyRole(GOVERNOR_ROLE) {
        if (member == address(0)) revert ZeroAddress();
        _id(tier);
        TierVersion[] storage versions = _tiers[member];
        uint64 nowTs = uint64(block.timestamp);
        if (versions.length == 0) _members.push(member);
        if (versions.length > 0 && versions[versions.length - 1].since == nowTs) {
            versions[versions.length - 1].tier = tier;
        } else {
            versions.push(TierVersion(tier, nowTs));
        }
        emit MemberTierSet(member, tier, nowTs);
    }

    /// @inheritdoc IRegistry
    function setParams(Params calldata p) external onlyRole(GOVERNOR_ROLE) {
        _setParams(p);
    }

    function _setParams(Params memory p) internal {
        if (p.fillMaxAgeMs == 0) revert InvalidParams("fillMaxAgeMs is zero");
        if (p.minCureS == 0) revert InvalidParams("minCureS is zero");
        _params = p;
        emit ParamsSet(p);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IRegistry
    function instrumentNames() external view returns (string[] memory) {
        return _instrumentNames;
    }

    /// @inheritdoc IRegistry
    function instrument(string calldata name)
        external
        view
        returns (string memory kind, string memory underlying, TermsVersion[] memory versions)
    {
        InstrumentRecord storage ins = _instruments[keccak256(bytes(name))];
        if (!ins.exists) revert UnknownInstrument(name);
        return (ins.kind, ins.underlying, ins.versions);
    }

    /// @inheritdoc IRegistry
    function termsAt(string calldata name, uint64 ts) external view returns (Terms memory) {
        InstrumentRecord storage ins = _instruments[keccak256(bytes(name))];
        for (uint256 i = ins.versions.length; i > 0; --i) {
            if (ins.versions[i - 1].since <= ts) return ins.versions[i - 1].terms;
        }
        revert UnknownInstrument(name);
    }

    /// @inheritdoc IRegistry
    function venueNames() external view returns (string[] memory) {
        return _venueNames;
    }

    /// @inheritdoc IRegistry
    function venue(string calldata name)
        external
        view
        returns (string memory kind, address admin, uint256 nonce, KeyWindow[] memory keys)
    {
        VenueRecord storage v = _venues[keccak256(bytes(name))];
        if (!v.exists) revert UnknownVenue(name);
        return (v.kind, v.admin, v.nonce, v.keys);
    }

    /// @inheritdoc IRegistry
    function keyAt(string calldata venue_, uint64 ts) external view returns (address) {
        KeyWindow[] storage keys = _venues[keccak256(bytes(venue_))].keys;
        for (uint256 i = keys.length; i > 0; --i) {
            KeyWindow storage w = keys[i - 1];
            if (w.validFrom <= ts && ts < w.validUntil) return w.key;
        }
        return address(0);
    }

    /// @inheritdoc IRegistry
    function symbols(string calldata venue_)
        external
        view
        returns (string[] memory symbols_, string[] memory instruments, uint64[] memory since)
    {
        VenueRecord storage v = _venues[keccak256(bytes(venue_))];
        if (!v.exists) revert UnknownVenue(venue_);
        return (v.symbols, v.symbolInstruments, v.symbolSince);
    }

    /// @inheritdoc IRegistry
    function members() external view returns (address[] memory) {
        return _members;
    }

    /// @inheritdoc IRegistry
    function memberTiers(address member) external view returns (TierVersion[] memory) {
        return _tiers[member];
    }

    /// @inheritdoc IRegistry
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @inheritdoc IRegistry
    function keyChangeDigest(string calldata venue_, address newKey, uint64 validFrom, uint256 nonce)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(KeyChange.hash(venue_, newKey, validFrom, nonce));
    }

    /// @notice The EIP-712 domain separator (name "crossclear Registry", version "1", chain id, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ helpers

    /// @dev A name's id (keccak of its bytes), refusing empty and over-long names.
    function _id(string calldata name) internal pure returns (bytes32) {
        uint256 n = bytes(name).length;
        if (n == 0) revert EmptyName();
        if (n > MAX_NAME) revert NameTooLong(n);
        return keccak256(bytes(name));
    }

    /// @dev A window start: 0 means now; never before now (a key of the past would re-judge settled fills).
    function _from(uint64 validFrom) internal view returns (uint64) {
        uint64 nowTs = uint64(block.timestamp);
        if (validFrom == 0) return nowTs;
        if (validFrom < nowTs) revert KeyBackdated(validFrom, nowTs);
        return validFrom;
    }
}
