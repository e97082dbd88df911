"""Members: account, positions (per venue and netted, ADL rank, loss-socialisation exposure), margin,
margin calls, withdrawals, cash flows and sub-accounts. Reads need the member's (or its parent's, or
the operator's) session; member A cannot read member B."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Request

from offchain.api.chain import ChainGateway
from offchain.api.deps import (
    PageDep,
    Services,
    ServicesDep,
    SessionDep,
    SignedDep,
    client_key,
    member_account_of,
    require_member_reader,
)
from offchain.api.errors import COMMON_RESPONSES, ApiError, ErrorBody, chain_unavailable, forbidden, not_found
from offchain.api.fastjson import FastJsonRoute
from offchain.api.models import (
    ApplicationOut,
    CashFlowOut,
    CollateralAssetOut,
    CollateralMarkOut,
    MarginCallOut,
    MarginCallsOut,
    MarginOut,
    MemberOut,
    MemberStatusValue,
    NettedPosition,
    Paged,
    PositionsOut,
    Signed,
    SubAccountPayload,
    VenuePosition,
    WithdrawalOut,
    WithdrawalSubmit,
)
from offchain.api.queries import adl_ranks, loss_socialisation, margin_of, notional, position_pnl
from offchain.api.routes.membership import application_out, create_application
from offchain.api.signing import SubAccountConsent, check_times, verify_signature
from offchain.core.eip712 import vault_domain
from offchain.core.waterfall import haircut_value
from offchain.core.withdrawal import WithdrawalRequest
from offchain.ledger.handles import Connection
from offchain.ledger.views import batches, defaults, instruments, members, prices
from offchain.ledger.views import margin as margin_view
from offchain.ledger.views import positions as position_view
from offchain.ledger.views.members import MemberRow

router = APIRouter(prefix="/members", tags=["members"], responses=COMMON_RESPONSES, route_class=FastJsonRoute)
AccountPath = Annotated[int, Path(ge=0, le=2**32 - 1)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    424: {"model": ErrorBody, "description": "`chain_unavailable`: the chain is not configured or not reachable"},
}


def _member_row(conn: Connection, account: int) -> MemberRow:
    row = members.member(conn, account)
    if row is None:
        raise not_found("unknown_member", account)
    return row


def _member_out(conn: Connection, row: MemberRow) -> MemberOut:
    return MemberOut(
        account=row.account,
        address=row.address,
        name=row.name,
        kind=row.kind,
        tier=row.tier,
        group=row.group_name,
        status=cast("MemberStatusValue", row.status),  # validated by the model
        parent=members.approved_parent(conn, row.account),
        instruments=members.permitted_instruments(conn, row.account),
    )


@router.get("/me", response_model=MemberOut, responses=_ERRORS, summary="The session's own membership")
def me(s: SessionDep, svc: ServicesDep) -> MemberOut:
    with svc.engine.connect() as conn:
        account = member_account_of(conn, s.address)
        if account is None:
            raise not_found("not_a_member", s.address)
        return _member_out(conn, _member_row(conn, account))


@router.get("/{account}", response_model=MemberOut, responses=_ERRORS)
def get_member(account: AccountPath, s: SessionDep, svc: ServicesDep) -> MemberOut:
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
        return _member_out(conn, _member_row(conn, account))


@router.get(
    "/{account}/positions",
    response_model=PositionsOut,
    responses=_ERRORS,
    summary="Settled positions per venue and netted across venues, with ADL rank and loss-socialisation exposure",
)
def positions(account: AccountPath, s: SessionDep, svc: ServicesDep) -> PositionsOut:
    """Settled state after the last confirmed batch. `entry_price`: the average entry price from the
    member's settled fills; `adl_rank`: this position's place in the auto-deleveraging queue of its side
    (1 = first), by unrealised profit (unprofitable positions are not in the queue);
    `loss_socialisation_exposure`: what layers 6-7 of the waterfall (VM-gains haircutting, ADL) have
    taken from it: zero in normal times."""
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
        by_venue = [
            VenuePosition(instrument=r.instrument, venue=r.venue, qty=str(r.qty))
            for r in position_view.holdings_by_venue(conn, account)
            if r.qty != 0
        ]
        latest = batches.latest_confirmed(conn)
        netted_all = position_view.netted_positions(conn)
        marks = prices.settled_mark_prices(conn)
        decimals = {name: v.qty_decimals for name, v in instruments.instrument_rows(conn).items()}
        entry = position_view.entries(conn)
        socialised = loss_socialisation(conn, account)
        default = defaults.latest_default_of(conn, account)
    close_out = (
        None
        if default is None
        else f"default #{default.id} declared in batch {default.declared_sequence} ({default.status}): "
        "margin call not cured by its deadline"
    )
    pnl = position_pnl(netted_all, marks, decimals, entry)
    queues = adl_ranks(netted_all, pnl)
    netted = []
    for (member, instrument), qty in sorted(netted_all.items()):
        if member != account:
            continue
        mark = marks.get(instrument)
        e = entry.get((member, instrument))
        known = e is not None and e.qty == qty
        profit = pnl.get((member, instrument))
        netted.append(
            NettedPosition(
                instrument=instrument,
                qty=str(qty),
                mark=None if mark is None else str(mark),
                notional=None if mark is None else str(notional(qty, mark, decimals.get(instrument, 0))),
                entry_price=str(e.entry_price) if known and e is not None else None,
                unrealised_pnl=None if profit is None else str(profit),
                adl_rank=queues.ranks.get((member, instrument)),
                adl_queue_size=queues.sizes.get((instrument, qty > 0), 0),
                loss_socialisation_exposure=str(socialised.by_instrument.get(instrument, 0)),
                close_out_reason=close_out,
            )
        )
    return PositionsOut(
        account=account,
        batch_sequence=None if latest is None else latest.sequence,
        by_venue=by_venue,
        netted=netted,
        loss_socialisation_total=str(socialised.total),
    )


@router.get(
    "/{account}/margin",
    response_model=MarginOut,
    responses=_ERRORS,
    summary="IM, MM, each add-on and collateral at haircut, as of the last confirmed batch",
)
def margin(account: AccountPath, s: SessionDep, svc: ServicesDep) -> MarginOut:
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
        row = _member_row(conn, account)
        latest = batches.latest_confirmed(conn)
        posted = margin_view.posted_requirement(conn, account)
        cmarks = [
            CollateralMarkOut(asset=r.asset, price=str(r.price), haircut_bps=r.haircut_bps)
            for r in margin_view.posted_collateral_marks(conn)
        ]
    (im, mm), detail = margin_of(latest, account)
    collateral = int(detail.get("collateral_value", 0))
    breakdown = None if svc.chain is None else _collateral_breakdown(svc.chain, account, cmarks, detail)
    return MarginOut(
        account=account,
        batch_sequence=None if latest is None else latest.sequence,
        as_of=None if latest is None else latest.as_of,
        im=str(im),
        mm=str(mm),
        es_core=str(round(detail.get("es_core", 0.0))),
        concentration_addon=str(round(detail.get("concentration_addon", 0.0))),
        liquidity_addon=str(round(detail.get("liquidity_addon", 0.0))),
        collateral_value=str(collateral),
        excess=str(collateral - im),
        posted_im=None if posted is None else str(posted.im),
        posted_mm=None if posted is None else str(posted.mm),
        collateral_marks=cmarks,
        collateral=breakdown,
        collateral_value_posted=None if breakdown is None else str(sum(int(a.haircut_value or 0) for a in breakdown)),
        status=cast("MemberStatusValue", row.status),  # validated by the model
    )


def _collateral_breakdown(
    chain: ChainGateway, account: int, marks: list[CollateralMarkOut], detail: dict[str, float]
) -> list[CollateralAssetOut]:
    """Each listed asset's on-chain balance, valued with the last posted mark and haircut exactly as the
    vault does (`core.waterfall.haircut_value`), and the model's haircut from the last batch."""
    posted = {m.asset: m for m in marks}
    out = []
    for asset in range(chain.asset_count()):
        balance = chain.balance(account, asset)
        mark = posted.get(asset)
        model = detail.get(f"haircut_bps.{asset}")
        decimals = chain.asset_decimals(asset) if mark is not None or balance else None
        value = hc_value = None
        if mark is not None and decimals is not None:
            price = int(mark.price)
            value = balance * price // pow(10, decimals)
            hc_value = haircut_value(balance, price, mark.haircut_bps, decimals)
        out.append(
            CollateralAssetOut(
                asset=asset,
                balance=str(balance),
                decimals=decimals,
                price=None if mark is None else mark.price,
                haircut_bps=None if mark is None else mark.haircut_bps,
                value=None if value is None else str(value),
                haircut_value=None if hc_value is None else str(hc_value),
                model_haircut_bps=None if model is None else round(model),
            )
        )
    return out


