"""Talk to the daemon (`overlay serve`) that serves this vault, when one runs.

DESIGN decision 8: one process owns the store; CLI commands ask it over HTTP
rather than open the store (and load the models) themselves. The daemon
announces itself in `<data dir>/daemon.json` (`{"pid", "url", "vault",
"started"}`), removed when it stops; the token is `server.token` or
`<data dir>/token`. A file left by a killed daemon is ignored: the pid must be
alive and /api/v1/health must answer.

    client = DaemonClient.discover(settings)
    if client is not None:
        hits = client.search("boat mast", top_k=5)        # SearchHit.to_dict() shapes
    else:
        ...open Memory(settings) in this process...

Methods return the JSON the plugin API returns, i.e. the `.to_dict()` shapes
of Memory's results; errors come back as the OverlayError subclass the daemon
raised (by `error.type`), with its message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

from overlay import errors
from overlay.config import Settings
from overlay.data_files import daemon_file, token_path

DISCOVER_TIMEOUT_S = 1.0


def read_token(settings: Settings) -> str | None:
    """The configured token, else the data dir's, else None (the server makes it)."""
    if settings.server.token:
        return settings.server.token
    try:
        return token_path(settings).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def read_daemon_file(settings: Settings) -> dict[str, Any] | None:
    """daemon.json if it names a live process, else None."""
    try:
        info = json.loads(daemon_file(settings).read_text(encoding="utf-8"))
        pid = int(info["pid"])
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:
        return info  # alive, but another user's: let the health check decide
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info.get("url"), str) else None


class DaemonClient:
    """A small synchronous client of the plugin API."""

    def __init__(self, url: str, token: str, *, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            trust_env=False,  # a proxy from the environment must not see loopback calls
        )

    @classmethod
    def discover(cls, settings: Settings) -> DaemonClient | None:
        """The client of this vault's running daemon, or None when none answers."""
        info = read_daemon_file(settings)
        token = read_token(settings)
        if info is None or token is None:
            return None
        client = cls(info["url"], token)
        try:
            client._http.get("/health", timeout=DISCOVER_TIMEOUT_S).raise_for_status()
        except httpx.HTTPError:
            client.close()
            return None
        return client

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """`{"state", "vault", "last_error", "index": Memory.status()}`."""
        return self._json("GET", "/status")

    def search(self, query: str, top_k: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"q": query}
        if top_k is not None:
            params["top_k"] = top_k
        hits: list[dict[str, Any]] = self._json("GET", "/search", params=params)["hits"]
        return hits

    def related(self, note_path: str, top_k: int = 10) -> list[dict[str, Any]]:
        params = {"path": note_path, "top_k": top_k}
        found: list[dict[str, Any]] = self._json("GET", "/notes/related", params=params)["related"]
        return found

    def read_note(self, path: str, heading: str | None = None) -> dict[str, Any]:
        params = {"path": path, **({"heading": heading} if heading else {})}
        return self._json("GET", "/notes/section", params=params)

    def sync(self, paths: list[str] | None = None, *, wait: bool = True) -> dict[str, Any]:
        """`{"state", "finished", "report", "error"}`; with `wait`, after the sync ran."""
        return self._json("POST", "/sync", json={"paths": paths, "wait": wait})

    def forget(self, paths: list[str], *, undo: bool = False) -> dict[str, Any]:
        """`{"notes", "finished", "error"}` once the daemon's sync has forgotten them."""
        return self._json("POST", "/forget", json={"paths": paths, "undo": undo})

    def answer(
        self,
        messages: list[dict[str, str]],
        *,
        rag: bool = True,
        adapter: str | None = None,
        think: bool | None = None,
    ) -> dict[str, Any]:
        """Answer.to_dict(): `{"text", "reasoning", "citations", "model"}`."""
        body = {
            "messages": messages,
            "rag": rag,
            "adapter": adapter,
            "think": think,
            "stream": False,
        }
        body["client"] = "cli"  # how the conversation log records it
        return self._json("POST", "/chat", json=body)

    def stream_answer(
        self,
        messages: list[dict[str, str]],
        *,
        rag: bool = True,
        adapter: str | None = None,
        think: bool | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """(kind, data) pairs: ('sources', {"citations"}), ('reasoning', {"text"}) with
        `think`, ('token', {"text"}), then ('done', Answer.to_dict())."""
        body = {
            "messages": messages,
            "rag": rag,
            "adapter": adapter,
            "think": think,
            "stream": True,
        }
        body["client"] = "cli"
        with self._http.stream("POST", "/chat", json=body) as response:
            if response.is_error:
                response.read()
                raise _error_of(response)
            yield from _events(response.iter_lines())

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise _error_of(response)
        return response.json()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                event = (kind, json.loads("\n".join(data)))
                if event[0] == "error":
                    raise _error_from(event[1])
                yield event
            kind, data = "message", list[str]()
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _error_of(response: httpx.Response) -> errors.OverlayError:
    try:
        detail = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        detail = {"type": "", "message": f"HTTP {response.status_code}: {response.text[:200]}"}
    return _error_from(detail)


def _error_from(detail: dict[str, Any]) -> errors.OverlayError:
    kind = getattr(errors, str(detail.get("type")), None)
    message = str(detail.get("message", ""))
    if isinstance(kind, type) and issubclass(kind, errors.OverlayError):
        if kind is errors.DependencyMissing:
            return errors.OverlayError(message)  # its constructor builds its own message
        return kind(message)
    return errors.OverlayError(f"the daemon answered: {message}")
