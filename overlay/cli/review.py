"""`overlay pairs review`: go through facts one key press each, in the terminal.

A fact is shown with its restatements (its pairs) folded under it, the facts most
worth remembering first (`distill.selection.facts_by_worth`); a pair without a
fact is shown alone. Approving, rejecting or editing a fact acts on all of its
pairs. Every action is written to the pair store the moment its key is pressed,
so quitting, Ctrl-C or a closed terminal loses nothing done so far. Undo takes
back the last action: the pairs get their previous status and, after an edit,
their previous messages (written as one more edit, so the history keeps both).
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
from distill.review_actions import edit_fact, reviewer
from distill.selection import Worth, facts_by_worth
from overlay.cli.app import console, state
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
class _Before:
    """One pair as it was before an action."""

    pair: str
    status: str
    messages: list[Message] | None  # its messages, when the action was an edit


@dataclass(frozen=True)
class _Action:
    """One action of the session, with what it takes to undo it."""

    index: int  # the fact's place in the review
    pairs: list[_Before]
    decision: str | None  # what the session had decided of the fact before


@dataclass
class Review:
    """A review session over a fixed list of facts (each its pairs' ids), shown one at a
    time."""

    store: PairStore
    ids: list[list[str]]
    screen: Console
    editor: str = field(default_factory=reviewer)
    position: int = 0
    decisions: dict[str, str] = field(default_factory=dict)  # first pair id → last decision
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
        pairs = self._current()
        self._remember(pairs)
        self._decide(pairs, "skipped")

    def back(self) -> None:
        if self.position == 0:
            self.notice = "this is the first fact"
        self.position = max(0, self.position - 1)

    def edit(self) -> None:
        """Open the pair, or the fact's statement, in $EDITOR; a changed text is stored
        (in every pair of the fact) and the pairs are `edited`."""
        pairs = self._current()
        try:
            changed = self._edit_pair(pairs[0]) if len(pairs) == 1 else self._edit_fact(pairs)
        except ConfigError as error:
            self.notice = f"not saved, the pair is as it was: {error.message}"
            return
        if not changed:
            self.notice = "unchanged"
            return
        befores = [_Before(p.id, p.status, p.messages) for p in pairs if p.id in changed]
        self.done.append(_Action(self.position, befores, self.decisions.get(pairs[0].id)))
        self._decide(pairs, "edited")

    def _edit_pair(self, pair: Pair) -> set[str]:
        text = click.edit(render_messages(pair.messages), extension=".md", require_save=True)
        messages = parse_messages(text) if text is not None else pair.messages
        if messages == pair.messages:
            return set()
        return {self.store.edit(pair.id, messages, editor=self.editor).id}

    def _edit_fact(self, pairs: list[Pair]) -> set[str]:
        old = statement(pairs)
        text = click.edit(old + "\n", extension=".md", require_save=True)
        new = " ".join((text or old).split())
        if new == old:
            return set()
        return {p.id for p in edit_fact(self.store, pairs, old, new, self.editor)}

    def undo(self) -> None:
        """Take back the last action: the pair's status (and messages) as they were."""
        if not self.done:
            self.notice = "nothing to undo"
            return
        last = self.done.pop()
        for before in last.pairs:
            if before.messages is not None:
                self.store.edit(before.pair, before.messages, editor=f"{self.editor} (undo)")
            self.store.set_status([before.pair], before.status)
        key = self.ids[last.index][0]
        if last.decision is None:
            self.decisions.pop(key, None)
        else:
            self.decisions[key] = last.decision
        self.position = last.index
        statuses = "/".join(sorted({before.status for before in last.pairs}))
        self.notice = f"undone: {key[:10]} is {statuses} again"

    def _set_status(self, status: str) -> None:
        pairs = self._current()
        self._remember(pairs)
        self.store.set_status([pair.id for pair in pairs], status)
        self._decide(pairs, status)

    def _current(self) -> list[Pair]:
        return [self.store.get(pair) for pair in self.ids[self.position]]

    def _remember(self, pairs: list[Pair]) -> None:
        befores = [_Before(pair.id, pair.status, None) for pair in pairs]
        self.done.append(_Action(self.position, befores, self.decisions.get(pairs[0].id)))

    def _decide(self, pairs: list[Pair], decision: str) -> None:
        key = pairs[0].id
        if decision != "skipped" or key not in self.decisions:  # a skip changes nothing
            self.decisions[key] = decision
        self.notice = f"{decision} {key[:10]}" + (f" (+{len(pairs) - 1})" if len(pairs) > 1 else "")
        self.position += 1

    # ---- what is shown ----

    def counts(self) -> str:
        tally = Counter(self.decisions.values())
        return ", ".join(f"{decision} {tally[decision]}" for decision in DECISIONS)

    def summary(self) -> str:
        """The closing line: what this session decided."""
        pairs = sum(len(ids) for ids in self.ids)
        return (
            f"reviewed {len(self.decisions)} of {len(self.ids)} facts ({pairs} pairs): "
            f"{self.counts()}"
        )

    def draw(self) -> None:
        if self.screen.is_terminal:
            self.screen.clear()
        if self.notice:
            self.screen.print(Text(self.notice, style="dim"))
            self.notice = ""
        if self.position >= len(self.ids):
            self.screen.print(
                Text(f"all {len(self.ids)} facts seen ({self.counts()})", style="bold"),
                Text("b back · u undo · any other key ends the review", style="dim"),
            )
            return
        header = f"{self.position + 1}/{len(self.ids)}   {self.counts()}"
        pairs = self._current()
        view = pair_view(pairs[0], header) if len(pairs) == 1 else fact_view(pairs, header)
        self.screen.print(view, Text(HELP, style="dim"))


def statement(pairs: list[Pair]) -> str:
    """A fact's statement: the answer most of its pairs give."""
    answers = Counter(pair.messages[-1]["content"] for pair in pairs)
    return answers.most_common(1)[0][0]


def fact_view(pairs: list[Pair], header: str) -> RenderableType:
    """One fact as the review shows it: where it is, its statement, then its
    restatements folded, one line each."""
    first = pairs[0]
    rows = Table.grid(padding=(0, 2))
    rows.add_column(style="bold")
    rows.add_column()
    statuses = Counter(pair.status for pair in pairs)
    for name, value in (
        ("note", first.note_path + (f" > {first.heading}" if first.heading else "")),
        ("source", f"{first.source} ({first.generator}, {first.prompt_version})"),
        ("status", ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))),
        ("date", first.note_date.date().isoformat() if first.note_date else "-"),
        ("fact", first.fact),
    ):
        rows.add_row(name, Text(value))
    asked = Table.grid(padding=(0, 1))
    for pair in pairs:
        answer = pair.messages[-1]["content"]
        said = "" if answer == statement(pairs) else f"  → {answer}"
        held = "held out" if pair.held_out else ""
        asked.add_row(pair.language, Text(pair.messages[0]["content"] + said), Text(held, "dim"))
    fact = Panel(Text(statement(pairs)), title="fact", title_align="left")
    folded = Panel(asked, title=f"{len(pairs)} restatements", title_align="left")
    return Group(Text(header, style="bold"), rows, fact, folded)


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
    """Review facts one by one (pending ones unless --status), each with its pairs
    folded, those most worth remembering first: one key per action on all its pairs.

    a approve, r reject, e edit in $EDITOR (the fact's statement, in every one of its
    pairs; a pair without a fact: its messages), s or space skip, p or b back, u undo
    the last action, q quit. Each action is saved at once. Without a terminal the
    keys are read from stdin.
    """
    where = _filter(None, status, note, source, language, min_score, default_status=("pending",))
    with _open_store(ctx) as store:
        pairs = store.list(where)
        if not pairs:
            console.print("no pairs to review", highlight=False)
            return
        worth = Worth.from_settings(state(ctx).settings())
        ids = [[pair.id for pair in fact] for fact in facts_by_worth(pairs, worth)]
        review = Review(store, ids, console)
        review.run()
    console.print(review.summary(), highlight=False)
