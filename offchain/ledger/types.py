"""Column types: integers of any size (token base units reach 2**128) stored exactly on every backend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Dialect, String
from sqlalchemy.types import TypeDecorator


class BigInt(TypeDecorator[int]):
    """An arbitrary-size integer stored as its decimal text.

    SQLite has no exact type beyond 64 bits and money here goes to uint128, so the ledger never lets a
    backend round it. Values are only summed in Python, never in SQL.
    """

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"BigInt column takes int, got {type(value).__name__}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)
