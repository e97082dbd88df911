"""The auditor's checks, one module per concern. Each raises `Discrepancy` at the first finding."""
