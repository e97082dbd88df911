"""Average entry prices from settled fills, the ADL queue by unrealised profit, and loss-socialisation
exposure attributed from the waterfall's layers 6-7."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import insert, update

from offchain.api.queries import largest_remainder
from offchain.ingest import registry
from offchain.ledger import schema as t
from offchain.ledger.entries import roll_entry
from tests.api.conftest import ALICE, ALICE_ACCOUNT, BOB, BOB_ACCOUNT, BTC_MARK, NOW_MS, Api, fill_json, settle_pending

DAVE = Account.from_key("0x" + "d4" * 32)
DAVE_ACCOUNT = 12
BTC = "BTC-USD-PERP"


def test_roll_entry_rules() -> None:
    assert roll_entry(0, 0, 10, 100) == (10, 100)  # open
    assert roll_entry(10, 100, 30, 200) == (40, 175)  # add: quantity-weighted
    assert roll_entry(40, 175, -15, 999) == (25, 175)  # reduce: entry unchanged
    assert roll_entry(25, 175, -25, 999) == (0, 0)  # close
    assert roll_entry(25, 175, -40, 150) == (-15, 150)  # flip: the new side starts at the fill
    assert roll_entry(-10, 100, -10, 101) == (-20, 101)  # 100.5 rounds half up
    assert roll_entry(3, 7, 0, 1) == (3, 7)


def test_largest_remainder_is_exact() -> None:
    assert largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(7, {"a": 0, "b": 5}) == {"b": 7}
    assert largest_remainder(5, {}) == {}


def netted(api: Api, key: LocalAccount, account: int) -> dict[str, object]:
    body = api.client.get(f"/v1/members/{account}/positions", headers=api.login(key)).json()
    (pos,) = body["netted"]
    return {**pos, "total": body["loss_socialisation_total"]}


def test_adl_rank_by_profit_and_exposure_from_layers_6_7(api: Api) -> None:
    with api.engine.begin() as conn:
        registry.admit_member(
            conn, DAVE_ACCOUNT, DAVE.address, "dave", "hedge_fund", "tier2", "buy_side", created_ms=NOW_MS
        )
        registry.grant(conn, DAVE_ACCOUNT, BTC)
    fills = [fill_json(api.fill(n)) for n in range(1, 4)]  # Alice buys 3 × 0.1 BTC from Bob at the mark
    api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": fills})
    settle_pending(api.engine, 1)
    up = BTC_MARK * 102 // 100
    api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(4, price=up)))  # Alice adds at +2%
    api.client.post("/v1/venues/dexA/fills", json=fill_json(api.fill(5, buyer=DAVE.address, price=up)))
    settle_pending(api.engine, 2, tx_hash=b"\x78" * 32)

    alice = netted(api, ALICE, ALICE_ACCOUNT)
    entry = (3 * BTC_MARK + up + 2) // 4  # quantity-weighted, half up
    assert alice["qty"] == str(4 * 10_000_000) and alice["entry_price"] == str(entry)
    # At the settled mark (below Alice's and Dave's entries) no long profits: the long queue is empty.
    assert alice["adl_rank"] is None and alice["adl_queue_size"] == 0

    # The market rallies 10 %: both longs profit, Alice (cheaper entry, bigger size) is deleveraged first.
    mark = BTC_MARK * 110 // 100
    with api.engine.begin() as conn:
        conn.execute(update(t.settled_marks).where(t.settled_marks.c.instrument == BTC).values(price=mark))
    alice = netted(api, ALICE, ALICE_ACCOUNT)
    dave = netted(api, DAVE, DAVE_ACCOUNT)
    bob = netted(api, BOB, BOB_ACCOUNT)
    assert alice["unrealised_pnl"] == str((mark - entry) * 4 * 10_000_000 // 10**8)
    assert (alice["adl_rank"], alice["adl_queue_size"]) == (1, 2)
    assert (dave["adl_rank"], dave["adl_queue_size"]) == (2, 2)
    assert bob["adl_rank"] is None and int(str(bob["unrealised_pnl"])) < 0  # the short side has no profit
    assert alice["loss_socialisation_exposure"] == "0" and alice["total"] == "0"

    # Bob defaults; the waterfall's L6 haircuts Alice's VM gains of batch 2 and L7 deleverages her.
    with api.engine.begin() as conn:
        (default_id,) = conn.execute(
            insert(t.defaults)
            .values(
                account=BOB_ACCOUNT,
                status="open",
                declared_sequence=2,
                declared_at=NOW_MS // 1000,
                positions={},
                penalty_bps=0,
                pool_value=0,
                pool_shares=0,
                covered=0,
            )
            .returning(t.defaults.c.id)
        ).one()
        conn.execute(
            insert(t.cash_flows),
            [
                {"batch_sequence": 2, "account": ALICE_ACCOUNT, "instrument": BTC, "kind": "vm", "amount": 900},
                {"batch_sequence": 2, "account": ALICE_ACCOUNT, "instrument": None, "kind": "fee", "amount": -5},
            ],
        )
        row = {"default_id": default_id, "batch_sequence": 2, "source": "plan", "account": ALICE_ACCOUNT, "asset": 0}
        conn.execute(
            insert(t.waterfall_draws),
            [
                {**row, "layer": 6, "amount": 700, "value": 700},
                {**row, "layer": 7, "amount": 300, "value": 300},
                {**row, "layer": 4, "amount": 50, "value": 50},  # not loss socialisation
                {**row, "account": DAVE_ACCOUNT, "layer": 6, "amount": 11, "value": 11},
            ],
        )
    alice = netted(api, ALICE, ALICE_ACCOUNT)
    assert alice["loss_socialisation_exposure"] == "1000" and alice["total"] == "1000"
    # Dave had no VM gains in that batch: his draw is attributed to his position by size.
    assert netted(api, DAVE, DAVE_ACCOUNT)["loss_socialisation_exposure"] == "11"
    bob = netted(api, BOB, BOB_ACCOUNT)
    assert bob["close_out_reason"] is not None and bob["loss_socialisation_exposure"] == "0"

    # Once the vault reports L6/L7 itself, its rows replace the plan's for that default.
    with api.engine.begin() as conn:
        conn.execute(
            insert(t.waterfall_draws).values(**{**row, "layer": 6, "amount": 650, "value": 650, "source": "chain"})
        )
    assert netted(api, ALICE, ALICE_ACCOUNT)["loss_socialisation_exposure"] == "650"
