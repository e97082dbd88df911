"""A typed Python client of the crossclear API: see offchain/client/README.md."""

from offchain.client.client import ROUTES, CrossclearApiError, CrossclearClient

__all__ = ["ROUTES", "CrossclearApiError", "CrossclearClient"]
