"""The Obsidian plugin against a real daemon (one for the whole module, on a tiny vault):

- its HTTP client and logic (examples/obsidian-plugin, `npm test`) with OVERLAY_URL and
  OVERLAY_TOKEN set, so none of its server tests may skip; one corrects an answer, and
  `overlay train` must then train on it;
- `overlay plugin install` on a fresh copy of examples/vault: the settings it writes reach
  the daemon;
- the built main.js in headless Chromium, on a minimal Obsidian stub
  (tests/fixtures/obsidian-stub): the chat view and the related pane, with screenshots in
  build/test-artifacts/.

Needs node and the plugin's node_modules for the first (`make plugin`), Chromium and its
driver for the last (`make chromium`); each skips with the reason when they are missing.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from overlay_server import (
    EXAMPLE_VAULT,
    REPO,
    OverlayServer,
    models_dir,
    running_daemon,
    server_settings,
    tiny_vault,
)
from typer.testing import CliRunner

from distill.pairs import PairStore
from distill.training import training_pairs
from overlay.cli import app as cli_app
from overlay.cli.plugin import PLUGIN_FILES, SHIPPED

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLUGIN = REPO / "examples" / "obsidian-plugin"
STUB = REPO / "tests" / "fixtures" / "obsidian-stub"
ARTIFACTS = REPO / "build" / "test-artifacts"
PLUGIN_CORRECTION = "My boat is called Kittiwake (corrected by the plugin test)."  # client.test.ts
BOAT = "Projects/The boat.md"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-proxy-server",
    "--window-size=1400,900",
]
STATUS_BAR_TEXT = "return document.getElementById('status-bar').textContent"
WAIT_S = 60.0
DRAG_FIRST_RELATED = """
const data = new DataTransfer();
document.querySelector('.overlay-related-item')
  .dispatchEvent(new DragEvent('dragstart', {dataTransfer: data, bubbles: true}));
return data.getData('text/plain');
"""
HOVER_FIRST_RELATED = """
const hovered = [];
app.workspace.on('hover-link', (info) => hovered.push(info.linktext));
document.querySelector('.overlay-related-item a')
  .dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
return hovered;
"""
# Records whether an answer was ever rendered as Markdown (a <p>) while it still streamed.
WATCH_STREAMING_MARKDOWN = """
window.sawMarkdownWhileStreaming = false;
new MutationObserver(() => {
  if (document.querySelector('.overlay-answer-text.overlay-streaming p'))
    window.sawMarkdownWhileStreaming = true;
}).observe(document.body, {subtree: true, childList: true});
"""  # an answer from the CPU model included


class Page:
    """The stub page (index.html, obsidian.js, the shipped plugin, the vault) over HTTP on
    loopback: a real origin, which the daemon's CORS settings allow."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not worth a line each in the test output."""


@pytest.fixture(scope="module")
def page_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stub-page")
    for name in ("index.html", "obsidian.js"):
        shutil.copyfile(STUB / name, root / name)
    for name in PLUGIN_FILES:
        shutil.copyfile(SHIPPED / name, root / name)
    return root


@pytest.fixture(scope="module")
def page(page_root: Path) -> Iterator[Page]:
    served = Page(page_root)
    yield served
    served.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, page: Page, page_root: Path
) -> Iterator[OverlayServer]:
    root = tmp_path_factory.mktemp("plugin")
    vault = tiny_vault(root / "vault")
    (page_root / "vault").symlink_to(vault)  # what the stub's vault.cachedRead reads
    origins = ["app://obsidian.md", page.origin]
    settings = server_settings(
        vault, root / "data", models_dir(root / "models"), server={"cors_origins": origins}
    )
    with running_daemon(settings) as served:
        served.wait_idle()
        yield served


