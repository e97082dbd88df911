"""The auditor's two outcomes besides "passed": a discrepancy (the history is wrong) or bad input."""

from __future__ import annotations

from offchain.errors import CrossclearError


class AuditError(CrossclearError):
    """The audit could not run: an unreadable fills file, an RPC failure, a vault that is not one."""


class Discrepancy(CrossclearError):  # noqa: N818 - a finding, not a failure of the auditor
    """The first thing found wrong with the history.

    `sequence` is the batch it concerns (None for vault-wide findings such as final solvency), `check`
    a short stable name of the check that failed (tests and scripts match on it), `detail` the sentence
    printed to the auditor.
    """

    def __init__(self, sequence: int | None, check: str, detail: str) -> None:
        self.sequence = sequence
        self.check = check
        self.detail = detail
        where = f"batch {sequence}" if sequence is not None else "vault"
        super().__init__(f"{where}: [{check}] {detail}")
