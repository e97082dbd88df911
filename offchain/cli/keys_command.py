"""`crossclear keys`: create or import an encrypted keystore (the password from the environment)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="create or import an encrypted keystore (Ethereum JSON keystore, scrypt)")
    actions = p.add_subparsers(dest="keys_action", required=True)
    for name, text in (("new", "a fresh random key"), ("import", "a key read from --key-env")):
        a = actions.add_parser(name, help=f"write a keystore holding {text}")
        a.add_argument("--out", type=Path, required=True, help="keystore file to create (never overwritten)")
        a.add_argument("--password-env", default="CROSSCLEAR_KEYSTORE_PASSWORD", help="variable holding the password")
        if name == "import":
            a.add_argument("--key-env", required=True, help="variable holding the hex private key to import")


def run(args: argparse.Namespace) -> int:
    from eth_account import Account

    from offchain.config.keys import write_keystore
    from offchain.errors import ConfigError

    password = os.environ.get(args.password_env)
    if not password:
        print(f"crossclear keys: set the keystore password in ${args.password_env}", file=sys.stderr)
        return 2
    if args.keys_action == "import":
        key = os.environ.get(args.key_env)
        if not key:
            print(f"crossclear keys: ${args.key_env} holds no key", file=sys.stderr)
            return 2
    else:
        key = "0x" + bytes(Account.create().key).hex()
    try:
        address = write_keystore(args.out, key, password)
    except (ConfigError, ValueError) as exc:  # eth-account: ValueError for a malformed key
        print(f"crossclear keys: {exc}", file=sys.stderr)
        return 2
    print(f"{address} {args.out}")
    return 0
