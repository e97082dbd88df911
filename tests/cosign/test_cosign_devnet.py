"""Three co-signer processes (`crossclear cosign --config`, one per registered risk-signer key) sign a real
devnet's batches, proposed by an engine that holds no risk-signer key; a tampered batch is refused by every
co-signer, naming the check; the history they signed passes `crossclear audit`; a co-signer stopped while
batches land with the other two catches up from the chain when restarted and signs the next one; one that
was not asked for two batches reads them from the chain and their lines from its own published source,
and signs the next with nothing resent."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from offchain.app.wiring import build_engine
from offchain.audit import run_audit
from offchain.chain.signers import RiskSigner
from offchain.core.fills import fills_domain
from offchain.cosign.client import CosignRefusedError, RemoteCosigners
from offchain.cosign.wire import batch_json
from offchain.devnet.bootstrap import instrument_specs
from offchain.devnet.cosigners import CosignerProcess, running_cosigners, start_cosigner, stop, wait_up
from offchain.devnet.runtime import engine_settings
from offchain.ingest.service import AckStatus, Ingestor
from offchain.ledger.batches import BatchPayload
from offchain.ledger.prices import load_settled_marks
from offchain.ledger.publication import publish
from offchain.settlement.builder import BuilderConfig
from offchain.settlement.clock import ChainClock
from offchain.settlement.engine import SettlementEngine
from tests.audit.conftest import History
from tests.audit.history import FUND, MM, HistoryStats, build_history
from tests.audit.history import _fill as chain_clock_fill  # stamped with the chain's (warped) clock
from tests.audit.rederive_helpers import HandBuilt, build_hand_built
from tests.settlement.conftest import BTC_QTY, Devnet, make_devnet

pytestmark = pytest.mark.anvil
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "offchain.cli.main"]


@dataclass
class Cosigners:
    devnet: Devnet
    urls: list[str]
    addresses: list[str]
    tmp: Path
    procs: list[CosignerProcess]
    history: Path


@pytest.fixture(scope="module")
def cosigners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cosigners]:
    tmp = tmp_path_factory.mktemp("cosign")
    devnets = make_devnet(f"sqlite:///{tmp / 'ledger.db'}")
    d = next(devnets)
    history = tmp / "history.jsonl"
    publish(d.db, history)  # the batches settled at bring-up: each co-signer's copy of the published history
    try:
        with running_cosigners(d.anvil.url, d.spec.vault, d.spec.registry, d.spec.signer_keys, history, tmp) as procs:
            addresses = [RiskSigner.from_devnet_key(k, d.spec.chain_id).address for k in d.spec.signer_keys]
            yield Cosigners(d, [c.url for c in procs], addresses, tmp, procs, history)
    finally:
        next(devnets, None)


def _engine(c: Cosigners, urls: list[str] | None = None) -> SettlementEngine:
    d = c.devnet
    base = engine_settings(d.spec, d.db_url)
    # generous timeout: on a loaded test machine a co-signer's first proposal (its model rebuilt) takes long
    settings = base.model_copy(update={"signers": [], "cosigners": urls or c.urls, "cosign_timeout_s": 180.0})
    return build_engine(
        settings,
        d.spec.chain_id,
        d.spec.vault,
        d.db,
        instruments=instrument_specs(d.spec),
        builder_config=BuilderConfig(heartbeat_s=0),
        clock=ChainClock(d.vault.w3),
    )


def test_three_cosigners_sign_the_devnets_batches(cosigners: Cosigners) -> None:
    d = cosigners.devnet
    engine = _engine(cosigners)
    assert engine.signers == [] and isinstance(engine.cosigners, RemoteCosigners)  # no risk key in the engine
    first = d.vault.last_sequence()
    stats = build_history(d, 4, engine=engine)
    assert stats.batches == 4 and d.vault.last_sequence() == first + 4
    tip = d.vault.last_sequence()
    for url in cosigners.urls:  # each co-signer replays what landed when it is next asked; ask it now
        httpx.get(f"{url}/v1/status", timeout=60).raise_for_status()
    published = cosigners.tmp / "fills.jsonl"
    publish(d.db, published)
    report = run_audit(d.anvil.url, d.spec.vault, published)
    assert report.batches == tip


def test_tampered_batch_is_refused_by_name(cosigners: Cosigners) -> None:
    """The operator halves a member's IM in the next batch it proposes; every co-signer refuses it, naming
    the check; the engine's client then has no threshold and raises, naming the refusals."""
    d = cosigners.devnet
    history = History(d, cosigners.tmp / "none.jsonl", HistoryStats(), cosigners.tmp)
    mm = d.member(MM).account

    def halve(rows: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
        im, m = rows[mm]
        return {**rows, mm: (im // 2, m // 2)}

    batch, line = build_hand_built(history, HandBuilt(requirements=halve))
    for url in cosigners.urls:
        r = httpx.post(f"{url}/v1/sign", json={"batch": batch_json(batch), "line": line}, timeout=180)
        assert r.status_code == 409, r.text
        assert r.json()["check"] == "im-rederive", r.text
        assert f"account {mm}" in r.json()["detail"]
    # The same batch, honest, is signed by all three: the refusal was the tamper's.
    honest_batch, honest_line = build_hand_built(history, HandBuilt())
    signers = set()
    for url in cosigners.urls:
        r = httpx.post(f"{url}/v1/sign", json={"batch": batch_json(honest_batch), "line": honest_line}, timeout=180)
        assert r.status_code == 200, r.text
        signers.add(r.json()["signer"])
    assert signers == set(cosigners.addresses)
    payload = BatchPayload(batch, [], [], {}, {}, [], {}, {}, {}, context=line["context"], model=line["model"])
    payload.price_evidence = line["price_evidence"]
    client = RemoteCosigners(cosigners.urls, d.spec.threshold, d.db, d.vault.domain, timeout_s=180.0)
    with pytest.raises(CosignRefusedError) as caught:
        client.collect(payload)
    assert set(caught.value.refusals) == set(cosigners.urls)
    assert all("[im-rederive]" in why for why in caught.value.refusals.values())


def test_bad_proposal_is_a_400(cosigners: Cosigners) -> None:
    r = httpx.post(f"{cosigners.urls[0]}/v1/sign", json={"batch": {"sequence": "x"}}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "bad_proposal"


def test_engine_settings_take_signers_or_cosigners_not_both(cosigners: Cosigners) -> None:
    base = engine_settings(cosigners.devnet.spec)
    with pytest.raises(ValueError, match="not both or neither"):
        type(base).model_validate({**base.model_dump(), "cosigners": cosigners.urls})
    with pytest.raises(ValueError, match="not both or neither"):
        type(base).model_validate({**base.model_dump(), "signers": []})


def _one_batch(d: Devnet, engine: SettlementEngine, k: int) -> None:
    """One fill between two members at the last settled BTC mark, settled by `engine`."""
    with d.db.connect() as conn:
        marks = load_settled_marks(conn)
    btc = marks["BTC-USD-PERP"].price / 10**6
    d.prices(btc=btc, eth=marks["ETH-USD-PERP"].price / 10**6)
    ing = Ingestor(d.db, fills_domain(d.spec.chain_id, d.spec.vault), clock=d.now_ms)
    acks = ing.submit_many(
        [chain_clock_fill(d, "cex", f"restart-{k}", "BTCUSDT", MM, FUND, BTC_QTY // 100, round(btc))]
    )
    assert all(a.status == AckStatus.ACCEPTED for a in acks), acks
    result = engine.step()
    assert result.action == "settled", result


def test_a_cosigner_that_was_down_catches_up_and_signs_the_next(cosigners: Cosigners) -> None:
    """Co-signer 3 is stopped; two batches land with the signatures of the other two (2 of 3); restarted on
    the copy of the published history it first had, it lacks the lines of what landed meanwhile, is sent
    them with the next proposal (replaying them against the chain), and signs it: the engine is given only
    it and one other co-signer, so the batch lands only if it signed."""
    d = cosigners.devnet
    down = cosigners.procs[2]
    stop(down)
    engine = _engine(cosigners)
    tip = d.vault.last_sequence()
    for k in range(2):
        _one_batch(d, engine, k)
    assert d.vault.last_sequence() == tip + 2
    again = start_cosigner(
        d.anvil.url, d.spec.vault, d.spec.registry, d.spec.signer_keys[2], cosigners.history, cosigners.tmp, 3
    )
    try:
        wait_up([again])
        behind = httpx.get(f"{again.url}/v1/status", timeout=60).json()
        assert behind["last_sequence"] < tip + 2  # the old copy ends before what landed while it was down
        pair = _engine(cosigners, [cosigners.urls[0], again.url])
        _one_batch(d, pair, 2)
        assert d.vault.last_sequence() == tip + 3
        status = httpx.get(f"{again.url}/v1/status", timeout=60).json()
        assert status["signer"] == cosigners.addresses[2]
        assert status["last_sequence"] == tip + 2  # it replayed the batches it missed before it signed
        assert "behind" in again.log.read_text()
    finally:
        stop(again)


def test_a_cosigner_that_missed_batches_catches_up_by_itself(cosigners: Cosigners) -> None:
    """Co-signer 3 runs (on the old copy of the history, with a published source: a file the operator's
    `crossclear publish` rewrites after each batch) but is not asked while two batches land with the other
    two. Asked for the next, it reads the two it missed from the chain and their lines from its source,
    replays them with every check and signs: no `behind` answer, nothing resent by the engine (the engine is
    given only it and one other co-signer, so the batch lands only if it signed)."""
    d = cosigners.devnet
    mirror = cosigners.tmp / "mirror.jsonl"
    publish(d.db, mirror)
    old = cosigners.procs[2]
    if old.process.poll() is None:
        stop(old)
    again = start_cosigner(
        d.anvil.url,
        d.spec.vault,
        d.spec.registry,
        d.spec.signer_keys[2],
        cosigners.history,
        cosigners.tmp,
        4,
        published=[str(mirror)],
    )
    try:
        wait_up([again])
        tip = d.vault.last_sequence()
        started = httpx.get(f"{again.url}/v1/status", timeout=60).json()
        assert started["last_sequence"] == tip  # it caught up at start from the mirror by itself
        others = _engine(cosigners, cosigners.urls[:2])
        for k in range(2):
            _one_batch(d, others, 10 + k)
            publish(d.db, mirror)  # the operator's publisher, after each batch
        assert d.vault.last_sequence() == tip + 2
        pair = _engine(cosigners, [cosigners.urls[0], again.url])
        _one_batch(d, pair, 12)
        assert d.vault.last_sequence() == tip + 3
        status = httpx.get(f"{again.url}/v1/status", timeout=60).json()
        assert status["last_sequence"] == tip + 2  # it replayed the batches it missed before it signed
        log = again.log.read_text()
        assert f"read the lines of batches [{tip + 1}, {tip + 2}]" in log, log[-3000:]
        assert "behind" not in log, log[-3000:]
    finally:
        stop(again)
