"""The ledger schema. Alembic migrations (offchain/ledger/migrations) create exactly this; a test
compares the migrated database with this metadata so the two never drift."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy import BigInteger as SqlBigInteger

from offchain.ledger.types import BigInt

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Milliseconds since the epoch fit a signed 64-bit integer until the year 292 million.
Millis = SqlBigInteger

venues = Table(
    "venues",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("signer", String(42), nullable=False),
    Column("kind", String(16), nullable=False),  # dex, cex, otc, auction (the clearing house's close-out venue)
    Column("approved", Boolean, nullable=False),
    Column("created_ms", Millis, nullable=False),
)

members = Table(
    "members",
    metadata,
    Column("account", Integer, primary_key=True),  # the vault's account number
    Column("address", String(42), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # dao, market_maker, hedge_fund, foundation, ...
    Column("tier", String(16), nullable=False),
    Column("group_name", String(32), nullable=False),  # for the platform's directional view
    Column("status", String(16), nullable=False),  # active, exiting, close_only (margin call), defaulted
    Column("created_ms", Millis, nullable=False),
)

instruments = Table(
    "instruments",
    metadata,
    Column("name", String(64), primary_key=True),  # cleared instrument, e.g. BTC-USD-PERP
    Column("kind", String(16), nullable=False),  # perp, future, spot
    Column("underlying", String(16), nullable=False),
    Column("qty_decimals", Integer, nullable=False),
    Column("price_band_bps", Integer, nullable=False),  # fills outside mark ± band are refused
    Column("max_mark_jump_bps", Integer, nullable=False),  # a mark jumping more halts the instrument
    Column("mark_stale_ms", Millis, nullable=False),  # a mark older than this halts the instrument
    Column("clearing_fee_bps", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
)

# Which cleared instruments a member may trade (granted at admission by the operator).
permissions = Table(
    "permissions",
    metadata,
    Column("member", Integer, ForeignKey("members.account"), primary_key=True),
    Column("instrument", String(64), ForeignKey("instruments.name"), primary_key=True),
)

venue_symbols = Table(
    "venue_symbols",
    metadata,
    Column("venue", String(64), ForeignKey("venues.name"), primary_key=True),
    Column("symbol", String(64), primary_key=True),
    Column("instrument", String(64), ForeignKey("instruments.name"), nullable=False),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # ingest order
    Column("venue", String(64), ForeignKey("venues.name"), nullable=False),
    Column("venue_fill_id", String(128), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("instrument", String(64), ForeignKey("instruments.name"), nullable=False),
    Column("buyer", Integer, ForeignKey("members.account"), nullable=False),
    Column("seller", Integer, ForeignKey("members.account"), nullable=False),
    Column("buyer_address", String(42), nullable=False),
    Column("seller_address", String(42), nullable=False),
    Column("qty", BigInt, nullable=False),
    Column("price", BigInt, nullable=False),
    Column("ts_ms", Millis, nullable=False),
    Column("signature", LargeBinary(65), nullable=False),
    Column("leaf", LargeBinary(32), nullable=False),
    Column("received_ms", Millis, nullable=False),
    Column("batch_sequence", Integer, ForeignKey("batches.sequence"), nullable=True),
    UniqueConstraint("venue", "venue_fill_id", name="uq_fills_venue_fill"),
    Index("ix_fills_pending", "batch_sequence", "id"),
)

rejections = Table(
    "rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("venue", String(64), nullable=False),
    Column("venue_fill_id", String(128), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", String(512), nullable=False),
    Column("received_ms", Millis, nullable=False),
)

# Price observations: marks of cleared instruments and index prices of collateral underlyings ("ETH").
marks = Table(
    "marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument", String(64), nullable=False),
    Column("price", BigInt, nullable=False),  # settlement base units per whole unit
    Column("ts_ms", Millis, nullable=False),
    Column("source", String(32), nullable=False),
    Column("signature", LargeBinary(65), nullable=True),  # the source's signature, where it signs
    Column("signer", String(42), nullable=True),
    Index("ix_marks_latest", "instrument", "ts_ms"),
    Index("ix_marks_source", "instrument", "source", "ts_ms"),
)

# Candles of each (symbol, source) over closed intervals, built from `marks` (offchain/marketdata/candles.py);
# the risk model recalibrates from the daily ones. Written once per closed interval, never changed.
candles = Table(
    "candles",
    metadata,
    Column("symbol", String(64), primary_key=True),
    Column("source", String(32), primary_key=True),
    Column("interval_ms", Millis, primary_key=True, autoincrement=False),
    Column("open_ms", Millis, primary_key=True, autoincrement=False),
    Column("open", BigInt, nullable=False),
    Column("high", BigInt, nullable=False),
    Column("low", BigInt, nullable=False),
    Column("close", BigInt, nullable=False),
    Column("count", Integer, nullable=False),
)

# Up to where candles of each interval have been built (intervals ending at or before `upto_ms`).
candle_cursors = Table(
    "candle_cursors",
    metadata,
    Column("interval_ms", Millis, primary_key=True, autoincrement=False),
    Column("upto_ms", Millis, nullable=False),
)

funding_rates = Table(
    "funding_rates",
    metadata,
    Column("instrument", String(64), ForeignKey("instruments.name"), primary_key=True),
    Column("ts_ms", Millis, primary_key=True),
    Column("rate_e8", Integer, nullable=False),  # per funding interval, 1e-8 units; > 0: longs pay
    Column("batch_sequence", Integer, ForeignKey("batches.sequence"), nullable=True),
)

batches = Table(
    "batches",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),  # built, sent, confirmed
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("as_of_ms", Millis, nullable=False),
    Column("payload", JSON, nullable=False),  # rows, marks, requirements, context: everything it settles
    Column("tx_hash", LargeBinary(32), nullable=True),
    Column("block_number", Integer, nullable=True),
    Column("gas_used", Integer, nullable=True),
    Column("built_ms", Millis, nullable=False),
    Column("confirmed_ms", Millis, nullable=True),
)

# Settled state: what the last confirmed batch left behind.
positions = Table(
    "positions",
    metadata,
    Column("member", Integer, ForeignKey("members.account"), primary_key=True),
    Column("instrument", String(64), ForeignKey("instruments.name"), primary_key=True),
    Column("venue", String(64), ForeignKey("venues.name"), primary_key=True),
    Column("qty", BigInt, nullable=False),  # signed; long > 0
)

# Average entry price of each netted position (member, instrument across venues), rolled from the
# member's settled fills (offchain/ledger/entries.py): the unrealised profit that ranks auto-deleveraging.
position_entries = Table(
    "position_entries",
    metadata,
    Column("member", Integer, ForeignKey("members.account"), primary_key=True),
    Column("instrument", String(64), ForeignKey("instruments.name"), primary_key=True),
    Column("qty", BigInt, nullable=False),  # signed, equals the sum of `positions` over venues
    Column("entry_price", BigInt, nullable=False),  # settlement base units per whole unit; 0 when flat
    Column("batch_sequence", Integer, nullable=False),
)

settled_marks = Table(
    "settled_marks",
    metadata,
    Column("instrument", String(64), ForeignKey("instruments.name"), primary_key=True),
    Column("price", BigInt, nullable=False),
    Column("ts_ms", Millis, nullable=False),
    Column("batch_sequence", Integer, nullable=False),
)

# What the vault was last told, so a batch only carries the rows that changed.
posted_requirements = Table(
    "posted_requirements",
    metadata,
    Column("member", Integer, ForeignKey("members.account"), primary_key=True),
    Column("im", BigInt, nullable=False),
    Column("mm", BigInt, nullable=False),
    Column("batch_sequence", Integer, nullable=False),
)

posted_collateral_marks = Table(
    "posted_collateral_marks",
    metadata,
    Column("asset", Integer, primary_key=True, autoincrement=False),
    Column("price", BigInt, nullable=False),
    Column("haircut_bps", Integer, nullable=False),
    Column("batch_sequence", Integer, nullable=False),
)

cash_flows = Table(
    "cash_flows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_sequence", Integer, ForeignKey("batches.sequence"), nullable=False),
    Column("account", Integer, nullable=False),
    Column("instrument", String(64), nullable=True),
    Column("kind", String(16), nullable=False),  # vm, funding, fee, rounding
    Column("amount", BigInt, nullable=False),  # settlement base units; > 0 credits the account
    Index("ix_cash_flows_account", "account", "batch_sequence"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts_ms", Millis, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", String(512), nullable=False),
)

# The settlement engine's own state, one row per vault, written by the leader every step: who leads, whether
# it is halted (clock drift) and why. `/v1/health` reads it, so a halted engine is not reported as ok.
engine_status = Table(
    "engine_status",
    metadata,
    Column("vault", String(42), primary_key=True),
    Column("node", String(128), nullable=False),
    Column("state", String(16), nullable=False),  # running | halted
    Column("detail", String(512), nullable=False),
    Column("chain_lead_s", SqlBigInteger, nullable=False),  # latest block's time minus the wall clock
    Column("updated_ms", Millis, nullable=False),
)

# ---------------------------------------------------------------- API (offchain/api)

# Every signed API request spends one (signer, nonce) pair, in the same transaction as its effect, so a
# replay is refused and a refused request leaves no trace. Rows may be pruned once `expiry_ms` is past:
# a request is refused after its expiry anyway.
api_nonces = Table(
    "api_nonces",
    metadata,
    Column("signer", String(42), primary_key=True),
    Column("nonce", String(80), primary_key=True),  # uint256 as decimal text
    Column("action", String(64), nullable=False),
    Column("expiry_ms", Millis, nullable=False),
    Column("used_ms", Millis, nullable=False),
    Index("ix_api_nonces_expiry", "expiry_ms"),
)

# Direct admission: a prospective member applies (signed), the operator approves (signed) once the
# address is admitted on-chain. `parent` is set for a sub-account (isolated margin) of an existing member.
membership_applications = Table(
    "membership_applications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("address", String(42), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("group_name", String(32), nullable=False),
    Column("parent", Integer, ForeignKey("members.account"), nullable=True),
    Column("status", String(16), nullable=False),  # pending, approved, rejected
    Column("account", Integer, nullable=True),  # the vault account once approved
    Column("note", String(256), nullable=False),
    Column("created_ms", Millis, nullable=False),
    Column("decided_ms", Millis, nullable=True),
    Index("ix_membership_applications_address", "address", "status"),
    # One pending application per address, enforced by the database (concurrent applications race).
    Index(
        "uq_membership_applications_pending",
        "address",
        unique=True,
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

# Session tokens are stateless HMAC tokens; these two tables take them back. A logout revokes one token
# (by its `sid`) until it would have expired anyway; "revoke all my sessions" bumps the address's
# generation, and a token carries the generation it was issued under.
api_sessions_revoked = Table(
    "api_sessions_revoked",
    metadata,
    Column("sid", String(32), primary_key=True),
    Column("expires_ms", Millis, nullable=False),
    Index("ix_api_sessions_revoked_expiry", "expires_ms"),
)

api_session_generations = Table(
    "api_session_generations",
    metadata,
    Column("address", String(42), primary_key=True),
    Column("generation", Integer, nullable=False),
)

# Signed webhooks (offchain/api/push.py): a member's URL receives its events, signed with `secret`
# (HMAC-SHA256); `cursor` is the last event delivered per source table.
api_webhooks = Table(
    "api_webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", Integer, ForeignKey("members.account"), nullable=False),
    Column("url", String(512), nullable=False),
    Column("secret", String(64), nullable=False),
    Column("cursor", JSON, nullable=False),
    Column("created_ms", Millis, nullable=False),
    UniqueConstraint("account", "url", name="uq_api_webhooks_account_url"),
)

# ---------------------------------------------------------------- defaults (offchain/defaults)

# Every margin-call decision that changed something, in batch order: the calls, raises, cures and
# defaults of a member can be replayed from these rows alone (equity, IM, MM and debt as the engine saw them).
margin_calls = Table(
    "margin_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_sequence", Integer, nullable=False),
    Column("account", Integer, ForeignKey("members.account"), nullable=False),
    Column("verdict", String(16), nullable=False),  # issue, raise, cure, default
    Column("amount", BigInt, nullable=False),  # the call's amount after this row (0 once cured)
    Column("deadline", SqlBigInteger, nullable=False),  # chain seconds
    Column("deep", Boolean, nullable=False),
    Column("equity", BigInt, nullable=False),  # haircut collateral value − debt (may be < 0)
    Column("debt", BigInt, nullable=False),
    Column("im", BigInt, nullable=False),
    Column("mm", BigInt, nullable=False),
    Column("as_of", SqlBigInteger, nullable=False),  # the batch's chain time
    Index("ix_margin_calls_account", "account", "id"),
)

DEFAULT_KIND, EXIT_CLOSEOUT_KIND = "default", "exit_closeout"  # defaults.kind

# One row per default, from DECLARE to CLOSE; and, of kind `exit_closeout`, one per close-out of an exiting
# member's book (offchain/defaults/closeout.py): its tranches and bids use the auction tables below, under its id.
# A close-out has no DECLARE batch (`declared_sequence`: the last confirmed batch when it started), no pool and
# no penalty (what is not bid is offered again, never closed against the house).
defaults = Table(
    "defaults",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", Integer, ForeignKey("members.account"), nullable=False),
    # default: declared (closing out), closed; exit_closeout: closing (auctioning), flat, cancelled, defaulted
    Column("status", String(16), nullable=False),
    Column("kind", String(16), nullable=False, server_default="default"),  # default, exit_closeout
    Column("declared_sequence", Integer, nullable=False),
    Column("declared_at", SqlBigInteger, nullable=False),  # chain seconds
    Column("positions", JSON, nullable=False),  # instrument -> signed qty at DECLARE (decimal strings)
    Column("penalty_bps", Integer, nullable=False),  # price penalty of the unbid remainder
    Column("pool_value", BigInt, nullable=False),  # default-fund pool at DECLARE (the L5 caps)
    Column("pool_shares", BigInt, nullable=False),
    Column("covered", BigInt, nullable=False),  # loss covered by the waterfall (COVER amounts)
    Column("closed_sequence", Integer, nullable=True),
)

# One auctioned tranche of a defaulter's position, and the bids it received.
auction_tranches = Table(
    "auction_tranches",
    metadata,
    Column("default_id", Integer, ForeignKey("defaults.id"), primary_key=True),
    Column("instrument", String(64), ForeignKey("instruments.name"), primary_key=True),
    Column("tranche", Integer, primary_key=True, autoincrement=False),
    Column("defaulter_sells", Boolean, nullable=False),
    Column("qty", BigInt, nullable=False),
    Column("mark", BigInt, nullable=False),
    Column("opened_at", SqlBigInteger, nullable=False),  # chain seconds
    Column("status", String(16), nullable=False),  # open, cleared
    Column("bid_qty", BigInt, nullable=True),  # filled by member bids
    Column("residual_qty", BigInt, nullable=True),  # closed against the house
    Column("residual_price", BigInt, nullable=True),
)

auction_bids = Table(
    "auction_bids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("default_id", Integer, ForeignKey("defaults.id"), nullable=False),
    Column("instrument", String(64), nullable=False),
    Column("tranche", Integer, nullable=False),
    Column("bidder", String(42), nullable=False),
    Column("buy", Boolean, nullable=False),
    Column("qty", BigInt, nullable=False),
    Column("price", BigInt, nullable=False),
    Column("expiry", SqlBigInteger, nullable=False),
    Column("signature", LargeBinary(65), nullable=False),
    Column("received_ms", Millis, nullable=False),
    Column("outcome", String(16), nullable=True),  # won, lost, or a refusal code, once cleared
    Column("filled_qty", BigInt, nullable=True),
    Index("ix_auction_bids_tranche", "default_id", "instrument", "tranche"),
)

# Waterfall draws: as planned by offchain/core/waterfall.py (source 'plan') and as the vault's
# WaterfallDraw events report them (source 'chain'). Layers 6 and 7 are off-chain ('plan' only).
waterfall_draws = Table(
    "waterfall_draws",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("default_id", Integer, ForeignKey("defaults.id"), nullable=False),
    Column("batch_sequence", Integer, nullable=False),
    Column("source", String(8), nullable=False),  # plan, chain
    Column("layer", Integer, nullable=False),
    Column("account", Integer, nullable=False),
    Column("asset", Integer, nullable=False),
    Column("amount", BigInt, nullable=False),
    Column("value", BigInt, nullable=False),
    Index("ix_waterfall_draws_default", "default_id", "source"),
)

# Default-fund sizing: each member's Cover-2 target and what the batch moved towards it.
df_contributions = Table(
    "df_contributions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_sequence", Integer, nullable=False),
    Column("account", Integer, ForeignKey("members.account"), nullable=False),
    Column("target", BigInt, nullable=False),
    Column("current", BigInt, nullable=False),  # contribution value before the batch
    Column("amount", BigInt, nullable=False),  # the contribution row (> 0 in, < 0 returned)
    Index("ix_df_contributions_sequence", "batch_sequence"),
)

# What a stored, unconfirmed batch's default management overwrote (the batch's other default writes are rows
# keyed by its sequence): a batch dropped unsent takes its default writes with it (offchain/ledger/defaults.py
# `undo_writes`); a confirmed batch's row is deleted.
default_undo = Table(
    "default_undo",
    metadata,
    Column("batch_sequence", Integer, primary_key=True, autoincrement=False),
    Column("statuses", JSON, nullable=False),  # account (decimal string) -> member status before the batch
    Column("covered", JSON, nullable=False),  # default id (decimal string) -> covered before (decimal string)
)