@router.get(
    "/{account}/margin-calls",
    response_model=MarginCallsOut,
    responses=_ERRORS,
    summary="Margin calls with their cure deadlines (every issue/raise/cure/default event)",
)
def margin_calls(account: AccountPath, s: SessionDep, svc: ServicesDep, page: PageDep) -> MarginCallsOut:
    """Every event of the account's margin calls, oldest first: a call is open from its `issue` until a
    `cure` (member topped up) or a `default` (deadline passed; close-out and waterfall follow)."""
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
        rows = margin_view.margin_calls_since(conn, account, page.cursor, page.limit)
    items = [
        MarginCallOut(
            id=r.id,
            batch_sequence=r.batch_sequence,
            verdict=r.verdict,
            amount=str(r.amount),
            deadline=r.deadline,
            deep=r.deep,
            equity=str(r.equity),
            debt=str(r.debt),
            im=str(r.im),
            mm=str(r.mm),
            as_of=r.as_of,
        )
        for r in rows
    ]
    return MarginCallsOut(items=items, next_cursor=items[-1].id if len(items) == page.limit else None, available=True)


@router.get(
    "/{account}/cash-flows",
    response_model=Paged[CashFlowOut],
    responses=_ERRORS,
    summary="Settled cash flows (variation margin, funding, fees) of the account",
)
def cash_flows(account: AccountPath, s: SessionDep, svc: ServicesDep, page: PageDep) -> Paged[CashFlowOut]:
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
        rows = margin_view.cash_flows_since(conn, account, page.cursor, page.limit)
    items = [
        CashFlowOut(
            id=r.id, batch_sequence=r.batch_sequence, instrument=r.instrument, kind=r.kind, amount=str(r.amount)
        )
        for r in rows
    ]
    return Paged(items=items, next_cursor=items[-1].id if len(items) == page.limit else None)


