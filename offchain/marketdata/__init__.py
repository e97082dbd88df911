"""Market data as a stream: observations from several sources per symbol, the index one source cannot
move, candles built from the observations, and the adapters a feeder reads them from.

:mod:`observations` is the value type and its checks, :mod:`index` the median-of-fresh-sources rule,
:mod:`candles` the OHLC aggregation, :mod:`sources` the adapters (replayed history on devnet, venue price
endpoints and Chainlink AggregatorV3-compatible feeds in production), :mod:`feeder` the loop that records
them in the ledger. Pure except :mod:`sources` (reads files, HTTP, RPC) and :mod:`feeder` (writes the
ledger through :mod:`offchain.ledger.market`). See docs/risk.md, "Market data and the index".
"""

from offchain.marketdata.index import IndexHalt, IndexResult, IndexRule, compute_index
from offchain.marketdata.observations import MarketInputError, Observation

__all__ = ["IndexHalt", "IndexResult", "IndexRule", "MarketInputError", "Observation", "compute_index"]
