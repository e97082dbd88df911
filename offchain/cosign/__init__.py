"""Co-signers: services that verify a proposed batch with the auditor's checks before they sign it.

`crossclear cosign --config FILE` runs one (`service.py`), holding one risk-signer key; the engine gathers
signatures from several over HTTP (`client.py`) until the vault's threshold. docs/auditors.md, "Co-signers".
"""
