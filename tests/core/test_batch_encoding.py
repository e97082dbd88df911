"""The batch encoder: packing round-trips and the fast EIP-712 hash equals eth-account's generic one."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.core.batch import (
    INT128_MAX,
    INT128_MIN,
    UINT32_MAX,
    UINT64_MAX,
    UINT112_MAX,
    UINT128_MAX,
    Batch,
    Contribution,
    DefaultAction,
    MarginCall,
    Mark,
    Requirement,
    Transfer,
)
from offchain.core.eip712 import vault_domain

accounts = st.integers(min_value=1, max_value=UINT32_MAX)
assets = st.integers(min_value=0, max_value=2**16 - 1)
transfers = st.builds(Transfer, account=accounts, asset=assets, amount=st.integers(INT128_MIN, INT128_MAX))
requirements = st.builds(Requirement, account=accounts, im=st.integers(0, UINT112_MAX), mm=st.integers(0, UINT112_MAX))
marks = st.builds(Mark, asset=assets, haircut_bps=st.integers(0, 10_000), price=st.integers(0, UINT128_MAX))
hashes = st.binary(min_size=32, max_size=32)
members = st.integers(min_value=4, max_value=UINT32_MAX)
contributions = st.builds(Contribution, account=members, amount=st.integers(INT128_MIN, INT128_MAX))
margin_calls = st.builds(
    MarginCall, account=members, deadline=st.integers(0, UINT64_MAX), amount=st.integers(0, UINT128_MAX)
)
default_actions = st.builds(
    DefaultAction, account=members, action=st.integers(1, 4), amount=st.integers(0, UINT128_MAX)
)


@st.composite
def zero_sum_transfers(draw: st.DrawFn) -> tuple[Transfer, ...]:
    """Random transfers, each balanced by a counter-transfer, shuffled."""
    legs = draw(st.lists(st.tuples(accounts, accounts, st.integers(0, 6), st.integers(-(2**100), 2**100)), max_size=12))
    rows: list[Transfer] = []
    for a, b, asset, amount in legs:
        rows.append(Transfer(account=a, asset=asset, amount=amount))
        rows.append(Transfer(account=b, asset=asset, amount=-amount))
    return tuple(draw(st.permutations(rows)))


batches = st.builds(
    Batch,
    sequence=st.integers(1, 2**64 - 1),
    prev_hash=hashes,
    as_of=st.integers(0, 2**64 - 1),
    fills_root=hashes,
    transfers=zero_sum_transfers(),
    requirements=st.lists(requirements, max_size=5).map(tuple),
    marks=st.lists(marks, max_size=5).map(tuple),
    approved_withdrawals=st.lists(st.integers(0, 2**256 - 1), max_size=4).map(tuple),
    context_hash=hashes,
    contributions=st.lists(contributions, max_size=4).map(tuple),
    margin_calls=st.lists(margin_calls, max_size=4).map(tuple),
    default_actions=st.lists(default_actions, max_size=4).map(tuple),
)


@given(transfers)
def test_transfer_round_trip(t: Transfer) -> None:
    word = t.pack()
    assert len(word) == 32
    assert Transfer.unpack(word) == t


@given(requirements)
def test_requirement_round_trip(r: Requirement) -> None:
    assert Requirement.unpack(r.pack()) == r


@given(marks)
def test_mark_round_trip(m: Mark) -> None:
    assert Mark.unpack(m.pack()) == m


def test_transfer_word_layout_matches_solidity() -> None:
    # account 7, asset 2, amount -1: int128 two's complement in the low 128 bits.
    word = Transfer(account=7, asset=2, amount=-1).pack()
    assert word.hex() == "00000007" + "0002" + "00" * 10 + "ff" * 16


def test_reserved_bits_rejected() -> None:
    word = bytearray(Transfer(account=7, asset=2, amount=5).pack())
    word[10] = 1
    with pytest.raises(ValueError, match="reserved"):
        Transfer.unpack(bytes(word))


def test_non_zero_sum_batch_rejected() -> None:
    with pytest.raises(ValueError, match="sum to zero"):
        Batch(sequence=1, prev_hash=b"\0" * 32, as_of=0, transfers=(Transfer(account=4, asset=0, amount=1),))


@settings(max_examples=200, deadline=None)
@given(batches, st.integers(1, 2**32), st.binary(min_size=20, max_size=20))
def test_fast_digest_equals_eth_account(batch: Batch, chain_id: int, vault: bytes) -> None:
    domain = vault_domain(chain_id, "0x" + vault.hex())
    generic = encode_typed_data(full_message=batch.typed_data(domain))
    # SignableMessage(version=0x01, header=domainSeparator, body=structHash)
    assert generic.header == domain.separator
    assert generic.body == batch.struct_hash()
    assert batch.digest(domain) == keccak(b"\x19\x01" + generic.header + generic.body)


@settings(max_examples=25, deadline=None)
@given(batches)
def test_signature_recovers_signer(batch: Batch) -> None:
    acct = Account.create()
    domain = vault_domain(31337, "0x" + "11" * 20)
    signed = Account.sign_typed_data(acct.key, full_message=batch.typed_data(domain))
    fast = Account.unsafe_sign_hash(batch.digest(domain), acct.key)
    assert signed.signature == fast.signature


@given(contributions)
def test_contribution_round_trip(c: Contribution) -> None:
    word = c.pack()
    assert len(word) == 32
    assert int.from_bytes(word, "big") == (c.account << 224) | (c.amount & UINT128_MAX)
    assert Contribution.unpack(word) == c


@given(margin_calls)
def test_margin_call_round_trip(m: MarginCall) -> None:
    word = m.pack()
    assert int.from_bytes(word, "big") == (m.account << 224) | (m.deadline << 160) | m.amount
    assert MarginCall.unpack(word) == m


@given(default_actions)
def test_default_action_round_trip(d: DefaultAction) -> None:
    word = d.pack()
    assert int.from_bytes(word, "big") == (d.account << 224) | (d.action << 216) | d.amount
    assert DefaultAction.unpack(word) == d


def test_default_rows_reserved_bits_rejected() -> None:
    bad = ((4 << 224) | (1 << 128) | 5).to_bytes(32, "big")
    for row in (Contribution, MarginCall, DefaultAction):
        with pytest.raises(ValueError, match="reserved"):
            row.unpack(bad)


def test_default_rows_change_the_hash() -> None:
    base = Batch(sequence=1, prev_hash=b"\0" * 32, as_of=0)
    c = base.model_copy(update={"contributions": (Contribution(account=4, amount=1),)})
    m = base.model_copy(update={"margin_calls": (MarginCall(account=4, deadline=0, amount=1),)})
    d = base.model_copy(update={"default_actions": (DefaultAction(account=4, action=1, amount=1),)})
    hashes_ = {b.struct_hash() for b in (base, c, m, d)}
    assert len(hashes_) == 4