# ---------------------------------------------------------------- withdrawals


def _chain(svc: Services) -> Any:
    if svc.chain is None:
        raise chain_unavailable()
    return svc.chain


@router.get(
    "/{account}/withdrawals",
    response_model=list[WithdrawalOut],
    responses=_ERRORS,
    summary="The account's withdrawal requests and their on-chain status",
)
def list_withdrawals(account: AccountPath, s: SessionDep, svc: ServicesDep) -> list[WithdrawalOut]:
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
    return [WithdrawalOut(**{**w.__dict__, "amount": str(w.amount)}) for w in _chain(svc).withdrawals(account)]


@router.get("/{account}/withdrawals/{withdrawal_id}", response_model=WithdrawalOut, responses=_ERRORS)
def get_withdrawal(
    account: AccountPath, withdrawal_id: Annotated[int, Path(ge=0, le=2**63 - 1)], s: SessionDep, svc: ServicesDep
) -> WithdrawalOut:
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
    w = _chain(svc).withdrawal_view(withdrawal_id)
    if w.status == "none" or w.account != account:
        raise not_found("unknown_withdrawal", withdrawal_id)
    return WithdrawalOut(**{**w.__dict__, "amount": str(w.amount)})


@router.post(
    "/{account}/withdrawals",
    status_code=201,
    response_model=WithdrawalOut,
    responses=_ERRORS,
    summary="Relay the member's signed WithdrawalRequest to the vault (requestWithdrawalBySig)",
)
def request_withdrawal(
    account: AccountPath, body: WithdrawalSubmit, svc: ServicesDep, request: Request
) -> WithdrawalOut:
    """The member signs the vault's own EIP-712 `WithdrawalRequest` (domain "crossclear Vault"; EIP-1271
    for contract accounts); its nonce is the vault's `withdrawalNonce(member)` and its deadline is checked
    on-chain, so a replay or an expired request reverts. The API checks the signature and the account
    before paying gas, then relays; the vault checks margin at execution, after the withdrawal delay."""
    svc.ip_limits.take(client_key(request))  # before the signature check (which may call the chain)
    chain = _chain(svc)
    with svc.engine.connect() as conn:
        row = _member_row(conn, account)
    if row.address.lower() != body.member.lower():
        raise forbidden("the request's member is not this account's address")
    if body.deadline <= svc.clock() // 1000:
        raise ApiError(401, "request_expired", "the withdrawal request's deadline has passed")
    req = WithdrawalRequest(
        member=row.address,
        asset=body.asset,
        amount=int(body.amount),
        to=body.to,
        nonce=int(body.nonce),
        deadline=body.deadline,
    )
    sig = bytes.fromhex(body.signature[2:])
    try:
        verify_signature(req.digest(vault_domain(svc.settings.chain_id, svc.settings.vault)), row.address, sig, chain)
    except ApiError as exc:
        svc.refusals.add(exc.code)
        raise
    svc.limits.take("k:" + row.address)  # the member's own bucket, once the request is proven its own
    w = chain.relay_withdrawal(req, sig)
    return WithdrawalOut(**{**w.__dict__, "amount": str(w.amount)})


