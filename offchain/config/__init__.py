"""How a process reads its configuration: the settings-file base (a TOML or JSON file plus the environment,
which wins) and key sources (encrypted keystores; a plain key on the devnet chain only).

Below every package that reads settings or keys (chain's signers, app's settings and wiring, cosign), so none
of them imports another for it."""
