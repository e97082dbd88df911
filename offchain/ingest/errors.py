"""Errors raised by the operator's registry functions, rooted in one `RegistryError`.

Validation of fills never raises: a refused fill is a `Rejection` value with a `Reason`
(offchain/ingest/validation.py), because a venue needs a code it can act on, not a traceback.
"""

from __future__ import annotations

from offchain.errors import CrossclearError


class RegistryError(CrossclearError):
    """Base of every error the registry raises."""


class InvalidRegistryValueError(RegistryError, ValueError):
    """An argument the registry refuses on its own terms (bad address, unknown kind, negative bps)."""


class AlreadyExistsError(RegistryError):
    """The thing being created exists already."""


class VenueExistsError(AlreadyExistsError):
    pass


class InstrumentExistsError(AlreadyExistsError):
    pass


class MemberExistsError(AlreadyExistsError):
    """The account number or the address is taken."""


class SymbolMappedError(AlreadyExistsError):
    """The venue's symbol already maps to an instrument (remapping a live symbol is not allowed)."""


class AlreadyGrantedError(AlreadyExistsError):
    pass


class NotFoundError(RegistryError, LookupError):
    """The thing referred to does not exist."""


class UnknownVenueError(NotFoundError):
    pass


class UnknownInstrumentError(NotFoundError):
    pass


class UnknownMemberError(NotFoundError):
    pass
