"""Signer recovery for a bulk of fills, spread over the machine's cores.

secp256k1 recovery is most of the CPU a fill costs, and each is independent of the others: a bulk above
`PARALLEL_MIN` fills is cut into one chunk per worker process, and each worker does all of its chunk's
hashing and recovery (`check_all`: EIP-712 digest, libsecp256k1 recovery through coincurve, and the
fill's Merkle leaf, which ingest stores), so the ingesting thread is left with the checks against the
registry and the database. A fill crosses the process boundary as its eight signed fields and signature
(~200 bytes) and comes back as its signer and leaf (~60 bytes). Smaller bulks, and an ingestor without
workers, do the same in the calling thread. `start_pieces` cuts a bulk finer, into pieces that complete in
order, so the ingestor can store the first pieces while the workers still recover the later ones.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from offchain.core.fills import FillValues, InvalidSignature, fill_digest, fill_leaf, recover_signer_bytes

PARALLEL_MIN = 256  # below this the round trip to the workers costs more than it saves
# Pieces per worker a bulk is cut into by `start_pieces`: the ingesting thread stores piece k while the workers
# still recover later ones, so all but about one piece per worker of the database work overlaps the recovery.
# Each piece costs its own statements (a handful of round trips on PostgreSQL, where the ingestor asks for fewer).
PIECES_PER_WORKER = 4
PIECE_MIN = 64  # smaller pieces cost more in per-statement and per-task overhead than their overlap saves

Recovered = bytes | str  # the 20-byte signer, or why the signature did not recover
Checked = tuple[Recovered, bytes]  # and the fill's Merkle leaf


def recover_all(pairs: Sequence[tuple[bytes, bytes]]) -> list[Recovered]:
    """(digest, signature) -> the signer's 20 address bytes, or the InvalidSignature message."""
    out: list[Recovered] = []
    for digest, signature in pairs:
        try:
            out.append(recover_signer_bytes(digest, signature))
        except InvalidSignature as exc:
            out.append(str(exc))
    return out


def check_all(domain_separator: bytes, items: Sequence[tuple[FillValues, bytes]]) -> list[Checked]:
    """(fill values, signature) -> (the signer's 20 address bytes or why it did not recover, the fill's leaf)."""
    out: list[Checked] = []
    for values, signature in items:
        signer: Recovered
        try:
            signer = recover_signer_bytes(fill_digest(domain_separator, values), signature)
        except InvalidSignature as exc:
            signer = str(exc)
        out.append((signer, fill_leaf(values)))
    return out


def default_workers() -> int:
    """One worker per core when there is more than one core; none on a single core."""
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


class SignerRecovery:
    """`recover(pairs)` in this thread or over a process pool, started on first use and closed by `close()`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def recover(self, pairs: Sequence[tuple[bytes, bytes]]) -> list[Recovered]:
        if self.workers < 1 or len(pairs) < PARALLEL_MIN:
            return recover_all(pairs)
        pool = self._started()
        size = -(-len(pairs) // self.workers)
        chunks = [list(pairs[i : i + size]) for i in range(0, len(pairs), size)]
        out: list[Recovered] = []
        for part in pool.map(recover_all, chunks):
            out.extend(part)
        return out

    def check(self, domain_separator: bytes, items: Sequence[tuple[FillValues, bytes]]) -> list[Checked]:
        """`check_all`, over the workers when the bulk is big enough to pay for the round trip."""
        return self.start(domain_separator, items)()

    def parallel(self, n: int) -> bool:
        """Whether a bulk of `n` fills goes to the workers."""
        return self.workers >= 1 and n >= PARALLEL_MIN

    def start(self, domain_separator: bytes, items: Sequence[tuple[FillValues, bytes]]) -> Callable[[], list[Checked]]:
        """Start `check_all` (on the workers if `parallel`); the returned function waits for the results,
        so the caller can do other work meanwhile."""
        if not self.parallel(len(items)):
            done = check_all(domain_separator, items)
            return lambda: done
        pool = self._started()
        size = -(-len(items) // self.workers)
        futures = [
            pool.submit(check_all, domain_separator, list(items[i : i + size])) for i in range(0, len(items), size)
        ]

        def results() -> list[Checked]:
            out: list[Checked] = []
            for f in futures:
                out.extend(f.result())
            return out

        return results

    def start_pieces(
        self,
        domain_separator: bytes,
        items: Sequence[tuple[FillValues, bytes]],
        pieces_per_worker: int = PIECES_PER_WORKER,
    ) -> list[tuple[int, Callable[[], list[Checked]]]]:
        """`start`, with the bulk cut into pieces that complete in order: (the piece's first index, the function
        that waits for its results). In the calling thread, or for a bulk too small for the workers, one piece."""
        if not self.parallel(len(items)):
            return [(0, self.start(domain_separator, items))]
        pool = self._started()
        size = max(PIECE_MIN, -(-len(items) // (self.workers * pieces_per_worker)))
        return [
            (i, pool.submit(check_all, domain_separator, list(items[i : i + size])).result)
            for i in range(0, len(items), size)
        ]

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the API process has threads (and database connections) a fork would copy.
                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
