"""A complete local crossclear: Anvil, the vault and tokens, venues, members, instruments and the
ledger registry, described by one JSON file that every process (engine, feeder, API) can open."""
