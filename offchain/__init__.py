"""crossclear: cross-venue clearing for 24/7 crypto markets (the off-chain side)."""

import os as _os

# eth-hash (keccak for eth-utils, eth-account, web3: address checksums, EIP-712) picks its backend on
# first use; its C backend safe-pysha3 (a dependency) hashes ~10x faster than pycryptodome, its default.
# Set before any hashing happens; an explicit ETH_HASH_BACKEND in the environment still wins.
_os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")

__version__ = "0.1.0"
