"""Routers per resource, all mounted under /v1."""
