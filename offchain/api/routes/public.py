"""Auditors and the public: batches with transfers and tx, published fills, default fund, platform
directional imbalance, waterfall history, instruments, health. No session needed (rate-limited per IP)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path

from offchain.api.deps import PageDep, PublicLimit, Services, ServicesDep
from offchain.api.errors import COMMON_RESPONSES, ErrorBody, not_found
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import (
    BalanceOut,
    BatchOut,
    CollateralMarkOut,
    ContributionOut,
    DefaultFundOut,
    FillOut,
    GroupImbalance,
    Health,
    InstrumentImbalance,
    InstrumentOut,
    Paged,
    PriceOut,
    RequirementOut,
    TransferOut,
    WaterfallEvent,
    WaterfallOut,
)
from offchain.api.queries import decode_payload, imbalance, notional
from offchain.api.routes.venues import fills_page_out
from offchain.core.batch import DEFAULT_FUND_ACCOUNT
from offchain.ledger.engine_status import HALTED, read_status
from offchain.ledger.views import batches, defaults, fills, instruments, margin, prices
from offchain.ledger.views.batches import BatchRow

router = APIRouter(tags=["public"], dependencies=[PublicLimit], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
Sequence = Annotated[int, Path(ge=0, le=2**62)]
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 424: {"model": ErrorBody}}


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + bytes(b).hex()


def batch_out(r: BatchRow, fill_count: int) -> BatchOut:
    payload = decode_payload(r.payload)
    b = payload.batch
    return BatchOut(
        sequence=r.sequence,
        status=r.status,
        digest="0x" + r.digest.hex(),
        prev_hash="0x" + b.prev_hash.hex(),
        as_of=b.as_of,
        fills_root="0x" + b.fills_root.hex(),
        fill_count=fill_count,
        context_hash="0x" + b.context_hash.hex(),
        tx_hash=_hex(r.tx_hash),
        block_number=r.block_number,
        gas_used=r.gas_used,
        transfers=[TransferOut(account=x.account, asset=x.asset, amount=str(x.amount)) for x in b.transfers],
        requirements=[RequirementOut(account=q.account, im=str(q.im), mm=str(q.mm)) for q in b.requirements],
        collateral_marks=[
            CollateralMarkOut(asset=m.asset, price=str(m.price), haircut_bps=m.haircut_bps) for m in b.marks
        ],
        approved_withdrawals=[str(w) for w in b.approved_withdrawals],
        context=payload.context,
    )


@router.get(
    "/batches", response_model=Paged[BatchOut], summary="Settlement batches, oldest first, with transfers and tx"
)
def list_batches(svc: ServicesDep, page: PageDep) -> Paged[BatchOut]:
    with svc.engine.connect() as conn:
        rows = batches.batches_page(conn, page.cursor, page.limit)
        counts = batches.fill_counts(conn, [r.sequence for r in rows])
    items = [batch_out(r, counts.get(r.sequence, 0)) for r in rows]
    return Paged(items=items, next_cursor=items[-1].sequence if len(items) == page.limit else None)


@router.get("/batches/{sequence}", response_model=BatchOut, responses=_ERRORS)
def get_batch(sequence: Sequence, svc: ServicesDep) -> BatchOut:
    with svc.engine.connect() as conn:
        r = batches.batch(conn, sequence)
        if r is None:
            raise not_found("unknown_batch", sequence)
        n = batches.fill_count(conn, sequence)
    return batch_out(r, n)


@router.get(
    "/batches/{sequence}/fills",
    response_model=Paged[FillOut],
    responses=_ERRORS,
    summary="The published fills a batch settles (their leaves make its fillsRoot)",
)
def batch_fills(sequence: Sequence, svc: ServicesDep, page: PageDep) -> Paged[FillOut]:
    with svc.engine.connect() as conn:
        if not batches.batch_exists(conn, sequence):
            raise not_found("unknown_batch", sequence)
        rows = fills.fills_page(conn, page.cursor, page.limit, batch_sequence=sequence)
        return fills_page_out(conn, rows, page.limit)


@router.get(
    "/default-fund",
    response_model=DefaultFundOut,
    responses=_ERRORS,
    summary="Default-fund size (vault account 2) and contributions",
)
def default_fund(svc: ServicesDep) -> DefaultFundOut:
    source: Literal["chain", "ledger"]
    """From the chain when the API has a connection (the balance of account 2 per asset), otherwise from
    the ledger's settled cash flows into account 2 (settlement asset only)."""
    if svc.chain is not None:
        chain = svc.chain
        balances = [
            BalanceOut(asset=a, amount=str(chain.balance(DEFAULT_FUND_ACCOUNT, a))) for a in range(chain.asset_count())
        ]
        source = "chain"
    else:
        with svc.engine.connect() as conn:
            total = margin.cash_flow_total(conn, DEFAULT_FUND_ACCOUNT)
        balances = [BalanceOut(asset=0, amount=str(total))]
        source = "ledger"
    with svc.engine.connect() as conn:
        rows = defaults.latest_contributions(conn)
    contributions = [
        ContributionOut(
            account=r.account,
            target=str(r.target),
            contributed=str(r.current + r.amount),
            batch_sequence=r.batch_sequence,
        )
        for r in rows
    ]
    return DefaultFundOut(
        account=DEFAULT_FUND_ACCOUNT,
        source=source,
        balances=balances,
        contributions=contributions,
        contributions_available=True,
    )


