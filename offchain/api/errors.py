"""Errors as the API returns them: `{"error": code, "detail": ...}` with a 4xx status, never a 5xx."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """Every error response. `error` is a stable machine-readable code; `detail` explains it."""

    error: str
    detail: Any = None


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


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

# Every route documents these besides its own success response.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad request"},
    422: {"model": ErrorBody, "description": "invalid input (`invalid_request`)"},
    429: {"model": ErrorBody, "description": "rate limited (`rate_limited`), see Retry-After"},
}


def _json_safe(errors: Any) -> Any:
    """Validation errors can carry the offending input (bytes, exceptions): keep them printable."""
    if isinstance(errors, dict):
        return {str(k): _json_safe(v) for k, v in errors.items()}
    if isinstance(errors, (list, tuple)):
        return [_json_safe(v) for v in errors]
    if errors is None or isinstance(errors, (bool, int, float)):
        return errors
    text = str(errors)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.code, "detail": _json_safe(exc.detail)}, exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "detail": _json_safe(detail)}, 422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # The last line of defence of every check-then-insert: whatever a concurrent request stored first
        # wins, and this one is a conflict, never a 500. (The handlers use INSERT ... ON CONFLICT where
        # they can, with their own codes; this catches what slips past.)
        return JSONResponse({"error": "conflict", "detail": "a concurrent request stored the same thing first"}, 409)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": _json_safe(exc.detail)}, exc.status_code, headers=getattr(exc, "headers", None)
        )
