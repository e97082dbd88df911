#!/usr/bin/env bash
# Set everything up, then run the main job: the local crossclear demo on a real Anvil chain.
# Extra arguments go to `crossclear demo` (see `.venv/bin/crossclear demo --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
exec .venv/bin/crossclear demo "$@"
