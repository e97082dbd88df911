"""One price observation: what one source said one symbol was worth at one instant."""

from __future__ import annotations

from dataclasses import dataclass

from offchain.errors import CrossclearError

#: Symbols are instrument names (``BTC-USD-PERP``) or collateral underlyings (``ETH``).
MAX_SYMBOL = 64
MAX_SOURCE = 32


class MarketInputError(CrossclearError, ValueError):
    """An observation, candle or feed input is malformed; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Observation:
    """A source's price of a symbol.

    Attributes:
        symbol: cleared instrument (its mark) or collateral underlying (its index price).
        source: who said it (``binance-spot``, ``chainlink:ETH/USD``); one source, one vote in the index.
        price: settlement base units per whole unit, > 0.
        ts_ms: when the source observed it (its own timestamp, not when we received it).
        signature: the source's signature over :meth:`digest` where the source signs, else None.
        signer: the address that signature recovers to (checked by the adapter before recording).
    """

    symbol: str
    source: str
    price: int
    ts_ms: int
    signature: bytes | None = None
    signer: str | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.symbol) <= MAX_SYMBOL:
            raise MarketInputError("bad_symbol", f"symbol must be 1..{MAX_SYMBOL} characters, got {self.symbol!r}")
        if not 0 < len(self.source) <= MAX_SOURCE:
            raise MarketInputError("bad_source", f"source must be 1..{MAX_SOURCE} characters, got {self.source!r}")
        if isinstance(self.price, bool) or not isinstance(self.price, int) or self.price <= 0:
            raise MarketInputError(
                "non_positive_price", f"{self.source} {self.symbol}: price must be > 0, got {self.price!r}"
            )
        if isinstance(self.ts_ms, bool) or not isinstance(self.ts_ms, int) or self.ts_ms < 0:
            raise MarketInputError(
                "bad_timestamp", f"{self.source} {self.symbol}: ts_ms must be >= 0, got {self.ts_ms!r}"
            )
        if (self.signature is None) != (self.signer is None):
            raise MarketInputError("bad_signature", "signature and signer go together")

    def digest_text(self) -> str:
        """The text a signing source signs (EIP-191 personal message): symbol, price, time, source."""
        return f"crossclear-price:{self.source}:{self.symbol}:{self.price}:{self.ts_ms}"

    def evidence(self) -> dict[str, str | int | None]:
        """The published form (the verifier re-derives the index from these)."""
        return {
            "source": self.source,
            "price": str(self.price),
            "ts_ms": self.ts_ms,
            "signature": None if self.signature is None else self.signature.hex(),
            "signer": self.signer,
        }
