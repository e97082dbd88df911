"""The independent auditor: re-derives every settlement from the chain and the published fills.

Imports only `offchain.core` (the shared pure rules), the chain layer's read helpers and web3 — never
the engine's settlement, ledger or ingest code — so that it can disagree with the engine.
"""

from offchain.audit.errors import AuditError, Discrepancy
from offchain.audit.runner import Auditor, AuditReport, run_audit

__all__ = ["AuditError", "AuditReport", "Auditor", "Discrepancy", "run_audit"]
