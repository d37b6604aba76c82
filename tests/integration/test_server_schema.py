"""Schemathesis against the live server's OpenAPI schema: no request the schema allows,
and none it forbids, makes the server fail (5xx) or answer outside its documented shape.

The hash embedder (the package's deterministic fake) keeps the examples quick; the
LLM is the real SmolLM2, answering in 4 tokens when a generated body turns `rag` off.
(schemathesis 4.32's `from_fixture` needs pytest < 9, so the cases come from its
Python API: one hypothesis test per operation.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from overlay_server import OverlayServer, models_dir, running_daemon, server_settings, tiny_vault
from schemathesis.specs.openapi.checks import positive_data_acceptance

from server import health
from server.app import GUARDED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATIONS = sorted(
    (method, route.path_format)
    for router in (health.public, *(module.router for module in GUARDED))
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
)


VAULT_PATHS = {"/api/v1/notes/section", "/api/v1/forget"}
# The question (the last user turn) must hold text, which a schema cannot say of one
# message of a list: a schema-valid chat with an empty question gets the documented 400.
CHAT_PATHS = {"/api/v1/chat", "/v1/chat/completions"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OverlayServer]:
    root = tmp_path_factory.mktemp("schema")
    settings_ = server_settings(
        tiny_vault(root / "vault"),
        root / "data",
        models_dir(root / "models"),
        index={"embedder": "hash"},
        llm={"max_new_tokens": 4},
    )
    with running_daemon(settings_) as server:
        server.wait_idle()
        with server.client() as http:  # load the model once, outside any example's timeout
            hello = {"messages": [{"role": "user", "content": "hi"}], "rag": False}
            http.post("/api/v1/chat", json={**hello, "stream": False}).raise_for_status()
        yield server


@pytest.fixture(scope="module")
def api_schema(live: OverlayServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(live.url + "/openapi.json")


@pytest.mark.parametrize("method, path", OPERATIONS, ids=lambda v: str(v))
def test_the_api_honours_its_schema(
    api_schema: schemathesis.BaseSchema, live: OverlayServer, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    # The schema cannot say "inside the vault" (a symlink may lead out), so a schema-valid
    # path can rightly get the documented 400 (PathOutsideVault, ConfigError).
    excluded = [positive_data_acceptance] if path in VAULT_PATHS | CHAT_PATHS else []
    examples = 3 if "chat" in path else 8  # every chat example runs the model

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def honours(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=live.headers, timeout=120, excluded_checks=excluded)

    honours()
