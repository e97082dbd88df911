#!/usr/bin/env bash
# Set up everything crossclear needs, from the PyPI and npm registries only: a .venv at the repo root
# with the project installed (so .venv/bin/crossclear works), and contracts/node_modules (Foundry's
# forge/anvil/cast, solcjs, OpenZeppelin, Safe), and Debian's chromium when missing (as root with apt; for the
# report's browser test). Idempotent: a second run with nothing changed takes
# about a second, because each step is skipped while its inputs' checksum is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "crossclear needs Python 3.11 or newer (found: $("$python_bin" --version 2>&1))" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "crossclear needs Node.js 20 and npm" >&2; exit 1; }

# ---- Python: .venv with the project (editable) and its dev tools
py_stamp=".venv/.crossclear-setup"
py_sum="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$python_bin" -m venv .venv
fi
if [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_sum" ]; then
  say "installing the Python package and its dependencies into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$py_sum" > "$py_stamp"
fi

# ---- Contracts toolchain: Foundry, solcjs, OpenZeppelin, Safe from npm
js_stamp="contracts/node_modules/.crossclear-setup"
js_sum="$(cat contracts/package.json contracts/package-lock.json | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$js_stamp" 2>/dev/null)" != "$js_sum" ]; then
  say "installing Foundry (forge, anvil, cast), solc and OpenZeppelin from npm into contracts/node_modules"
  (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
  echo "$js_sum" > "$js_stamp"
fi
for tool in forge anvil cast; do
  "contracts/node_modules/.bin/$tool" --version >/dev/null || { echo "$tool from npm does not run" >&2; exit 1; }
done
# ---- Headless Chromium (Debian's package): the report's browser test opens the demo's HTML report in it.
# Skipped when present (a second run costs nothing) or when CROSSCLEAR_NO_CHROMIUM=1 (then that test fails).
if [ -z "${CROSSCLEAR_NO_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    say "installing chromium (Debian package) for the report's headless-browser test"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
      say "could not install chromium with apt-get (no reachable Debian mirror?): the report's browser test"
      say "(tests/demo/test_demo.py) will FAIL until 'apt-get install chromium' succeeds"
    fi
  else
    say "chromium not found: install Debian's 'chromium' package (apt-get install chromium, as root) to run the"
    say "report's headless-browser test, which FAILS without it (not running as root with apt-get here)"
  fi
fi
say "ready: .venv/bin/crossclear, contracts/node_modules/.bin/{forge,anvil,cast}"