@router.get(
    "/platform/imbalance",
    response_model=list[InstrumentImbalance],
    summary="Net directional imbalance per instrument, by member group (settled positions)",
)
def platform_imbalance(svc: ServicesDep) -> list[InstrumentImbalance]:
    with svc.engine.connect() as conn:
        totals = imbalance(conn)
        marks = prices.settled_mark_prices(conn)
        decimals = {name: v.qty_decimals for name, v in instruments.instrument_rows(conn).items()}
    out = []
    for instrument in sorted(totals):
        mark = marks.get(instrument)
        dec = decimals.get(instrument, 0)
        groups = []
        net_all = gross_all = 0
        for group in sorted(totals[instrument]):
            g = totals[instrument][group]
            net_all += g.net_qty
            gross_all += g.gross_qty
            groups.append(
                GroupImbalance(
                    group=group,
                    net_qty=str(g.net_qty),
                    gross_qty=str(g.gross_qty),
                    net_notional=str(notional(g.net_qty, mark or 0, dec)),
                    gross_notional=str(notional(g.gross_qty, mark or 0, dec)),
                    one_sided=g.net_qty / g.gross_qty if g.gross_qty else 0.0,
                )
            )
        out.append(
            InstrumentImbalance(
                instrument=instrument,
                mark=None if mark is None else str(mark),
                groups=groups,
                platform_one_sided=net_all / gross_all if gross_all else 0.0,
            )
        )
    return out


@router.get("/waterfall", response_model=WaterfallOut, summary="Default-waterfall draws, layer by layer")
def waterfall(svc: ServicesDep, page: PageDep) -> WaterfallOut:
    with svc.engine.connect() as conn:
        rows = defaults.waterfall_page(conn, page.cursor, page.limit)
    items = [
        WaterfallEvent(
            id=r.id,
            default_id=r.default_id,
            defaulter=r.defaulter,
            batch_sequence=r.batch_sequence,
            source=r.source,
            layer=r.layer,
            account=r.account,
            asset=r.asset,
            amount=str(r.amount),
            value=str(r.value),
        )
        for r in rows
    ]
    return WaterfallOut(items=items, next_cursor=items[-1].id if len(items) == page.limit else None, available=True)