def test_plugin_client_passes_its_tests_against_the_server(server: OverlayServer) -> None:
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("node/npm are not installed")
    if not (PLUGIN / "node_modules" / ".bin" / "tsx").exists():
        pytest.skip(
            "the plugin's node_modules are missing: run `npm ci` in examples/obsidian-plugin"
        )
    env = {**os.environ, "OVERLAY_URL": server.url, "OVERLAY_TOKEN": server.token}
    env.pop("HTTP_PROXY", None)
    env.pop("http_proxy", None)
    done = subprocess.run(
        [npm, "test"], cwd=PLUGIN, env=env, capture_output=True, text=True, timeout=600
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped) (\d+)$", report, flags=re.MULTILINE))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", report[-4000:]
    assert int(counts["pass"]) >= 25
    # the plugin's correction is an approved pair, and the next `overlay train` trains on it
    with PairStore.from_settings(server.settings) as store:
        trained = [p for p in training_pairs(store) if p.source == "correction"]
    assert [p.messages[-1]["content"] for p in trained] == [PLUGIN_CORRECTION]
    assert trained[0].status == "approved" and trained[0].log_entry is not None


def test_the_shipped_plugin_is_built_from_the_sources_here() -> None:
    node = shutil.which("node")
    if node is None or not (PLUGIN / "node_modules" / "esbuild").exists():
        pytest.skip("node or the plugin's node_modules are missing (`make plugin`)")
    built = subprocess.run(
        [node, "esbuild.config.mjs", "production"], cwd=PLUGIN, capture_output=True, timeout=120
    )
    assert built.returncode == 0, built.stderr.decode()[-2000:]
    for name in PLUGIN_FILES:
        assert (PLUGIN / name).read_bytes() == (SHIPPED / name).read_bytes(), (
            f"overlay/plugin_dist/{name} is stale: run `make plugin` and commit it"
        )


