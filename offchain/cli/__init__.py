"""The `crossclear` command."""
