"""The composition root for production: settings (pydantic-settings), encrypted keystores, and the one
wiring module that builds the settlement engine and its signers from them (`crossclear deploy`,
`crossclear gov` and `crossclear engine` use it; the devnet goes through the same path)."""