# ---------------------------------------------------------------- sub-accounts


@router.get(
    "/{account}/sub-accounts",
    response_model=list[ApplicationOut],
    responses=_ERRORS,
    summary="Sub-accounts (isolated margin) of the account, pending and approved",
)
def sub_accounts(account: AccountPath, s: SessionDep, svc: ServicesDep) -> list[ApplicationOut]:
    with svc.engine.connect() as conn:
        require_member_reader(conn, svc, s, account)
        rows = members.sub_account_applications(conn, account)
    return [application_out(r) for r in rows]


@router.post(
    "/{account}/sub-accounts",
    status_code=201,
    response_model=ApplicationOut,
    responses=_ERRORS,
    summary="Open a sub-account for isolated margin (signed by the member; approved like an admission)",
)
def open_sub_account(
    account: AccountPath, body: Signed[SubAccountPayload], verified: SignedDep, svc: ServicesDep
) -> ApplicationOut:
    """A sub-account is its own vault account (own address, own balances, own IM/MM: margined in
    isolation, nothing offsets against the main account) linked to its parent. The sub-account's own key
    consents (`consent`: its EIP-712 `SubAccountConsent` for this parent and label; EIP-1271 for a
    contract), so no member can claim someone else's address. The operator admits the address on-chain
    and approves it like a membership application; the parent's session reads it."""
    from eth_utils import to_checksum_address

    sub = str(to_checksum_address(body.payload.address))
    consent = body.payload.consent
    now = svc.clock()
    try:
        check_times(consent.expiry, now // 1000, svc.settings.max_request_ttl_s)
    except ApiError as exc:
        raise ApiError(401, "consent_" + exc.code, exc.detail) from None
    digest = SubAccountConsent(account, sub, body.payload.label, consent.expiry).digest(svc.domain)
    try:
        verify_signature(digest, sub, bytes.fromhex(consent.signature[2:]), svc.chain)
    except ApiError as exc:
        if exc.code != "bad_signature":
            raise
        raise ApiError(
            401, "bad_consent", "consent.signature is not the sub-account's SubAccountConsent for this parent and label"
        ) from None
    with svc.engine.begin() as conn:
        parent = _member_row(conn, account)
        if parent.address != verified.signer:
            raise forbidden("only the member itself may open its sub-accounts")
        if members.approved_parent(conn, account) is not None:
            raise ApiError(403, "nested_sub_account", "a sub-account cannot have sub-accounts")
        return create_application(
            conn,
            verified,
            now,
            sub,
            body.payload.label,
            "sub_account",
            parent.tier,
            parent.group_name,
            account,
        )
