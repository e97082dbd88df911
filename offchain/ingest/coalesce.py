"""Group commit for single fills: concurrent `submit` calls share one transaction (and one fsync).

Each single fill sent on its own costs a durable commit, and a commit costs a disk flush whatever it
holds. `Coalescer.submit` queues the fill and blocks; one background thread takes everything queued
(up to `max_batch`) and runs it through `Ingestor.submit_many` as one bulk, then wakes each caller with
its own ack. The guarantee is unchanged: an ack is returned only after the transaction holding its fill
has committed; every fill is still judged on its own (a bulk judges each item separately). With one
caller at a time this is a plain submit plus a thread hop; with many, commits are shared.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from offchain.core.fills import Fill
from offchain.ingest.service import Ack, Ingestor
from offchain.ingest.validation import Rejection


@dataclass(frozen=True, slots=True)
class _Pending:
    fill: Fill
    signature: bytes
    authenticated: Rejection | None
    done: Future[Ack]


class Coalescer:
    def __init__(self, ingestor: Ingestor, max_batch: int = 500) -> None:
        self.ingestor = ingestor
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fill: Fill, signature: bytes, authenticated: Rejection | None) -> Ack:
        """The ack of one fill (whose stage-1 result the caller has), after the commit that stored it."""
        return self.enqueue(fill, signature, authenticated).result()

    async def submit_async(self, fill: Fill, signature: bytes, authenticated: Rejection | None) -> Ack:
        """`submit` for an event loop: the caller awaits the commit instead of holding a thread."""
        return await asyncio.wrap_future(self.enqueue(fill, signature, authenticated))

    def enqueue(self, fill: Fill, signature: bytes, authenticated: Rejection | None) -> Future[Ack]:
        """Queue one fill; the future's result is its ack, set after the commit that stored it."""
        done: Future[Ack] = Future()
        self._started()
        self._queue.put(_Pending(fill, signature, authenticated, done))
        return done

    def _started(self) -> None:
        with self._lock:
            if self._thread is None:  # first use, or first use after `close()`
                self._thread = threading.Thread(target=self._run, name="ingest-coalescer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            try:
                acks = self.ingestor.submit_many(
                    [(p.fill, p.signature) for p in batch], authenticated=[p.authenticated for p in batch]
                )
            except Exception as exc:  # every waiting caller must learn of the failure, whatever it is
                for p in batch:
                    p.done.set_exception(exc)
                continue
            for p, ack in zip(batch, acks, strict=True):
                p.done.set_result(ack)

    def close(self) -> None:
        """Finish what is queued and stop the thread (a later `submit` starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
