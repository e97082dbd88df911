"""Restart safety at each crash point, made deterministic: the crash campaign hits them at random."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from offchain.chain.errors import RpcUnavailable
from offchain.chain.signers import RiskSigner, sign_batch
from offchain.chain.vault import vault_sender
from offchain.devnet.runtime import ingestor, settlement_engine
from offchain.ledger import schema as t
from offchain.ledger.batches import BatchPayload
from offchain.settlement.engine import DivergenceError, _retrying
from tests.settlement.conftest import BTC_QTY, Devnet
from tests.settlement.test_engine import FUND, MM, setup_book

pytestmark = pytest.mark.anvil


def _trade(d: Devnet, fid: str) -> None:
    ack = ingestor(d.spec, d.db).submit(*d.fill("dex-perp", fid, "BTC-PERP", FUND, MM, BTC_QTY, 20_000))
    assert ack.fill_id is not None


def _positions(d: Devnet) -> dict[tuple[int, str], int]:
    with d.db.connect() as conn:
        return {
            (m, v): q for m, v, q in conn.execute(select(t.positions.c.member, t.positions.c.venue, t.positions.c.qty))
        }


def _build_only(d: Devnet) -> BatchPayload:
    """What a crash right after the build transaction leaves: a stored batch, nothing signed."""
    engine = settlement_engine(d.spec, d.db)
    with d.db.begin() as conn:
        payload = engine.builder.build(conn, engine.chain, engine.vault.domain, engine.tip())
    assert payload is not None
    return payload


def test_crash_after_build_resubmits_the_same_batch(devnet: Devnet) -> None:
    d = devnet
    setup_book(d)
    _trade(d, "f-1")
    stored = _build_only(d)
    _trade(d, "f-2")  # arrives while the engine is down: must not change the stored batch
    restarted = settlement_engine(d.spec, d.db)
    result = restarted.step()
    assert result.sequence == stored.batch.sequence and result.fills == 1
    (onchain,) = [b for b in d.vault.settled_batches() if b.batch.sequence == stored.batch.sequence]
    assert onchain.batch == stored.batch  # byte for byte the batch built before the crash
    assert restarted.step().fills == 1  # f-2 goes in the next batch


def test_crash_after_inclusion_applies_the_batch_once(devnet: Devnet) -> None:
    d = devnet
    setup_book(d)
    _trade(d, "f-1")
    stored = _build_only(d)
    # The engine sent it and died before recording anything: the batch is on-chain, the ledger says built.
    signers = [RiskSigner.from_devnet_key(k, d.spec.chain_id) for k in d.spec.signer_keys[:2]]
    d.vault.settle(
        vault_sender(d.vault.w3, d.spec.operator_key), stored.batch, sign_batch(stored.batch, d.vault.domain, signers)
    )
    restarted = settlement_engine(d.spec, d.db)
    assert restarted.step().action == "recovered"
    accounts = {m.name: m.account for m in d.spec.members}
    assert _positions(d)[(accounts[FUND], "dex-perp")] == BTC_QTY
    assert restarted.step().action == "idle"
    assert _positions(d)[(accounts[FUND], "dex-perp")] == BTC_QTY  # not applied twice
    assert restarted.recover() is None


def test_a_foreign_batch_on_chain_is_a_divergence(devnet: Devnet) -> None:
    d = devnet
    setup_book(d)
    _trade(d, "f-1")
    stored = _build_only(d)
    # Someone with the signer keys settles a different batch with the same sequence.
    other = stored.batch.model_copy(update={"fills_root": b"\x01" * 32})
    signers = [RiskSigner.from_devnet_key(k, d.spec.chain_id) for k in d.spec.signer_keys[:2]]
    d.vault.settle(vault_sender(d.vault.w3, d.spec.operator_key), other, sign_batch(other, d.vault.domain, signers))
    with pytest.raises(DivergenceError, match="does not match"):
        settlement_engine(d.spec, d.db).step()


def test_refused_batch_is_abandoned_and_its_fills_released(ledger_url: str) -> None:
    from tests.settlement.conftest import make_devnet

    for d in make_devnet(ledger_url, default_fund_usdc=1):
        d.deposit(MM, 500_000)
        d.deposit(FUND, 10)  # ten dollars of cash
        d.prices(btc=20_000)
        _trade(d, "f-1")  # the fund buys 1 BTC at 20,000
        engine = settlement_engine(d.spec, d.db)
        assert engine.step().fills == 1
        d.prices(btc=19_000)  # it owes 1,000 with 10 of cash: the 1-dollar default fund can't advance it
        before = _default_state(d)
        result = engine.step()
        assert result.action == "abandoned"
        with d.db.connect() as conn:
            alerts = conn.execute(select(t.alerts.c.kind, t.alerts.c.detail)).all()
            unconfirmed = conn.execute(select(t.batches.c.sequence).where(t.batches.c.status != "confirmed")).all()
        assert any(k == "batch_refused" and "DefaultFundExhausted" in detail for k, detail in alerts)
        assert unconfirmed == []
        assert result.sequence is not None  # an abandoned step names the batch it gave up
        assert d.vault.last_sequence() == result.sequence - 1
        # Its default-management writes went with it (issue 11, fourth review, finding 12): margin-call rows,
        # member statuses and defaults as before it, nothing left to undo.
        assert _default_state(d) == before
        with d.db.connect() as conn:
            assert conn.execute(select(t.default_undo)).all() == []


def _default_state(d: Devnet) -> tuple[object, ...]:
    with d.db.connect() as conn:
        return (
            conn.execute(select(t.margin_calls).order_by(t.margin_calls.c.id)).all(),
            conn.execute(select(t.members.c.account, t.members.c.status).order_by(t.members.c.account)).all(),
            conn.execute(select(t.defaults)).all(),
            conn.execute(select(t.df_contributions).order_by(t.df_contributions.c.id)).all(),
        )


def test_rpc_outage_is_retried_with_backoff() -> None:
    calls = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise requests.ConnectionError("connection refused")
        return 42

    assert _retrying(flaky, "test", first_delay=0.01) == 42
    assert len(calls) == 3
    # After the last attempt the outage surfaces as crossclear's RpcUnavailable, caused by the transport's error.
    with pytest.raises(RpcUnavailable) as raised:
        _retrying(lambda: (_ for _ in ()).throw(requests.ConnectionError("down")), "test", attempts=2, first_delay=0.01)
    assert isinstance(raised.value.__cause__, requests.ConnectionError)
    with pytest.raises(ValueError):  # not an outage: no retry
        _retrying(lambda: int("x"), "test")


def test_nonce_taken_between_signing_and_sending_is_signed_again(devnet: Devnet) -> None:
    """Another process uses the submitter's key after the batch tx was signed: the node refuses the
    batch tx ("nonce too low"); the engine signs it again with a fresh nonce and settles once."""
    from eth_account import Account

    from offchain.chain.transactions import Prepared, TxSender

    d = devnet
    setup_book(d)
    _trade(d, "f-1")
    engine = settlement_engine(d.spec, d.db)
    real: TxSender = engine.submitter
    stolen: list[int] = []

    class KeyShared(TxSender):
        def broadcast(self, prepared: Prepared) -> bytes:
            if not stolen:
                acct = Account.from_key(d.spec.operator_key)
                w3 = d.vault.w3
                tx = {
                    "to": acct.address,
                    "value": 0,
                    "gas": 21_000,
                    "gasPrice": w3.eth.gas_price * 2,
                    "nonce": prepared.nonce,
                    "chainId": w3.eth.chain_id,
                }
                w3.eth.wait_for_transaction_receipt(
                    w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
                )
                stolen.append(prepared.nonce)
            return super().broadcast(prepared)

    engine.submitter = KeyShared(real.w3, real.account, real.decoder)
    result = engine.step()
    assert stolen and result.action == "settled" and result.fills == 1
    assert d.vault.last_sequence() == result.sequence
    with d.db.connect() as conn:
        (tx_hash,) = conn.execute(select(t.batches.c.tx_hash).where(t.batches.c.sequence == result.sequence)).one()
    assert d.vault.w3.eth.get_transaction(tx_hash)["nonce"] == stolen[0] + 1
