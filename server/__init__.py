"""The HTTP API: the plugin API under /api/v1 and the OpenAI-compatible one under /v1."""

from server.app import create_app

__all__ = ["create_app"]