@router.get(
    "/marks",
    response_model=list[PriceOut],
    summary="Current marks (with the price band fills are checked against) and index prices, with their sources",
)
def current_marks(svc: ServicesDep) -> list[PriceOut]:
    """The price per name now under the engine's one latest-price rule (its index: median of the fresh
    sources, outliers rejected, quorum; an instrument's bounded by its `mark_stale_ms`), as ingest bands fills
    against it (a new price reaches ingest within a second). A fill is accepted when
    `band_low <= price <= band_high` and the mark is not `stale`; a name whose index halted has no price and
    says why in `halt`."""
    now = svc.clock()
    with svc.engine.connect() as conn:
        terms = instruments.instrument_rows(conn)
        latest = prices.latest_indices(conn, now, {n: term.mark_stale_ms for n, term in terms.items()})
    out = []
    for name, idx in latest.items():
        term = terms.get(name)
        low = high = None
        if term is not None and idx.price is not None:
            width = idx.price * term.price_band_bps // 10_000  # |price - mark| * 10_000 <= band * mark
            low, high = str(max(idx.price - width, 1)), str(idx.price + width)
        out.append(
            PriceOut(
                name=name,
                kind="index" if term is None else "mark",
                price=None if idx.price is None else str(idx.price),
                ts_ms=idx.ts_ms,
                source=",".join(o.source for o in idx.used),
                price_band_bps=None if term is None else term.price_band_bps,
                band_low=low,
                band_high=high,
                # The index is already bounded by the instrument's mark_stale_ms: stale means "none now".
                stale=None if term is None else idx.price is None,
                halt=None if idx.halt is None else idx.halt.value,
                detail=idx.detail if idx.halt is not None else None,
            )
        )
    return out


@router.get("/instruments", response_model=list[InstrumentOut], summary="Cleared instruments and their settled marks")
def list_instruments(svc: ServicesDep) -> list[InstrumentOut]:
    with svc.engine.connect() as conn:
        ins = instruments.instrument_rows(conn)
        marks = prices.settled_mark_prices(conn)
    return [
        InstrumentOut(
            name=n,
            kind=v.kind,
            underlying=v.underlying,
            qty_decimals=v.qty_decimals,
            clearing_fee_bps=v.clearing_fee_bps,
            active=v.active,
            mark=None if marks.get(n) is None else str(marks[n]),
        )
        for n, v in sorted(ins.items())
    ]


_HEALTH_DB_TIMEOUT_S = 2.0


def _ledger_health(svc: Services) -> tuple[int | None, list[str]]:
    """The last batch and why the settlement engine halted (its clock check), if it did."""
    with svc.engine.connect() as conn:
        last = batches.last_sequence(conn)
        halted = [s.detail for s in read_status(conn) if s.state == HALTED]
    return last, halted


@router.get("/health", response_model=Health)
async def health(svc: ServicesDep) -> Health:
    """Answers whatever the chain does (no RPC call; `chain` reports the circuit breaker's state) and
    within about two seconds whatever the database does (`last_batch` null, `database` "slow" then).
    `refused_unauthenticated` counts, per code, the requests and fills refused before their sender was
    authenticated: the only trace such requests leave. `status` is "halted" (with `halted` saying why) while
    the settlement engine has stopped on its clock check (the chain's clock too far from the wall clock)."""
    database: Literal["ok", "slow"] = "ok"
    last: int | None = None
    halted: list[str] = []
    try:
        with anyio.fail_after(_HEALTH_DB_TIMEOUT_S):
            last, halted = await anyio.to_thread.run_sync(
                _ledger_health, svc, abandon_on_cancel=True, limiter=svc.health_limiter()
            )
    except TimeoutError:
        database = "slow"
    refused = svc.refusals.snapshot()
    for reason, n in svc.ingestor.unauthenticated_counts().items():
        refused[reason] = refused.get(reason, 0) + n
    return Health(
        status="halted" if halted else "ok",
        last_batch=last,
        chain=svc.chain is not None,
        chain_state=svc.chain_state(),
        database=database,
        refused_unauthenticated=dict(sorted(refused.items())),
        halted="; ".join(halted) or None,
    )
