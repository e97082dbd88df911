"""The crossclear HTTP API (FastAPI), versioned under /v1.

`create_app(settings)` builds the application; `crossclear serve` runs it under uvicorn. Routers per
resource live in `routes/`, shared dependencies (services, sessions, signed requests, rate limits) in
`deps.py`, settings in `config.py`, request signing in `signing.py`. See docs/api.md.
"""

from offchain.api.config import ApiSettings
from offchain.api.main import create_app

__all__ = ["ApiSettings", "create_app"]
