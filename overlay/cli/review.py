"""`overlay pairs review`: go through pairs one key press each, in the terminal.

Every action is written to the pair store the moment its key is pressed, so
quitting, Ctrl-C or a closed terminal loses nothing done so far. Undo takes back
the last action: the pair gets its previous status and, after an edit, its
previous messages (written as one more edit, so the history keeps both).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import click
import typer
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from distill.pairs import Message, Pair, PairStore
from distill.review_actions import reviewer
from overlay.cli.app import console
from overlay.cli.distill import (
    LanguageOption,
    MinScoreOption,
    NoteOption,
    SourceOption,
    StatusOption,
    _filter,
    _open_store,
    pairs_app,
    parse_messages,
    render_messages,
)
from overlay.errors import ConfigError

KEYS = {
    "a": "approve",
    "r": "reject",
    "e": "edit",
    "s": "skip",
    " ": "skip",
    "p": "back",
    "b": "back",
    "u": "undo",
    "q": "quit",
    "\x1b[C": "skip",  # the arrow keys, as a terminal sends them
    "\x1b[D": "back",
}
HELP = "a approve · r reject · e edit · s/space skip · p/b back · u undo · q quit"
DECISIONS = ("approved", "rejected", "edited", "skipped")


def read_key() -> str:
    """One key press; '' when the input has ended.

    From a terminal, raw (no Enter needed). Without one, the next character of
    stdin: `click.getchar` would open /dev/tty instead of reading the pipe.
    """
    if sys.stdin.isatty():
        return click.getchar()
    return sys.stdin.read(1)


def presses(next_key: Callable[[], str]) -> Iterator[str]:
    """Key presses one by one until the input ends (or Ctrl-C, Ctrl-D).

    Keys typed before the terminal went raw arrive together ('ar'): each counts;
    an escape sequence (an arrow key) is one press.
    """
    while True:
        try:
            keys = next_key()
        except (EOFError, KeyboardInterrupt):
            return
        if not keys:
            return
        yield from [keys] if keys.startswith("\x1b") else keys


@dataclass(frozen=True)
class _Action:
    """One action of the session, with what it takes to undo it."""

    index: int  # the pair's place in the review
    pair: str
    status: str  # the pair's status before
    messages: list[Message] | None  # its messages before, when this was an edit
    decision: str | None  # what the session had decided of it before


@dataclass
class Review:
    """A review session over a fixed list of pairs, shown one at a time."""

    store: PairStore
    ids: list[str]
    screen: Console
    editor: str = field(default_factory=reviewer)
    position: int = 0
    decisions: dict[str, str] = field(default_factory=dict)  # pair id → the last decision
    done: list[_Action] = field(default_factory=list)
    notice: str = ""

    def run(self, next_key: Callable[[], str] = read_key) -> None:
        """Show pairs and act on keys until `q`, the end of the input or Ctrl-C."""
        self.draw()
        for key in presses(next_key):
            action = KEYS.get(key.lower() if len(key) == 1 else key)
            if action == "quit":
                return
            if self.position >= len(self.ids) and action not in ("back", "undo"):
                return  # past the last pair any other key ends the session
            if action is None:
                self.notice = f"keys: {HELP}"
            else:
                getattr(self, action)()
            self.draw()

    # ---- the actions ----

    def approve(self) -> None:
        self._set_status("approved")

    def reject(self) -> None:
        self._set_status("rejected")

    def skip(self) -> None:
        pair = self._current()
        self._remember(pair)
        self._decide(pair, "skipped")

    def back(self) -> None:
        if self.position == 0:
            self.notice = "this is the first pair"
        self.position = max(0, self.position - 1)

    def edit(self) -> None:
        """Open the pair in $EDITOR; a changed text is stored and the pair is `edited`."""
        pair = self._current()
        text = click.edit(render_messages(pair.messages), extension=".md", require_save=True)
        messages = parse_messages(text) if text is not None else pair.messages
        if messages == pair.messages:
            self.notice = "unchanged"
            return
        try:
            self.store.edit(pair.id, messages, editor=self.editor)
        except ConfigError as error:
            self.notice = f"not saved, the pair is as it was: {error.message}"
            return
        self.done.append(self._action(pair, messages=pair.messages))
        self._decide(pair, "edited")

    def undo(self) -> None:
        """Take back the last action: the pair's status (and messages) as they were."""
        if not self.done:
            self.notice = "nothing to undo"
            return
        last = self.done.pop()
        if last.messages is not None:
            self.store.edit(last.pair, last.messages, editor=f"{self.editor} (undo)")
        self.store.set_status([last.pair], last.status)
        if last.decision is None:
            self.decisions.pop(last.pair, None)
        else:
            self.decisions[last.pair] = last.decision
        self.position = last.index
        self.notice = f"undone: {last.pair[:10]} is {last.status} again"

    def _set_status(self, status: str) -> None:
        pair = self._current()
        self._remember(pair)
        self.store.set_status([pair.id], status)
        self._decide(pair, status)

    def _current(self) -> Pair:
        return self.store.get(self.ids[self.position])

    def _action(self, pair: Pair, messages: list[Message] | None = None) -> _Action:
        return _Action(self.position, pair.id, pair.status, messages, self.decisions.get(pair.id))

    def _remember(self, pair: Pair) -> None:
        self.done.append(self._action(pair))

    def _decide(self, pair: Pair, decision: str) -> None:
        if decision != "skipped" or pair.id not in self.decisions:  # a skip changes nothing
            self.decisions[pair.id] = decision
        self.notice = f"{decision} {pair.id[:10]}"
        self.position += 1

    # ---- what is shown ----

    def counts(self) -> str:
        tally = Counter(self.decisions.values())
        return ", ".join(f"{decision} {tally[decision]}" for decision in DECISIONS)

    def summary(self) -> str:
        """The closing line: what this session decided."""
        return f"reviewed {len(self.decisions)} of {len(self.ids)} pairs: {self.counts()}"

    def draw(self) -> None:
        if self.screen.is_terminal:
            self.screen.clear()
        if self.notice:
            self.screen.print(Text(self.notice, style="dim"))
            self.notice = ""
        if self.position >= len(self.ids):
            self.screen.print(
                Text(f"all {len(self.ids)} pairs seen ({self.counts()})", style="bold"),
                Text("b back · u undo · any other key ends the review", style="dim"),
            )
            return
        header = f"{self.position + 1}/{len(self.ids)}   {self.counts()}"
        self.screen.print(pair_view(self._current(), header), Text(HELP, style="dim"))