def test_installed_plugin_settings_reach_the_running_daemon(
    server: OverlayServer, tmp_path: Path
) -> None:
    vault = Path(shutil.copytree(EXAMPLE_VAULT, tmp_path / "example-vault"))
    command = ["--data-dir", str(server.settings.data_dir), "plugin", "install", str(vault)]
    result = CliRunner().invoke(cli_app, command)
    assert result.exit_code == 0, result.output
    folder = vault / ".obsidian" / "plugins" / "overlay"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*PLUGIN_FILES, "data.json"])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["id"] == "overlay"
    settings = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    assert settings["serverUrl"] == server.url and "token" not in settings
    token = Path(settings["tokenFile"]).read_text(encoding="utf-8").strip()  # the plugin reads it
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=settings["serverUrl"], trust_env=False, headers=headers) as http:
        status = http.get("/api/v1/status")
    assert status.status_code == 200, status.text
    assert status.json()["index"]["notes"] >= 5


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            "no /usr/bin/chromium or /usr/bin/chromedriver: install chromium "
            "chromium-driver (make test does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Obsidian:
    """The stub page as a person sees it: clicks and keys in, text out."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def run(self, script: str, *args: Any) -> Any:
        """An async script: its last argument is the callback Selenium waits for."""
        return self.driver.execute_async_script(script, *args)

    def texts(self, selector: str) -> list[str]:
        return self.js(
            "return [...document.querySelectorAll(arguments[0])]"
            ".filter(e => e.offsetParent !== null).map(e => e.textContent)",
            selector,
        )

    def click(self, selector: str, text: str | None = None) -> None:
        clicked = self.js(
            "const el = [...document.querySelectorAll(arguments[0])]"
            ".find(e => arguments[1] === null || e.textContent.includes(arguments[1]));"
            "if (el) el.click(); return !!el;",
            selector,
            text,
        )
        assert clicked, f"nothing to click at {selector} {text or ''}"

    def ask(self, question: str) -> None:
        """Type a question, press Ask and wait for the whole answer."""
        answers = len(self.texts(".overlay-feedback"))
        self.js("document.querySelector('.overlay-form textarea').value = arguments[0]", question)
        self.click(".overlay-buttons button", "Ask")
        wait_for(lambda: len(self.texts(".overlay-feedback")) > answers, "the whole answer")
        wait_for(lambda: "Stop" not in self.texts(".overlay-buttons button"), "the view to settle")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="module")
def obsidian(browser: Any, page: Page, server: OverlayServer) -> Obsidian:
    browser.set_script_timeout(WAIT_S)
    browser.get(page.origin + "/index.html")
    stub = Obsidian(browser)
    notes = [str(p.relative_to(server.settings.vault)) for p in server.settings.vault.rglob("*.md")]
    data = {"serverUrl": server.url, "token": server.token}
    stub.run("startPlugin(arguments[0], arguments[1]).then(arguments[2])", notes, data)
    stub.js("app.workspace.openFile(arguments[0])", BOAT)
    stub.run("plugin.commands.ask.callback().then(() => arguments[0]())")
    stub.run("plugin.commands.related.callback().then(() => arguments[0]())")
    return stub


def test_a_token_an_older_install_left_in_the_vault_moves_to_the_device(
    obsidian: Obsidian, server: OverlayServer
) -> None:
    saved = obsidian.js("return window.pluginData")  # what Obsidian keeps in the vault
    assert "token" not in saved and saved["serverUrl"] == server.url
    assert obsidian.js("return localStorage.getItem('overlay-token')") == server.token
    assert obsidian.js("return plugin.settings.token") == server.token  # still connects


def test_chat_view_streams_a_cited_answer_and_keeps_the_conversation(obsidian: Obsidian) -> None:
    models = wait_for(
        lambda: obsidian.js(
            "return [...document.querySelectorAll('.overlay-model-picker option')].map(o => o.value)"
        )[1:],
        "the model list",
    )
    assert models[0], models  # the base model the daemon serves
    obsidian.js(WATCH_STREAMING_MARKDOWN)
    obsidian.ask("Where does my boat live?")
    assert obsidian.js("return window.sawMarkdownWhileStreaming"), "plain text until the end"
    assert obsidian.texts(".overlay-question") == ["Where does my boat live?"]
    assert "".join(obsidian.texts(".overlay-answer-text")).strip()
    sources = obsidian.texts(".overlay-sources li a")
    assert "Projects/The boat › The boat › Where she lives" in sources, sources
    assert {"Copy", "Insert at cursor"} <= set(obsidian.texts(".overlay-actions button"))
    shot = obsidian.screenshot("plugin-chat-view")
    assert shot.stat().st_size > 10_000

    obsidian.click(".overlay-sources li a", "Where she lives")  # a citation opens its heading
    assert obsidian.js("return window.opened") == ["Projects/The boat#Where she lives"]

    conversations = wait_for(
        lambda: obsidian.js("return window.pluginData.conversations"), "the saved conversation"
    )
    assert [c["title"] for c in conversations] == ["Where does my boat live?"]
    obsidian.click(".overlay-toolbar button", "New")
    assert obsidian.texts(".overlay-question") == []
    obsidian.click(".overlay-history-button")
    obsidian.click(".overlay-history-item a", "Where does my boat live?")
    wait_for(lambda: obsidian.texts(".overlay-question"), "the reopened conversation")
    assert obsidian.texts(".overlay-question") == ["Where does my boat live?"]
    assert "Projects/The boat › The boat › Where she lives" in obsidian.texts(
        ".overlay-sources li a"
    )


def test_asking_about_the_open_note_sends_and_cites_it(obsidian: Obsidian) -> None:
    obsidian.click(".overlay-toolbar button", "New")
    obsidian.click(".overlay-buttons button", "About this note")
    context = wait_for(lambda: obsidian.texts(".overlay-context"), "the note as context")
    assert context == ["About this note Projects/The boat×"]
    obsidian.click(".overlay-rag-toggle input")  # the note alone: nothing retrieved (and faster)
    try:
        obsidian.ask("What is she called?")
    finally:
        obsidian.click(".overlay-rag-toggle input")
    assert obsidian.texts(".overlay-context") == []  # it went with that question only
    assert obsidian.texts(".overlay-question-context") == ["about the note Projects/The boat"]
    assert obsidian.texts(".overlay-sources li") == ["Projects/The boat"]  # cited as [0], alone
    first = obsidian.js("return document.querySelector('.overlay-sources li')")
    assert first.get_attribute("value") == "0"
    assert obsidian.js("return window.pluginData.rag") is True  # the toggle is a setting
    obsidian.click(".overlay-sources li a", "Projects/The boat")
    assert obsidian.js("return window.opened").pop() == "Projects/The boat"


def test_asking_about_a_selection_and_inserting_the_answer_at_the_cursor(
    obsidian: Obsidian,
) -> None:
    obsidian.click(".overlay-toolbar button", "New")
    obsidian.js("app.workspace.select(arguments[0])", "Berth B-14 at [[Andrejosta]]")
    try:
        obsidian.click(".overlay-buttons button", "About the selection")
        context = wait_for(lambda: obsidian.texts(".overlay-context"), "the selection")
        assert context == ["About the selection in Projects/The boat×"]
        obsidian.ask("Which berth?")
        assert obsidian.texts(".overlay-question-context") == [
            "about a selection in Projects/The boat"
        ]
        obsidian.click(".overlay-actions button", "Insert at cursor")
        inserted = obsidian.js("return app.workspace.activeView.inserted")
        answer = "".join(obsidian.texts(".overlay-answer-text")).strip()
        assert len(inserted) == 1 and answer and answer.split()[0] in inserted[0], (
            inserted,
            answer,
        )
    finally:
        obsidian.js("app.workspace.activeView = null")


def test_settings_test_the_connection_and_say_what_to_fix(
    obsidian: Obsidian, server: OverlayServer
) -> None:
    obsidian.js(
        "const tab = plugin.settingTab; document.getElementById('pane-1').prepend(tab.containerEl);"
        "tab.display();"
    )
    requests_before = obsidian.js("return performance.getEntriesByType('resource').length")
    obsidian.js(
        "const input = plugin.settingTab.containerEl.querySelector('input[type=password]');"
        "input.value = 'wrong-token'; input.dispatchEvent(new Event('input'));"
    )
    assert obsidian.js("return performance.getEntriesByType('resource').length") == requests_before
    obsidian.click(".setting-item button", "Test connection")
    failed = wait_for(lambda: obsidian.texts(".overlay-connection-result.is-failed"), "a result")
    assert "token is wrong" in failed[0] and "overlay token" in failed[0]
    obsidian.screenshot("plugin-settings")
    obsidian.js(
        "const input = plugin.settingTab.containerEl.querySelector('input[type=password]');"
        "input.value = arguments[0]; input.dispatchEvent(new Event('input'));",
        server.token,
    )
    obsidian.click(".setting-item button", "Test connection")
    ok = wait_for(lambda: obsidian.texts(".overlay-connection-result.is-ok"), "a good result")
    assert re.fullmatch(r"✓ Connected: \d+ notes indexed\.", ok[0]), ok
    obsidian.js("plugin.settingTab.containerEl.remove()")


def test_deleting_a_conversation_forgets_it_here_and_keeps_the_log(
    obsidian: Obsidian, server: OverlayServer
) -> None:
    conversations = obsidian.js("return window.pluginData.conversations")
    doomed = next(c for c in conversations if c["title"] == "Where does my boat live?")
    if not obsidian.texts(".overlay-history-item"):
        obsidian.click(".overlay-history-button")
    obsidian.js(
        "[...document.querySelectorAll('.overlay-history-item')]"
        ".find(r => r.textContent.includes(arguments[0]))"
        ".querySelector('.overlay-history-delete').click()",
        doomed["title"],
    )
    wait_for(
        lambda: doomed["title"] not in "".join(obsidian.texts(".overlay-history-item")),
        "the conversation to leave the list",
    )
    kept = obsidian.js("return window.pluginData.conversations")
    assert [c["id"] for c in kept] == [c["id"] for c in conversations if c is not doomed]
    with server.client() as http:
        for log_id in doomed["logIds"]:
            assert http.get(f"/api/v1/log/{log_id}").status_code == 200


def test_related_pane_shows_why_and_refreshes_after_a_sync(
    obsidian: Obsidian, server: OverlayServer
) -> None:
    wait_for(lambda: obsidian.texts(".overlay-related-item"), "the related notes")
    assert obsidian.texts(".overlay-related-title") == ["Related to The boat"]
    reasons = obsidian.texts(".overlay-related-reasons")
    assert any("links to it" in r for r in reasons), reasons
    assert all(obsidian.texts(".overlay-related-snippet")), "a related note without a snippet"
    dragged = obsidian.js(DRAG_FIRST_RELATED)
    hovered = obsidian.js(HOVER_FIRST_RELATED)
    first_path = obsidian.js("return document.querySelector('.overlay-related-item a').title")
    assert dragged == f"[[{first_path.removesuffix('.md')}]]"  # dropped in a note: a link
    assert hovered == [first_path]  # Obsidian's page preview is asked to show it
    scores = [float(s) for s in obsidian.texts(".overlay-related-score")]
    assert scores[0] == 1.0 and all(0 < s <= 1 for s in scores), scores  # search's scale
    assert obsidian.js(
        "return [...document.querySelectorAll('.overlay-related-item')].every(e => e.draggable)"
    )
    obsidian.screenshot("plugin-related-pane")

    mooring = server.settings.vault / "Projects" / "Mooring lines.md"
    mooring.write_text("# Mooring lines\n\nNew lines for [[The boat]].\n", encoding="utf-8")
    try:
        with server.client() as http:
            http.post("/api/v1/sync", json={"paths": None, "wait": True})
        obsidian.run("plugin.refreshStatus().then(() => arguments[0]())")  # sees the new sync
        wait_for(
            lambda: "Mooring lines" in "".join(obsidian.texts(".overlay-related-item a")),
            "the new note among the related ones",
        )
    finally:
        mooring.unlink()
        with server.client() as http:
            http.post("/api/v1/sync", json={"paths": None, "wait": True})


def test_related_pane_syncs_the_note_and_refreshes_once_typing_pauses(obsidian: Obsidian) -> None:
    def requests_to(path: str) -> int:
        count: int = obsidian.js(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes(arguments[0])).length",
            path,
        )
        return count

    syncs, related = requests_to("/api/v1/sync"), requests_to("/api/v1/notes/related")
    for _ in range(3):  # three edits in quick succession: one sync, after the last
        obsidian.js("app.vault.trigger('modify', app.workspace.getActiveFile())")
        time.sleep(0.3)
    assert requests_to("/api/v1/sync") == syncs  # not while typing
    wait_for(lambda: requests_to("/api/v1/notes/related") > related, "the refreshed list")
    time.sleep(0.5)
    assert requests_to("/api/v1/sync") == syncs + 1
    assert obsidian.texts(".overlay-related-title") == ["Related to The boat"]
    assert obsidian.texts(".overlay-related-item")


def test_an_unreachable_daemon_shows_a_banner_with_retry(
    obsidian: Obsidian, server: OverlayServer
) -> None:
    obsidian.js("plugin.settings.serverUrl = 'http://127.0.0.1:9'")
    obsidian.run(
        "app.workspace.getLeavesOfType('overlay-ask')[0].view.loadModels().then(arguments[0])"
    )
    banner = wait_for(lambda: obsidian.texts(".overlay-banner"), "the banner")
    assert "cannot reach the daemon at http://127.0.0.1:9" in banner[0]
    obsidian.screenshot("plugin-unreachable")
    obsidian.js("plugin.settings.serverUrl = arguments[0]", server.url)
    obsidian.click(".overlay-banner button", "Retry")
    wait_for(lambda: not obsidian.texts(".overlay-banner"), "the banner to go")
    status_bar = wait_for(
        lambda: re.fullmatch(r"Overlay: \d+ notes · .+", obsidian.js(STATUS_BAR_TEXT)),
        "the status bar to show the notes and the model",
    )
    assert "offline" not in status_bar.group(0)
