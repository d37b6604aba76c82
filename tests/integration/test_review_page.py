"""The /review page in headless Chromium: a person reviews pairs with the keyboard.

A real daemon (empty vault, a pair store seeded like a distill run leaves it),
opened at the address `overlay review` prints, driven with keys; each action is
checked in the pair store, where `overlay pairs …` and training read it.
Chromium and its driver come from the system (`make test` installs them); the
test skips without them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import qa_pair
from overlay_server import OverlayServer, models_dir, running_daemon, server_settings
from typer.testing import CliRunner

from distill.pairs import Pair, PairStore
from overlay.cli import app as cli_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--window-size=1200,900",
]
WAIT_S = 20.0


def make_pair(note: str, question: str, answer: str, **rest: Any) -> Pair:
    fields: dict[str, Any] = {
        "heading": "Talk",
        "content_hash": "h1",
        "prompt_version": "dialogue-1",
        "source": "dialogue",
    }
    return qa_pair(question, answer, note=note, **{**fields, **rest})


# By note path: the order the page lists them in.
FIRST = make_pair("A/boat.md", "What is my boat called?", "Andrejosta.")
SECOND = make_pair("B/лодка.md", "Где стоит лодка?", "В Риге.", language="ru")
THIRD = make_pair(
    "C/mast.md",
    "How tall is the mast?",
    "Eleven metres.",
    source="fact",
    heading="Rigging",
    generator="SmolLM2",
    scores={"lexical": 0.9, "judge": 0.75},
)
FOURTH = make_pair("D/markup.md", "What does <b>this</b> do?", "<img src=x onerror=alert(1)>")
SEED = [FIRST, SECOND, THIRD, FOURTH]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OverlayServer]:
    root = tmp_path_factory.mktemp("review")
    (root / "vault" / ".obsidian").mkdir(parents=True)
    settings = server_settings(root / "vault", root / "data", models_dir(root / "models"))
    with PairStore.from_settings(settings) as store:
        store.add(SEED)
    with running_daemon(settings) as served:
        yield served


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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given: selenium's own manager never looks for (or downloads) one.
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
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stored(server: OverlayServer, pair: Pair) -> Pair:
    with PairStore.from_settings(server.settings) as store:
        return store.get(pair.id)


def history(server: OverlayServer, pair: Pair) -> list[Any]:
    with PairStore.from_settings(server.settings) as store:
        return store.history(pair.id)


def review_url(server: OverlayServer) -> str:
    settings = server.settings
    command = ["--vault", str(settings.vault), "--data-dir", str(settings.data_dir)]
    result = CliRunner().invoke(cli_app, [*command, "review", "--no-open", "--json"])
    assert result.exit_code == 0, result.output
    url: str = json.loads(result.output)["url"]
    return url


class Page:
    """The review page as a person sees it: keys in, text out."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def press(self, *keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        for key in keys:
            ActionChains(self.driver).send_keys(key).perform()

    def ctrl_enter(self) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        chain = ActionChains(self.driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER)
        chain.key_up(Keys.CONTROL).perform()

    def text(self, css: str) -> str:
        script = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)"
        return " ".join(self.driver.execute_script(script, css))  # the page redraws often

    def shown_note(self) -> str:
        return self.text("#pair h2")

    def count(self, css: str) -> int:
        from selenium.webdriver.common.by import By

        return len(self.driver.find_elements(By.CSS_SELECTOR, css))

    def visible(self, element_id: str) -> bool:
        script = "return !document.getElementById(arguments[0]).hidden"
        return bool(self.driver.execute_script(script, element_id))

    def focused(self, tag: str) -> Any:
        active = self.driver.switch_to.active_element
        return active if active.tag_name == tag else None


