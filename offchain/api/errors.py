"""Errors as the API returns them, one shape for every 4xx:

    {"error": code, "detail": "a sentence", "errors": [{loc, msg, type}, ...], "bid_id": null}

`error` is a stable machine-readable code, `detail` always a human-readable string, `errors` lists each
invalid field for `invalid_request` (empty otherwise), `bid_id` is set only when an auction refused a bid
it stored anyway. Never a 5xx for anything a client sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from offchain.errors import CrossclearError
from offchain.ledger.handles import IntegrityError


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body/query/path, then field names and list indexes")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error response."""

    error: str = Field(description="stable machine-readable code")
    detail: str = Field(description="what went wrong, for a human")
    errors: list[FieldError] = Field(default_factory=list, description="`invalid_request`: each invalid field")
    bid_id: int | None = Field(default=None, description="auction refusals: the id of the refused bid, if stored")


class ApiError(CrossclearError):
    def __init__(
        self,
        status: int,
        code: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        bid_id: int | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        if isinstance(detail, list) and errors is None:  # a list of field errors passed as the detail
            errors, detail = detail, None
        self.errors = [_field_error(e) for e in errors or []]
        self.detail = _sentence(code, detail, self.errors)
        self.headers = headers
        self.bid_id = bid_id

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, "errors": self.errors, "bid_id": self.bid_id}


def _field_error(e: Any) -> dict[str, Any]:
    if not isinstance(e, dict):
        return {"loc": [], "msg": _json_safe(e), "type": "value_error"}
    loc = [x if isinstance(x, int) else _json_safe(x) for x in e.get("loc", ())]
    return {"loc": loc, "msg": _json_safe(e.get("msg", "")), "type": _json_safe(e.get("type", ""))}


def _sentence(code: str, detail: Any, errors: list[dict[str, Any]]) -> str:
    if detail is not None:
        return _json_safe(detail)
    if errors:
        first = errors[0]
        where = ".".join(str(x) for x in first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{where}: {first['msg']}{more}"
    return code.replace("_", " ")


def bad_request(code: str, detail: Any = None) -> ApiError:
    return ApiError(400, code, detail)


def unauthorized(code: str, detail: Any = None) -> ApiError:
    return ApiError(401, code, detail, {"WWW-Authenticate": "Bearer"})


def forbidden(detail: Any = "not allowed for this key") -> ApiError:
    return ApiError(403, "forbidden", detail)


def not_found(code: str, detail: Any = None) -> ApiError:
    return ApiError(404, code, detail)


def conflict(code: str, detail: Any = None) -> ApiError:
    return ApiError(409, code, detail)


def chain_unavailable(detail: Any = "the API has no chain connection") -> ApiError:
    # 424 Failed Dependency: the request is fine, the chain it needs is not reachable or not configured.
    return ApiError(424, "chain_unavailable", detail)


def auctions_unavailable(detail: Any = "this API process runs no auction house") -> ApiError:
    # 424 like a missing chain: the request is fine, the service it needs is not configured here.
    return ApiError(424, "auctions_unavailable", detail)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

# Every route documents these besides its own success response (the body guard answers 400 and 413 for
# every route, before the route runs).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad request (`too_deep`: JSON nested beyond the limit, ...)"},
    413: {"model": ErrorBody, "description": "`payload_too_large`: the body exceeds `max_body_bytes`"},
    422: {"model": ErrorBody, "description": "invalid input (`invalid_request`, with `errors`)"},
    429: {"model": ErrorBody, "description": "rate limited (`rate_limited`), see Retry-After"},
}


def _json_safe(value: Any) -> str:
    """Text that is valid UTF-8 whatever the input carried (validation errors can echo raw bytes)."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(ApiError(422, "invalid_request", errors=[dict(e) for e in exc.errors()]).body(), 422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # The last line of defence of every check-then-insert: whatever a concurrent request stored first
        # wins, and this one is a conflict, never a 500. (The handlers use INSERT ... ON CONFLICT where
        # they can, with their own codes; this catches what slips past.)
        return JSONResponse(ApiError(409, "conflict", "a concurrent request stored the same thing first").body(), 409)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        body = ApiError(exc.status_code, code, exc.detail).body()
        return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None))