def pair_view(pair: Pair, header: str) -> RenderableType:
    """One pair as the review shows it: where it came from, its scores, its turns."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    date = pair.note_date.date().isoformat() if pair.note_date else "-"
    scores = ", ".join(f"{name} {value:.2f}" for name, value in pair.scores.items())
    for name, value in (
        ("note", pair.note_path + (f" > {pair.heading}" if pair.heading else "")),
        ("source", f"{pair.source} ({pair.generator}, {pair.prompt_version})"),
        ("language", pair.language),
        ("status", pair.status + ("  (held out for evaluation)" if pair.held_out else "")),
        ("judge", scores or "-"),
        ("date", date),
        ("id", pair.id),
    ):
        facts.add_row(name, Text(value))
    turns = [
        Panel(Text(message["content"]), title=message["role"], title_align="left")
        for message in pair.messages
    ]
    return Group(Text(header, style="bold"), facts, *turns)


@pairs_app.command("review")
def review_cmd(
    ctx: typer.Context,
    status: StatusOption = None,
    note: NoteOption = None,
    source: SourceOption = None,
    language: LanguageOption = None,
    min_score: MinScoreOption = None,
) -> None:
    """Review pairs one by one (pending ones unless --status): one key per action.

    a approve, r reject, e edit in $EDITOR (the pair becomes `edited`), s or space
    skip, p or b back, u undo the last action, q quit. Each action is saved at once.
    Without a terminal the keys are read from stdin.
    """
    where = _filter(None, status, note, source, language, min_score, default_status=("pending",))
    with _open_store(ctx) as store:
        ids = [pair.id for pair in store.list(where)]
        if not ids:
            console.print("no pairs to review", highlight=False)
            return
        review = Review(store, ids, console)
        review.run()
    console.print(review.summary(), highlight=False)
