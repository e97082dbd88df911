"""Tampers of margin requirements, collateral marks, haircuts, marks and the model record, each settled on
an Anvil snapshot (signed with the devnet's risk-signer keys, accepted by the vault) and caught by name by
the re-derivation checks (offchain/audit/checks/rederive.py, prices.py)."""

from __future__ import annotations

import json
from typing import Any

from offchain.core.batch import Mark
from tests.audit.conftest import History
from tests.audit.history import MM
from tests.audit.rederive_helpers import HandBuilt, Requirements, evidence_at, posted_marks, settle_hand_built

WETH = 1


def _mm(history: History) -> int:
    return history.devnet.member(MM).account


def _with(rows: Requirements, account: int, im: int, mm: int) -> Requirements:
    return {**rows, account: (im, mm)}


def _expect(history: History, how: HandBuilt, check: str, *words: str) -> None:
    with history.snapshot():
        seq, path = settle_hand_built(history, how)
        history.expect(path, check, seq, *words)


def test_hand_built_by_the_engine_model_passes(history: History) -> None:
    """The harness is honest: the same batches, with the engine's own requirements, pass (marks moved, and a
    position made 10x with its new IM)."""
    for how in (HandBuilt(), HandBuilt(grow=10)):
        with history.snapshot():
            seq, path = settle_hand_built(history, how)
            assert how.built["honest"], "the moved marks changed no requirement: the tampers below would prove nothing"
            assert history.audit(path).batches == seq


