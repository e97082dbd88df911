"""Reading the vault's history (source) and re-applying its rules to it (replay)."""
