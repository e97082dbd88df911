"""Property-based fuzzing of every operation in the OpenAPI schema: no input yields a server error, and
no request the schema calls valid is refused as invalid.

Two checks on every generated request: `not_a_server_error` (never a 5xx), and `positive_data_acceptance`
(a request generated from the schema, not a deliberately broken one, is never answered 400 / 422 / 413:
what the API refuses as malformed, the schema must forbid). Schema-valid requests may still be refused for
who sends them or for the state they meet (401 a forged signature, 403, 404 an unknown id, 409 a stale
nonce, 429) — those are the check's expected statuses, plus 424 `chain_unavailable` on the one route
that needs a chain this app has none of (withdrawals are relayed on-chain; tests/api/test_chain_e2e.py
covers them against Anvil).

Bounded: `MAX_EXAMPLES` per operation (about 30 operations), no shrinking deadline. Requests carry the
operator's session so private reads are exercised past the authentication check; signed requests are
exercised with whatever the generator sends (they are refused, with a 401, unless it forges a key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from eth_utils import to_checksum_address
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from offchain.api import create_app
from offchain.ledger.db import open_ledger
from tests.api.auction_setup import house_factory, seed_auction
from tests.api.conftest import OPERATOR, Api, Clock, fill_json, populate, settle_pending
from tests.api.conftest import settings as api_settings

MAX_EXAMPLES = 30


def _build_app() -> FastAPI:
    """Built at import: schemathesis parametrizes from the schema before fixtures exist."""
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cc-fuzz-')) / 'api.db'}"
    engine = open_ledger(url)
    populate(engine)
    seed_auction(engine)
    clock = Clock()
    app = create_app(
        api_settings(url, burst=10**9, fill_burst=10**9),
        engine=engine,
        clock=clock,
        auction_house=house_factory(clock),
    )
    with TestClient(app) as client:
        api = Api(client, engine, Clock())
        api.client.post("/v1/venues/dexA/fills/bulk", json={"fills": [fill_json(api.fill(n)) for n in range(1, 5)]})
        settle_pending(engine, 1)
        app.state.operator_headers = api.login(OPERATOR)
    return app


def _eip55_addresses() -> st.SearchStrategy[str]:
    """The schema's `eip55-address` format: 20 bytes written all-lower, all-upper or as the checksum."""
    raw = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    return st.one_of(raw, raw.map(lambda a: "0x" + a[2:].upper()), raw.map(to_checksum_address))


schemathesis.openapi.format("eip55-address", _eip55_addresses())

# Statuses a schema-valid request may get: who sends it or the state it meets, never its shape.
ACCEPTED_REFUSALS = ["2xx", "401", "403", "404", "409", "429", "424"]

APP = _build_app()
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_REFUSALS}}}
)
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP, config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_no_valid_request_refused(case: Any) -> None:
    case.headers = {**(case.headers or {}), **APP.state.operator_headers}
    case.call_and_validate(checks=[not_a_server_error, positive_data_acceptance])
