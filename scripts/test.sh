#!/usr/bin/env bash
# Set everything up, then run every test: pytest, which also drives forge (unit, fuzz and invariant
# tests of the contracts) and integration tests against a real Anvil. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/python -m pytest "$@"
