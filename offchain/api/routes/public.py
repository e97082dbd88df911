"""Auditors and the public: batches with transfers and tx, published fills, default fund, platform
directional imbalance, waterfall history, instruments, health. No session needed (rate-limited per IP)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path
from sqlalchemy import func, select

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
from offchain.api.queries import decode_payload, imbalance, instruments, latest_prices, notional, settled_marks
from offchain.api.routes.venues import fills_page
from offchain.core.batch import DEFAULT_FUND_ACCOUNT
from offchain.ledger import schema as t
from offchain.ledger.engine_status import HALTED, read_status

router = APIRouter(tags=["public"], dependencies=[PublicLimit], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
Sequence = Annotated[int, Path(ge=0, le=2**62)]
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 424: {"model": ErrorBody}}


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + bytes(b).hex()


def batch_out(r: Any, fill_count: int) -> BatchOut:
    payload = decode_payload(dict(r.payload))
    b = payload.batch
    return BatchOut(
        sequence=r.sequence,
        status=r.status,
        digest="0x" + bytes(r.digest).hex(),
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
    b = t.batches.c
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(t.batches).where(b.sequence > page.cursor).order_by(b.sequence).limit(page.limit)
        ).all()
        seqs = [r.sequence for r in rows]
        counts = (
            {
                int(s): int(n)
                for s, n in conn.execute(
                    select(t.fills.c.batch_sequence, func.count())
                    .where(t.fills.c.batch_sequence.in_(seqs))
                    .group_by(t.fills.c.batch_sequence)
                )
            }
            if seqs
            else {}
        )
    items = [batch_out(r, counts.get(r.sequence, 0)) for r in rows]
    return Paged(items=items, next_cursor=items[-1].sequence if len(items) == page.limit else None)


@router.get("/batches/{sequence}", response_model=BatchOut, responses=_ERRORS)
def get_batch(sequence: Sequence, svc: ServicesDep) -> BatchOut:
    with svc.engine.connect() as conn:
        r = conn.execute(select(t.batches).where(t.batches.c.sequence == sequence)).first()
        if r is None:
            raise not_found("unknown_batch", sequence)
        n = conn.execute(select(func.count()).where(t.fills.c.batch_sequence == sequence)).scalar_one()
    return batch_out(r, int(n))


@router.get(
    "/batches/{sequence}/fills",
    response_model=Paged[FillOut],
    responses=_ERRORS,
    summary="The published fills a batch settles (their leaves make its fillsRoot)",
)
def batch_fills(sequence: Sequence, svc: ServicesDep, page: PageDep) -> Paged[FillOut]:
    with svc.engine.connect() as conn:
        if conn.execute(select(t.batches.c.sequence).where(t.batches.c.sequence == sequence)).first() is None:
            raise not_found("unknown_batch", sequence)
        return fills_page(conn, t.fills.c.batch_sequence == sequence, page.cursor, page.limit)


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
        c = t.cash_flows.c
        with svc.engine.connect() as conn:
            total = sum(
                int(a) for a in conn.execute(select(c.amount).where(c.account == DEFAULT_FUND_ACCOUNT)).scalars()
            )
        balances = [BalanceOut(asset=0, amount=str(total))]
        source = "ledger"
    c = t.df_contributions.c
    with svc.engine.connect() as conn:
        latest = select(c.account, func.max(c.id).label("last")).group_by(c.account).subquery()
        rows = conn.execute(
            select(c.account, c.target, c.current, c.amount, c.batch_sequence)
            .join(latest, c.id == latest.c.last)
            .order_by(c.account)
        ).all()
    contributions = [
        ContributionOut(
            account=r.account,
            target=str(r.target),
            contributed=str(int(r.current) + int(r.amount)),
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
        marks = settled_marks(conn)
        decimals = {name: v[0] for name, v in instruments(conn).items()}
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
    w, d = t.waterfall_draws.c, t.defaults.c
    with svc.engine.connect() as conn:
        rows = conn.execute(
            select(t.waterfall_draws, d.account.label("defaulter"))
            .select_from(t.waterfall_draws.outerjoin(t.defaults, w.default_id == d.id))
            .where(w.id > page.cursor)
            .order_by(w.id)
            .limit(page.limit)
        ).all()
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
    """The latest price per name as ingest sees it (a new price reaches ingest within a second). A fill
    is accepted when `band_low <= price <= band_high` and the mark is not `stale`."""
    i = t.instruments.c
    with svc.engine.connect() as conn:
        prices = latest_prices(conn)
        terms = {r.name: r for r in conn.execute(select(i.name, i.price_band_bps, i.mark_stale_ms))}
    now = svc.clock()
    out = []
    for p in prices:
        term = terms.get(p.name)
        if term is None:
            out.append(
                PriceOut(
                    name=p.name,
                    kind="index",
                    price=str(p.price),
                    ts_ms=p.ts_ms,
                    source=p.source,
                    price_band_bps=None,
                    band_low=None,
                    band_high=None,
                    stale=None,
                )
            )
            continue
        width = p.price * int(term.price_band_bps) // 10_000  # |price - mark| * 10_000 <= band * mark
        out.append(
            PriceOut(
                name=p.name,
                kind="mark",
                price=str(p.price),
                ts_ms=p.ts_ms,
                source=p.source,
                price_band_bps=int(term.price_band_bps),
                band_low=str(max(p.price - width, 1)),
                band_high=str(p.price + width),
                stale=now - p.ts_ms > int(term.mark_stale_ms),
            )
        )
    return out


@router.get("/instruments", response_model=list[InstrumentOut], summary="Cleared instruments and their settled marks")
def list_instruments(svc: ServicesDep) -> list[InstrumentOut]:
    with svc.engine.connect() as conn:
        ins = instruments(conn)
        marks = settled_marks(conn)
    return [
        InstrumentOut(
            name=n,
            kind=v[2],
            underlying=v[3],
            qty_decimals=v[0],
            clearing_fee_bps=v[4],
            active=v[1],
            mark=None if marks.get(n) is None else str(marks[n]),
        )
        for n, v in sorted(ins.items())
    ]


_HEALTH_DB_TIMEOUT_S = 2.0


def _ledger_health(svc: Services) -> tuple[int | None, list[str]]:
    """The last batch and why the settlement engine halted (its clock check), if it did."""
    with svc.engine.connect() as conn:
        last = conn.execute(select(func.max(t.batches.c.sequence))).scalar_one_or_none()
        halted = [s.detail for s in read_status(conn) if s.state == HALTED]
    return None if last is None else int(last), halted


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