def test_a_review_done_with_the_keyboard_lands_in_the_pair_store(
    server: OverlayServer, browser: Any
) -> None:
    from selenium.webdriver.common.keys import Keys

    page = Page(browser)
    url = review_url(server)
    assert url == f"{server.url}/review#token={server.token}"
    browser.get(url)
    wait_for(lambda: page.shown_note() == FIRST.note_path, "the first pair")
    assert browser.execute_script("return location.hash") == ""  # the token left the address
    assert "pending 4" in page.text("#counts")
    assert "What is my boat called?" in page.text("#pair") and "Andrejosta." in page.text("#pair")

    page.press("a")  # approve the first; the page moves on to the second
    wait_for(lambda: stored(server, FIRST).status == "approved", "the approval")
    wait_for(lambda: page.shown_note() == SECOND.note_path, "the second pair")
    page.press("r")  # reject the second
    wait_for(lambda: stored(server, SECOND).status == "rejected", "the rejection")
    wait_for(lambda: page.shown_note() == THIRD.note_path, "the third pair")
    assert "judge 0.75" in page.text("#pair dl") and "§ Rigging" in page.text("#pair")
    assert "approved 1" in page.text("#counts") and "rejected 1" in page.text("#counts")

    page.press("e", "Eleven metres above the deck.")  # edit: typing goes into the answer
    page.press(Keys.ESCAPE)  # nothing is saved
    wait_for(lambda: page.count("#pair textarea") == 0, "the edit to be cancelled")
    assert "Eleven metres." in page.text("#pair")
    assert stored(server, THIRD).messages == THIRD.messages

    page.press("e")
    answer = wait_for(lambda: page.focused("textarea"), "the answer's text area")
    assert page.count("#pair textarea") == 2  # the question can be edited too
    answer.clear()
    answer.send_keys("Eleven metres, from the deck.")
    page.ctrl_enter()
    wait_for(lambda: stored(server, THIRD).status == "edited", "the edit to be saved")
    assert stored(server, THIRD).messages[-1]["content"] == "Eleven metres, from the deck."
    assert [entry.old_messages for entry in history(server, THIRD)] == [THIRD.messages]
    wait_for(lambda: "1, last by" in page.text("#pair dl"), "the edit in the page")

    page.press("u")  # undo the last approve/reject: the second pair is pending again
    wait_for(lambda: stored(server, SECOND).status == "pending", "the undo")
    wait_for(lambda: page.shown_note() == SECOND.note_path, "the undone pair on screen")
    assert stored(server, FIRST).status == "approved"

    page.press("j", "j")  # the markup pair: shown as text, never run as HTML
    wait_for(lambda: page.shown_note() == FOURTH.note_path, "the fourth pair")
    assert "<img src=x onerror=alert(1)>" in page.text("#pair")
    assert "What does <b>this</b> do?" in page.text("#pair")
    page.press("k")
    wait_for(lambda: page.shown_note() == THIRD.note_path, "the previous pair")

    page.press("f")  # pending → edited: only the edited pair is listed
    wait_for(lambda: page.text("#position") == "edited: 1 / 1", "the edited filter")
    assert page.shown_note() == THIRD.note_path

    page.press("?")
    assert page.visible("help") and "undo the last approve or reject" in page.text("#help")
    page.press("?")
    assert not page.visible("help")
    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert problems == []  # no script error, nothing the page's content policy blocked


def test_without_the_token_the_page_asks_for_it_and_refuses_a_wrong_one(
    server: OverlayServer, browser: Any
) -> None:
    page = Page(browser)
    browser.get(f"{server.url}/review")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    wait_for(lambda: page.visible("login"), "the token prompt")
    assert not page.visible("review")
    wait_for(lambda: page.focused("input"), "the token field").send_keys("not-the-token\n")
    wait_for(lambda: "refused" in page.text("#login"), "the refusal")
    assert stored(server, FOURTH).status == "pending"
    browser.switch_to.active_element.send_keys(server.token + "\n")
    wait_for(lambda: page.visible("review") and page.shown_note(), "the pairs")
    browser.refresh()  # the token is kept for the tab
    wait_for(lambda: page.visible("review") and page.shown_note(), "the pairs after a reload")


def test_overlay_review_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    (tmp_path / "vault").mkdir()
    command = ["--vault", str(tmp_path / "vault"), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(cli_app, [*command, "review", "--no-open"])
    assert result.exit_code != 0
    assert "overlay serve" in str(result.exception)
