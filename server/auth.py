"""Who may call the API: a bearer token, and where the server may listen.

The token is `server.token` when the person set one, else a random one that the
first start writes to `<data dir>/token` (mode 0600, created atomically so two
starting processes agree on it). Every route but health checks it in constant
time. A server reachable from other machines is refused unless the person chose
a token on purpose: a token file on disk is fine for loopback, where only this
machine's users can knock, but a network bind is a decision worth making twice.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from overlay.config import Settings
from overlay.data_files import token_path
from overlay.errors import ConfigError

MIN_NETWORK_TOKEN_CHARS = 16

bearer = HTTPBearer(
    auto_error=False,
    description="The token printed by `overlay token` (also the OpenAI API key).",
)


def load_token(settings: Settings) -> str:
    """The token clients must send: the configured one, else the data dir's, made on first use."""
    if settings.server.token:
        return settings.server.token
    path = token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return _read_token(path)


def _read_token(path: Path) -> str:
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ConfigError(f"the token file {path} is empty; delete it to make a new token")
    return token


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, 'localhost')."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(settings: Settings) -> None:
    """Refuse a non-loopback bind unless `server.token` was set on purpose."""
    host = settings.server.host
    if is_loopback(host):
        return
    token = settings.server.token or ""
    if len(token) < MIN_NETWORK_TOKEN_CHARS:
        raise ConfigError(
            f"refusing to listen on {host}, which other machines can reach, without a chosen "
            f"token: set server.token (at least {MIN_NETWORK_TOKEN_CHARS} characters) in "
            "overlay.toml or OVERLAY_SERVER__TOKEN, or bind to 127.0.0.1"
        )


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """A route dependency: 401 unless `Authorization: Bearer <token>` matches."""
    expected: str = request.app.state.token
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token; `overlay token` prints the right one",
            headers={"WWW-Authenticate": "Bearer"},
        )
