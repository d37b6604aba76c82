"""The review actions over HTTP (`/api/v1/pairs`), as the plugin and the /review page use them.

The real app (`create_app`) on a real pair store seeded with pairs like a distill
run makes; every change is checked where a person would see it: in the store, and
in what `overlay pairs list` prints.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from factories import qa_pair
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from distill.pairs import STATUSES, Pair, PairStore
from overlay.cli import app as cli_app
from overlay.config import Settings
from server.app import create_app
from server.pairs import Status

pytestmark = pytest.mark.integration

TOKEN = "review-token-0123456789"


def make_pair(note: str, question: str, answer: str, **rest: Any) -> Pair:
    fields: dict[str, Any] = {
        "content_hash": "h1",
        "prompt_version": "dialogue-1",
        "source": "dialogue",
    }
    return qa_pair(question, answer, note=note, **{**fields, **rest})


SEED = [
    make_pair("Chats/boat.md", "What is my boat called?", "Andrejosta."),
    make_pair("Chats/лодка.md", "Где стоит лодка?", "В Риге, на причале 14.", language="ru"),
    make_pair(
        "Projects/The boat.md",
        "Where is the boat's berth?",
        "Berth 14 in Riga.",
        source="fact",
        heading="Berth",
        generator="SmolLM2",
        prompt_version="facts-1",
        scores={"lexical": 0.9, "judge": 0.8},
        note_date=datetime(2025, 3, 22),
    ),
    make_pair(
        "Projects/The boat.md",
        "Какой длины мачта?",
        "Одиннадцать метров.",
        source="fact",
        language="ru",
        scores={"lexical": 0.6, "judge": 0.4},
    ),
    make_pair(
        "People/Anna Petrova.md",
        "Who sails the boat with Anna?",
        "Dmitry, her brother.",
        source="link",
        scores={"lexical": 1.0, "judge": 0.95},
    ),
]


class Review:
    """The API with the token, the store underneath and the CLI beside it."""

    def __init__(self, http: TestClient, settings: Settings) -> None:
        self.http, self.settings = http, settings
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get("/api/v1/pairs" + path, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        response = self.http.post("/api/v1/pairs" + path, json=body, headers=self.headers)
        assert response.status_code == status, response.text
        return response.json()

    def stored(self, pair: Pair) -> Pair:
        with PairStore.from_settings(self.settings) as store:
            return store.get(pair.id)

    def cli_list(self, *args: str) -> list[dict[str, Any]]:
        settings = ["--vault", str(self.settings.vault), "--data-dir", str(self.settings.data_dir)]
        command = [*settings, "pairs", "list", "--json", "--limit", "1000", *args]
        result = CliRunner().invoke(cli_app, command)
        assert result.exit_code == 0, result.output
        listed: list[dict[str, Any]] = json.loads(result.output)
        return listed


@pytest.fixture
def review(tmp_path: Path) -> Iterator[Review]:
    (tmp_path / "vault" / ".obsidian").mkdir(parents=True)
    settings = Settings.model_validate(
        {
            "vault": str(tmp_path / "vault"),
            "data_dir": str(tmp_path / "data"),
            "server": {"token": TOKEN},
        }
    )
    with PairStore.from_settings(settings) as store:
        store.add(SEED)
    with TestClient(create_app(settings)) as http:
        yield Review(http, settings)


def ids(pairs: list[dict[str, Any]]) -> list[str]:
    return [pair["id"] for pair in pairs]


# ---- listing ----


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "pending"},
        {"source": "fact"},
        {"language": "ru"},
        {"note": "Projects"},
        {"note": "Chats/boat.md"},
        {"min_score": 0.75},
        {"source": ["fact", "link"], "language": "en"},
    ],
)
def test_the_list_matches_overlay_pairs_list(review: Review, filters: dict[str, Any]) -> None:
    page = review.get("", **filters, limit=1000)
    options = [
        item
        for key, value in filters.items()
        for one in (value if isinstance(value, list) else [value])
        for item in ("--" + key.replace("_", "-"), str(one))
    ]
    assert page["pairs"] and ids(page["pairs"]) == ids(review.cli_list(*options))
    assert page["total"] == len(page["pairs"])


def test_the_list_pages_and_counts(review: Review) -> None:
    everything = ids(review.get("", limit=1000)["pairs"])
    page = review.get("", limit=2, offset=3)
    assert ids(page["pairs"]) == everything[3:5]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 3)
    assert page["counts"]["status"] == {
        "pending": 5,
        "approved": 0,
        "rejected": 0,
        "edited": 0,
        "stale": 0,
        "forgotten": 0,
    }
    assert page["counts"]["language"] == {"en": 3, "ru": 2}
    assert page["counts"]["source"] == {"dialogue": 2, "fact": 2, "link": 1}


def test_one_pair_shows_its_provenance_and_judge_scores(review: Review) -> None:
    fact = SEED[2]
    shown = review.get("/" + fact.id[:6])
    assert shown["id"] == fact.id
    assert shown["messages"] == fact.messages
    assert (shown["note_path"], shown["heading"], shown["source"]) == (
        "Projects/The boat.md",
        "Berth",
        "fact",
    )
    assert (shown["generator"], shown["prompt_version"]) == ("SmolLM2", "facts-1")
    assert shown["scores"] == {"lexical": 0.9, "judge": 0.8}
    assert shown["note_date"].startswith("2025-03-22")
    assert shown["history"] == []


# ---- status ----


def test_approve_and_reject_one_pair_change_what_the_cli_sees(review: Review) -> None:
    first, second = SEED[0], SEED[1]
    approved = review.post(f"/{first.id[:8]}/approve")
    assert (approved["ids"], approved["changed"]) == ([first.id], 1)
    assert approved["counts"]["status"]["approved"] == 1
    review.post(f"/{second.id}/reject")
    assert review.stored(first).status == "approved"
    assert review.stored(second).status == "rejected"
    assert ids(review.cli_list("--status", "approved")) == [first.id]
    assert ids(review.cli_list("--status", "rejected")) == [second.id]
    assert review.post(f"/{first.id}/approve")["changed"] == 0  # already approved


def test_bulk_approve_by_ids_and_prefixes(review: Review) -> None:
    facts = [SEED[2], SEED[3]]
    result = review.post("/approve", {"ids": [facts[0].id[:7], facts[1].id, facts[1].id]})
    assert sorted(result["ids"]) == sorted(pair.id for pair in facts)
    assert result["changed"] == 2
    assert sorted(ids(review.cli_list("--status", "approved"))) == sorted(p.id for p in facts)
    assert review.post("/reject", {"ids": [facts[0].id]})["counts"]["status"]["approved"] == 1


def test_bulk_approve_by_filter_matches_the_cli_and_leaves_stale_pairs_alone(
    review: Review,
) -> None:
    with PairStore.from_settings(review.settings) as store:
        store.set_status([SEED[3].id], "stale")  # its note changed since
    where = {"note": "Projects/The boat.md", "source": ["fact"]}
    result = review.post("/approve", {"where": where})
    assert result["ids"] == [SEED[2].id] and result["changed"] == 1
    assert review.stored(SEED[3]).status == "stale"
    scored = review.post("/reject", {"where": {"min_score": 0.9}})  # the link pair only
    assert scored["ids"] == [SEED[4].id]
    russian = review.post("/status", {"where": {"language": ["ru"]}, "status": "approved"})
    assert russian["ids"] == [SEED[1].id]  # the stale Russian pair is left alone
    approved = {SEED[1].id, SEED[2].id}
    assert {p["id"] for p in review.cli_list("--status", "approved")} == approved
    pending = review.post("/reject", {"where": {"status": ["pending"]}})
    assert pending["ids"] == [SEED[0].id] and pending["counts"]["status"]["pending"] == 0


def test_approving_a_fact_by_filter_approves_all_of_its_pairs(review: Review) -> None:
    berth = [
        make_pair("Projects/The boat.md", question, "B-14", source="property", fact="berth")
        for question in ("Where is the berth?", "Где причал?")
    ]
    with PairStore.from_settings(review.settings) as store:
        store.add(berth)
    assert ids(review.get("", fact="berth")["pairs"]) == ids(review.cli_list("--fact", "berth"))
    result = review.post("/approve", {"where": {"fact": "berth"}})
    assert sorted(result["ids"]) == sorted(p.id for p in berth) and result["changed"] == 2


def test_a_bulk_action_must_name_its_pairs_one_way(review: Review) -> None:
    for body, says in [
        ({}, "either ids or where"),
        ({"ids": [SEED[0].id], "where": {"source": ["fact"]}}, "either ids or where"),
        ({"where": {}}, "at least one filter"),
        ({"where": {"status": ["great"]}}, "status"),
    ]:
        refused = review.post("/approve", body, status=422)
        assert refused["error"]["type"] == "InvalidRequest" and says in refused["error"]["message"]
    assert {review.stored(pair).status for pair in SEED} == {"pending"}


def test_the_api_knows_every_status_of_the_store() -> None:
    assert set(get_args(Status)) == set(STATUSES)


def test_a_status_can_be_set_back_which_is_how_the_page_undoes(review: Review) -> None:
    pair = SEED[4]
    review.post(f"/{pair.id}/reject")
    review.post("/status", {"ids": [pair.id], "status": "pending"})
    assert review.stored(pair).status == "pending"
    bad = review.post("/status", {"ids": [pair.id], "status": "great"}, status=422)
    assert bad["error"]["type"] == "InvalidRequest" and "status" in bad["error"]["message"]


# ---- edits ----


def test_an_edit_replaces_the_messages_and_keeps_the_old_ones(review: Review) -> None:
    pair = SEED[1]
    question = {"role": "user", "content": "Где стоит лодка?"}
    answer = "В Риге, на причале 14, у яхт-клуба."
    new = [question, {"role": "assistant", "content": answer}]
    body = {"prompt": [question], "answer": answer}
    edited = review.post(f"/{pair.id}/edit", {**body, "editor": "anna"})
    assert (edited["status"], edited["messages"]) == ("edited", new)
    [entry] = edited["history"]
    assert (entry["editor"], entry["old_messages"], entry["new_messages"]) == (
        "anna",
        pair.messages,
        new,
    )
    assert review.stored(pair).messages == new
    [listed] = review.cli_list("--status", "edited")
    assert listed["messages"] == new
    again = review.post(f"/{pair.id}/edit", body)  # nothing changed: no new entry
    assert len(again["history"]) == 1
    assert review.get("/" + pair.id)["history"] == edited["history"]


def test_an_edit_may_rewrite_the_question_and_add_a_system_message(review: Review) -> None:
    pair = SEED[0]
    prompt = [
        {"role": "system", "content": "Answer from the vault."},
        {"role": "user", "content": "What is the name of my boat?"},
    ]
    edited = review.post(f"/{pair.id}/edit", {"prompt": prompt, "answer": "Andrejosta."})
    assert edited["messages"] == [*prompt, {"role": "assistant", "content": "Andrejosta."}]
    assert review.stored(pair).messages == edited["messages"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {"prompt": [{"role": "user", "content": "only a question"}]},
            "body.answer: Field required",
        ),
        ({"answer": "  "}, "body.answer"),
        ({"prompt": [{"role": "robot", "content": "beep"}], "answer": "a"}, "role"),
        ({"prompt": [{"role": "user"}], "answer": "a"}, "content: Field required"),
        ({"messages": SEED[1].messages}, "body.answer: Field required"),
    ],
)
def test_a_bad_edit_is_refused_with_a_reason_and_changes_nothing(
    review: Review, body: dict[str, Any], says: str
) -> None:
    pair = SEED[0]
    refused = review.post(f"/{pair.id}/edit", body, status=422)
    assert refused["error"]["type"] == "InvalidRequest"
    assert says in refused["error"]["message"]
    assert review.stored(pair).messages == pair.messages
    assert review.stored(pair).status == "pending"


# ---- refusals ----


def test_without_the_token_nothing_is_read_or_changed(review: Review) -> None:
    pair = SEED[0]
    calls = [
        ("GET", "/api/v1/pairs", None),
        ("GET", f"/api/v1/pairs/{pair.id}", None),
        ("POST", f"/api/v1/pairs/{pair.id}/approve", None),
        ("POST", "/api/v1/pairs/reject", {"ids": [pair.id]}),
        ("POST", "/api/v1/pairs/status", {"ids": [pair.id], "status": "approved"}),
        ("POST", f"/api/v1/pairs/{pair.id}/edit", {"answer": "changed"}),
    ]
    for method, url, body in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = review.http.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (method, url)
            assert response.json()["error"]["type"] == "Unauthorized"
    assert (review.stored(pair).status, review.stored(pair).messages) == ("pending", pair.messages)


def test_an_unknown_id_is_404_and_a_bulk_action_naming_one_changes_nothing(
    review: Review,
) -> None:
    unknown = "0" * 16  # a whole id: no stored id starts with it
    for method, path, body in [
        ("GET", f"/{unknown}", None),
        ("POST", f"/{unknown}/approve", None),
        ("POST", f"/{unknown}/edit", {"answer": "changed"}),
        ("POST", "/approve", {"ids": [SEED[0].id, unknown]}),
    ]:
        response = review.http.request(
            method, "/api/v1/pairs" + path, json=body, headers=review.headers
        )
        assert response.status_code == 404, (method, path)
        assert response.json()["error"] == {
            "type": "PairNotFound",
            "message": f"no pair with id {unknown!r}",
        }
    assert review.stored(SEED[0]).status == "pending"


def test_an_ambiguous_prefix_says_so(review: Review) -> None:
    first, second = shared_prefix_pairs(review)
    prefix = first[0]
    assert second.startswith(prefix)
    response = review.http.post(f"/api/v1/pairs/{prefix}/approve", headers=review.headers)
    assert response.status_code == 400
    assert "more than one pair" in response.json()["error"]["message"]
    assert review.stored(SEED[0]).status == "pending"


def shared_prefix_pairs(review: Review) -> tuple[str, str]:
    """Two stored ids with a common first character (adding pairs until there are)."""
    seen: dict[str, str] = {}
    with PairStore.from_settings(review.settings) as store:
        for number in range(17):  # 17 ids over 16 hex digits: two must share one
            for pair in store.list():
                if pair.id[0] in seen and seen[pair.id[0]] != pair.id:
                    return seen[pair.id[0]], pair.id
                seen[pair.id[0]] = pair.id
            store.add([make_pair("Extra.md", f"question {number}", "answer")])
    raise AssertionError("unreachable")


# ---- alongside a distill run ----


def test_the_list_answers_while_another_process_writes_the_store(review: Review) -> None:
    writer = sqlite3.connect(review.settings.resolved_data_dir() / "pairs.sqlite3")
    try:
        writer.execute("BEGIN IMMEDIATE")  # as a distill run holds it while storing a note
        writer.execute("UPDATE pairs SET status = 'approved'")
        page = review.get("")
        assert page["counts"]["status"]["pending"] == 5  # the uncommitted write is not seen
    finally:
        writer.rollback()
        writer.close()


# ---- documentation ----


def test_the_openapi_page_documents_the_pairs_api_but_not_the_page(review: Review) -> None:
    schema = review.http.get("/openapi.json").json()
    paths = schema["paths"]
    assert {"/api/v1/pairs", "/api/v1/pairs/{pair_id}", "/api/v1/pairs/{pair_id}/edit"} <= set(
        paths
    )
    assert "/review" not in paths
    listing = paths["/api/v1/pairs"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PairPage"
    }
    assert "401" in listing["responses"]
    assert "scores" in schema["components"]["schemas"]["PairOut"]["properties"]
