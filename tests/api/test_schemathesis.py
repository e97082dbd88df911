"""Property-based fuzzing of every operation in the OpenAPI schema: no input yields a server error.

Bounded: `MAX_EXAMPLES` per operation (about 30 operations), no shrinking deadline. Requests carry the
operator's session so private reads are exercised past the authentication check; signed requests are
exercised with whatever the generator sends (they are refused, with a 4xx, unless it forges a key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

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


APP = _build_app()
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: Any) -> None:
    case.headers = {**(case.headers or {}), **APP.state.operator_headers}
    case.call_and_validate(checks=[not_a_server_error])
