"""Starting a daemon cleanly: the port checked before any work, a dead daemon's file cleared.

`overlay serve` on a port in use used to start the first sync and only then bury
`address already in use` in the log; a daemon killed with -9 left its daemon.json
naming a pid that no longer runs. Both are settled here, before the index opens.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from overlay.errors import ConfigError

log = logging.getLogger("overlay.daemon")


def ensure_port_free(host: str, port: int) -> None:
    """Raise ConfigError when nothing could listen on host:port (port 0: any, always free)."""
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ConfigError(f"cannot listen on {host}: {error}") from error
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {error.strerror or error} (another "
                "`overlay serve`?); choose another with --port or server.port"
            ) from error


def clear_stale_daemon_file(path: Path) -> bool:
    """Remove a daemon.json whose pid no longer runs; whether one was removed."""
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        pid = None  # unreadable: no one can use it either
    if pid is not None and pid_alive(pid):
        return False
    path.unlink(missing_ok=True)
    log.info("removed a stale %s (pid %s is not running)", path.name, pid)
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (one of another user counts)."""
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except PermissionError:
        return True  # another user's live process
    except OSError:
        return False
    return True
