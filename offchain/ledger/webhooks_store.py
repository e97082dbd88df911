"""Registered member webhooks and their delivery cursors (table `api_webhooks`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from offchain.ledger import schema as t
from offchain.ledger.atomic import insert_new


@dataclass(frozen=True)
class Webhook:
    id: int
    account: int
    url: str
    secret: str
    cursor: dict[str, int]  # the push cursor after the last delivered event


def register(conn: Connection, account: int, url: str, secret: str, cursor: dict[str, int], now_ms: int) -> int | None:
    """Store a webhook; its id, or None when the URL is registered for the account already."""
    row: dict[str, Any] = {"account": account, "url": url, "secret": secret, "cursor": cursor, "created_ms": now_ms}
    if not insert_new(conn, t.api_webhooks, row):
        return None
    w = t.api_webhooks.c
    return int(conn.execute(select(w.id).where(w.account == account, w.url == url)).scalar_one())


def webhooks(conn: Connection) -> list[Webhook]:
    return [
        Webhook(int(h.id), int(h.account), h.url, h.secret, dict(h.cursor))
        for h in conn.execute(select(t.api_webhooks))
    ]


def move_cursor(conn: Connection, webhook_id: int, cursor: dict[str, int]) -> None:
    w = t.api_webhooks.c
    conn.execute(update(t.api_webhooks).where(w.id == webhook_id).values(cursor=cursor))
