"""Request bodies parsed with orjson: several times faster than the standard library on a bulk of fills.

FastAPI parses a JSON body with `Request.json()`; this route class hands handlers (and dependencies, which
see the same request object, so a body is parsed once) a request whose `json()` is orjson's. orjson refuses
what the standard parser accepts only at the edges: integers beyond 64 bits and lone surrogates, neither
of which any request schema allows (a 422 either way). The body guard has capped size and depth already.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute


class OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())  # orjson.JSONDecodeError is a json.JSONDecodeError
        return self._json


class FastJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(OrjsonRequest(request.scope, request.receive))

        return route
