"""The auditor's authorisation check (offchain/audit/checks/authorisation.py) on settle calls built by hand.

Risk signers here are plain keys (no contract code: the EIP-1271 path needs a chain and is covered by the
Anvil tests); every other rule is checked one departure at a time.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from offchain.audit.checks.authorisation import ChainState
from offchain.audit.errors import Discrepancy
from offchain.audit.events.types import BatchSettled, SettleCall, SignersUpdated, Where
from offchain.chain.signers import RiskSigner, SignerSignature
from offchain.core.batch import Batch, Transfer
from offchain.core.eip712 import Domain

DOMAIN = Domain("crossclear", "1", 31337, "0x" + "11" * 20)
SIGNERS = sorted(
    (RiskSigner(Account.from_key(keccak(text=f"risk {i}"))) for i in range(3)), key=lambda s: int(s.address, 16)
)
OUTSIDER = RiskSigner(Account.from_key(keccak(text="outsider")))
ZERO = b"\x00" * 32
AT = Where(block=5, log_index=0, tx_hash=ZERO)


def make_batch(seq: int = 1, prev: bytes = ZERO, as_of: int = 100) -> Batch:
    return Batch(
        sequence=seq,
        prev_hash=prev,
        as_of=as_of,
        transfers=(Transfer(account=4, asset=0, amount=-5), Transfer(account=5, asset=0, amount=5)),
    )


def settle(b: Batch, signers: list[RiskSigner] | None = None, **overrides: object) -> tuple[BatchSettled, SettleCall]:
    digest = b.digest(DOMAIN)
    sigs = tuple(s.sign_digest(digest) for s in (SIGNERS[:2] if signers is None else signers))
    words = b.words()
    call = SettleCall(
        sequence=b.sequence,
        prev_hash=b.prev_hash,
        as_of=b.as_of,
        fills_root=b.fills_root,
        transfers=b.transfers,
        requirements=b.requirements,
        marks=b.marks,
        approved_withdrawals=b.approved_withdrawals,
        context_hash=b.context_hash,
        signatures=sigs,
        raw=(b.sequence, b.prev_hash, b.as_of, b.fills_root, *words, b.approved_withdrawals, b.context_hash),
    )
    call = replace(call, **overrides)  # type: ignore[arg-type]
    return BatchSettled(AT, b.sequence, digest, b.fills_root, b.as_of, len(b.transfers)), call


def chain(threshold: int = 2) -> ChainState:
    state = ChainState(Web3(), DOMAIN, _has_code={s.address: False for s in (*SIGNERS, OUTSIDER)})
    state.signers_updated(SignersUpdated(AT, tuple(s.address for s in SIGNERS), threshold))
    return state


def finding(state: ChainState, event: BatchSettled, call: SettleCall) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        state.check_batch(event, call)
    assert exc.value.sequence == event.sequence
    return exc.value.check, exc.value.detail


def test_a_signed_batch_in_sequence_passes_and_advances_the_tip() -> None:
    state = chain()
    b = make_batch()
    assert state.check_batch(*settle(b)) == b
    assert (state.last_sequence, state.last_digest, state.last_as_of) == (1, b.digest(DOMAIN), 100)
    second = make_batch(2, b.digest(DOMAIN), 100)  # the same asOf is not "before"
    assert state.check_batch(*settle(second, SIGNERS)) == second
    assert state.last_sequence == 2


def test_sequence_hash_chain_and_as_of() -> None:
    state = chain()
    b = make_batch()
    state.check_batch(*settle(b))
    assert finding(state, *settle(make_batch(3, b.digest(DOMAIN)))) == ("sequence", "expected sequence 2, got 3")
    assert finding(state, *settle(make_batch(1, b.digest(DOMAIN))))[0] == "sequence"
    assert finding(state, *settle(make_batch(2, ZERO)))[0] == "hash-chain"
    assert finding(state, *settle(make_batch(2, b.digest(DOMAIN), 99))) == (
        "as-of",
        "asOf 99 is before the previous batch's 100",
    )


def test_the_call_must_be_the_events() -> None:
    event, call = settle(make_batch())
    assert finding(chain(), event, replace(call, sequence=2)) == (
        "calldata",
        "BatchSettled is sequence 1, the settle call 2",
    )
    assert finding(chain(), event, replace(call, fills_root=b"\x01" * 32))[0] == "calldata"
    assert finding(chain(), replace(event, digest=b"\x02" * 32), call)[0] == "digest"


def test_transfers_must_sum_to_zero_per_asset() -> None:
    event, call = settle(make_batch())
    skewed = (*call.transfers, Transfer(account=6, asset=0, amount=1))
    assert finding(chain(), event, replace(call, transfers=skewed)) == (
        "zero-sum",
        "transfers of asset 0 sum to 1, not zero",
    )


def test_signatures_need_a_signer_set_ascending_members_valid_and_the_threshold() -> None:
    b = make_batch()
    empty = ChainState(Web3(), DOMAIN)
    assert finding(empty, *settle(b)) == ("signatures", "settled before any signer set was registered")
    assert finding(chain(), *settle(b, [SIGNERS[1], SIGNERS[0]]))[1].startswith("signers not strictly ascending")
    assert finding(chain(), *settle(b, [SIGNERS[0], SIGNERS[0]]))[1].startswith("signers not strictly ascending")
    event, call = settle(b, [OUTSIDER])
    assert finding(chain(1), event, call)[1] == f"{OUTSIDER.address} is not a risk signer in force at this batch"
    forged = SignerSignature(SIGNERS[0].address, OUTSIDER.sign_digest(b.digest(DOMAIN)).signature)
    event, call = settle(b)
    assert finding(chain(), event, replace(call, signatures=(forged,)))[1] == (
        f"invalid signature by risk signer {SIGNERS[0].address}"
    )
    short = SignerSignature(SIGNERS[0].address, forged.signature[:64])
    assert finding(chain(), event, replace(call, signatures=(short,)))[1].startswith("invalid signature")
    assert finding(chain(), *settle(b, [SIGNERS[2]])) == ("signatures", "1 valid signatures, the threshold is 2")
    assert chain(1).check_batch(*settle(b, [SIGNERS[2]])) == b
    assert chain(3).check_batch(*settle(b, SIGNERS)) == b


def test_the_first_batch_may_be_at_time_zero_and_the_first_zero_sum_violation_is_named() -> None:
    b = make_batch(as_of=0)
    assert chain().check_batch(*settle(b)) == b
    event, call = settle(make_batch())
    skewed = (*call.transfers, Transfer(account=6, asset=1, amount=-2), Transfer(account=6, asset=0, amount=3))
    assert finding(chain(), event, replace(call, transfers=skewed))[1] == "transfers of asset 0 sum to 3, not zero"


def proposal_finding(state: ChainState, batch: Batch) -> tuple[str, str]:
    with pytest.raises(Discrepancy) as exc:
        state.check_proposal(batch)
    assert exc.value.sequence == batch.sequence
    return exc.value.check, exc.value.detail


def test_a_proposal_is_checked_in_order_and_does_not_move_the_tip() -> None:
    """What a co-signer checks before it signs: the batch follows the tip exactly (sequence + 1, prevHash =
    the tip's digest, asOf not before it) and its transfers sum to zero, with no signatures yet."""
    state = chain()
    b = make_batch()
    state.check_batch(*settle(b))
    tip = (state.last_sequence, state.last_digest, state.last_as_of)
    good = make_batch(2, b.digest(DOMAIN), 100)  # the same asOf is not "before"
    state.check_proposal(good)
    state.check_proposal(make_batch(2, b.digest(DOMAIN), 101))
    assert (state.last_sequence, state.last_digest, state.last_as_of) == tip  # a proposal never advances it
    assert proposal_finding(state, make_batch(3, b.digest(DOMAIN))) == ("sequence", "expected sequence 2, got 3")
    assert proposal_finding(state, make_batch(1, b.digest(DOMAIN))) == ("sequence", "expected sequence 2, got 1")
    assert proposal_finding(state, make_batch(2, ZERO)) == (
        "hash-chain",
        f"prevHash 0x{ZERO.hex()} is not the previous digest 0x{b.digest(DOMAIN).hex()}",
    )
    assert proposal_finding(state, make_batch(2, b.digest(DOMAIN), 99)) == (
        "as-of",
        "asOf 99 is before the previous batch's 100",
    )
    skewed = good.model_copy(
        update={
            "transfers": (
                *good.transfers,
                Transfer(account=6, asset=1, amount=-2),
                Transfer(account=6, asset=0, amount=3),
            )
        }
    )
    assert proposal_finding(state, skewed) == ("zero-sum", "transfers of asset 0 sum to 3, not zero")
    only_asset_1 = good.model_copy(update={"transfers": (Transfer(account=6, asset=1, amount=-2),)})
    assert proposal_finding(state, only_asset_1) == ("zero-sum", "transfers of asset 1 sum to -2, not zero")


def test_the_first_proposal_follows_the_empty_chain() -> None:
    state = chain()
    state.check_proposal(make_batch(1, ZERO, 0))
    assert proposal_finding(state, make_batch(2, ZERO, 0))[0] == "sequence"
    assert proposal_finding(state, make_batch(3, ZERO, 0)) == ("sequence", "expected sequence 1, got 3")


# Minimal EIP-1271 wallets for a real chain: runtime code that answers any call with the magic value
# 0x1626ba7e (valid), or with 0xffffffff (invalid), as a 32-byte word.
VALID_WALLET = "0x631626ba7e60e01b60005260206000f3"
INVALID_WALLET = "0x63ffffffff60e01b60005260206000f3"


@pytest.mark.anvil
def test_contract_signers_are_asked_with_eip1271_and_plain_keys_are_recovered(w3: Web3) -> None:
    good, bad = "0x" + "5a" * 20, "0x" + "5b" * 20
    good, bad = Web3.to_checksum_address(good), Web3.to_checksum_address(bad)
    w3.provider.make_request("anvil_setCode", [good, VALID_WALLET])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setCode", [bad, INVALID_WALLET])  # type: ignore[arg-type]
    at = Where(block=w3.eth.block_number, log_index=0, tx_hash=ZERO)
    b = make_batch()
    event, call = settle(b)
    event = replace(event, at=at)

    def state(signers: tuple[str, ...], threshold: int) -> ChainState:
        s = ChainState(w3, DOMAIN)
        s.signers_updated(SignersUpdated(at, signers, threshold))
        return s

    wallet_ok = state((good,), 1)
    assert wallet_ok.check_batch(event, replace(call, signatures=(SignerSignature(good, b"\x01" * 65),))) == b
    assert wallet_ok._has_code == {good: True}
    wallet_no = state((bad,), 1)
    with pytest.raises(Discrepancy, match=f"invalid signature by risk signer {bad}"):
        wallet_no.check_batch(event, replace(call, signatures=(SignerSignature(bad, b"\x01" * 65),)))
    keys = state(tuple(s.address for s in SIGNERS), 2)  # plain keys: no code on the chain, ECDSA recovery
    assert keys.check_batch(event, call) == b
    assert keys._has_code == {s.address: False for s in SIGNERS[:2]}
