"""Read views of the ledger for the API, the CLI, the demo and the devnet: each function runs its
queries and returns frozen dataclasses (never SQLAlchemy rows), so no caller outside `offchain/ledger/`
builds SQL."""