def test_im_halved(history: History) -> None:
    mm = _mm(history)

    def halve(rows: Requirements) -> Requirements:
        im, m = rows[mm]
        return _with(rows, mm, im // 2, m // 2)

    _expect(history, HandBuilt(requirements=halve), "im-rederive", f"account {mm}", "the model re-derives")


def test_im_equal_to_mm(history: History) -> None:
    mm = _mm(history)
    _expect(
        history,
        HandBuilt(requirements=lambda rows: _with(rows, mm, rows[mm][1], rows[mm][1])),
        "im-rederive",
        f"account {mm}",
    )


def test_im_of_one_unit_with_open_positions(history: History) -> None:
    mm = _mm(history)
    _expect(history, HandBuilt(requirements=lambda rows: _with(rows, mm, 1, 1)), "im-rederive", "IM 1 in force")


def test_mm_understated(history: History) -> None:
    mm = _mm(history)
    _expect(
        history,
        HandBuilt(requirements=lambda rows: _with(rows, mm, rows[mm][0], rows[mm][1] // 3)),
        "mm-rederive",
        f"account {mm}",
    )


def test_position_made_ten_times_by_a_fill_with_no_new_im(history: History) -> None:
    """The fill is real (signed by the venue, in the fills root, its VM and fees by the rule); only the
    requirement rows of the members it moved are left out."""
    how = HandBuilt(grow=10)

    def keep_old(rows: Requirements) -> Requirements:
        return {}

    how.requirements = keep_old
    _expect(history, how, "im-rederive", "the model re-derives")


def test_absurd_im_that_freezes_a_member(history: History) -> None:
    mm = _mm(history)

    def freeze(rows: Requirements) -> Requirements:
        im, m = rows[mm]
        return _with(rows, mm, im * 1_000, m)

    _expect(history, HandBuilt(requirements=freeze), "im-overstated", f"account {mm}", "above 2x")


def _eth_evidence(history: History) -> dict[str, Any]:
    """Evidence of ETH at the WETH price in force (the market did not move)."""
    price, _ = posted_marks(history)[WETH]
    return {**evidence_at(price, 0), "guard": None}


def test_collateral_marked_ten_times(history: History) -> None:
    def tenfold(marks: list[Mark]) -> list[Mark]:
        return [m.model_copy(update={"price": m.price * 10}) for m in marks if m.asset == WETH]

    eth = _eth_evidence(history)
    how = HandBuilt(marks=tenfold, evidence=lambda ev: {**ev, "ETH": eth})
    _expect(history, how, "collateral-evidence", f"asset {WETH} is posted at", "published observations is")


def test_collateral_posted_with_no_evidence(history: History) -> None:
    def tenfold(marks: list[Mark]) -> list[Mark]:
        return [m.model_copy(update={"price": m.price * 10}) for m in marks if m.asset == WETH]

    _expect(history, HandBuilt(marks=tenfold), "collateral-evidence", "no evidence for ETH")


def test_haircut_of_zero(history: History) -> None:
    def no_haircut(marks: list[Mark]) -> list[Mark]:
        return [m.model_copy(update={"haircut_bps": 0}) for m in marks if m.asset == WETH]

    eth = _eth_evidence(history)
    how = HandBuilt(marks=no_haircut, evidence=lambda ev: {**ev, "ETH": eth})
    _expect(history, how, "haircut", f"asset {WETH}: haircut 0 bps")


def test_mark_fifty_percent_off_with_no_fills(history: History) -> None:
    """Marks moved 50 % while the published observations say the market did not move."""
    from offchain.ledger.prices import load_settled_marks

    with history.devnet.db.connect() as conn:
        market = {n: m.price for n, m in load_settled_marks(conn).items()}
    how = HandBuilt(move_marks_bps=5_000)
    how.evidence = lambda ev: {n: evidence_at(market[n], 0) for n in ev}
    _expect(history, how, "mark-evidence", "the index of its published observations is")


def test_evidence_that_rejects_agreeing_sources(history: History) -> None:
    """Three fresh sources within 50 bps of each other, two of them published as 'rejected' outliers (so the
    stated index is the one source left)."""

    def skewed(ev: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for n, e in ev.items():
            p = int(e["index"])
            obs = [
                {"source": s, "price": str(q), "ts_ms": 0, "signature": None, "signer": None}
                for s, q in (("a", p), ("b", p * 10_050 // 10_000), ("c", p * 9_950 // 10_000))
            ]
            out[n] = {"index": str(p), "halt": None, "used": obs[:1], "rejected": obs[1:], "stale": []}
        return out

    _expect(history, HandBuilt(evidence=skewed), "mark-evidence", "the sources within 200 bps")


def test_model_inputs_changed(history: History) -> None:
    """A model record whose inputs (a haircut floor of 0 for the T-bill fund) do not rebuild its hash."""

    def edit(line: dict[str, Any]) -> None:
        inputs = json.loads(line["model"]["inputs"])
        for c in inputs["collateral"]:
            c["floor"] = 0.0
        line["model"] = {**line["model"], "inputs": json.dumps(inputs, sort_keys=True, separators=(",", ":"))}

    _expect(history, HandBuilt(line=edit), "model", "rebuild a model with data hash")


def test_model_record_missing(history: History) -> None:
    _expect(history, HandBuilt(line=lambda line: line.pop("model")), "model", "no risk-model record")


def test_model_claims_ledger_days(history: History) -> None:
    def edit(line: dict[str, Any]) -> None:
        line["model"] = {**line["model"], "ledger_days": "3"}

    _expect(history, HandBuilt(line=edit), "model", "calibrated on 3 ledger days, its inputs publish the closes of 0")


def test_published_model_record_of_a_real_batch_altered(history: History) -> None:
    """A file tamper: the honest history's published model hash changed in one line."""
    lines = history.lines()
    i = next(k for k, line in enumerate(lines) if k and line.get("model"))

    def edit(ls: list[dict[str, Any]]) -> None:
        ls[i]["model"]["data_hash"] = "00" * 32

    history.expect(history.tampered("model-hash", edit), "model", int(lines[i]["sequence"]), "the batch's record")


def test_stablecoin_collateral_off_par(history: History) -> None:
    """The T-bill fund share (no risk factor: a stablecoin to the model) posted at 2x par."""

    def double(marks: list[Mark]) -> list[Mark]:
        return [m.model_copy(update={"price": m.price * 2}) for m in marks if m.asset == 3]

    _expect(history, HandBuilt(marks=double), "collateral-price", "asset 3", "not 1000000")
