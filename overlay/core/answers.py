"""Answers a person can trust whatever the model: extractive answers, grounding checks,
and a guard against runaway generation.

A small model (SmolLM2-135M) cannot be made to answer from its sources reliably: it
repeats itself, invents names and never cites. So `extractive_answer` answers without
it, quoting the sentences of the retrieved passages that answer the question best
(chosen with the embedder, which is multilingual, so a question in English finds a
sentence written in Russian), each with its citation. A capable model's answer is
kept only when `grounding_problem` finds nothing wrong with it: it cites, every `[n]`
points to a source, and what each sentence claims (its numbers and words) is in the
source it cites.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from indexer.embedders import Embedder
from overlay.core.retrieval import SearchHit
from vault_schema.words import stemmed_words

# Models too small to answer from sources: their answers are replaced by extractive ones.
TOO_SMALL_MARKERS = ("135m", "360m")
CANDIDATE_HITS = 6  # the extractive answer quotes from the best passages only
# The best notes are read whole: retrieval shows a note's best-matching chunks, and the
# sentence that answers may stand in another ('Small things', below 'Working with her').
WHOLE_NOTES = 2
# Sentences embedded for one answer, the hits' first: a 300-page PDF read whole would
# be thousands of embeddings a question.
MAX_SENTENCES = 80
MAX_QUOTES = 3
NEXT_QUOTE_MARGIN = 0.03  # a further sentence is quoted only when it scores nearly as well
SHORT_LINE = 160
MIN_SUPPORT = 0.5  # share of a sentence's words its cited source must hold

_CITATION = re.compile(r"\s*\[(\d{1,2})\]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"«(]?[A-ZА-ЯЁ0-9])")
_WIKILINK = re.compile(r"!?\[\[([^\]|]+)\|?([^\]]*)\]\]")
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"<?https?://\S+>?")
# A property line whose value is only links or a date: `up: [[Home]]`, `created: 2024-01-05`
_PROPERTY = re.compile(
    r"^[^\W\d][\w-]{0,39}::?(?:\s+|$)(?:!?\[\[[^\]]*\]\]|!?\[[^\]]*\]\([^)]*\)|<?https?://\S+|[\d:T.+-]+|[,\s\"])*$"
)
_PLACEHOLDER = re.compile(r"\{\{[^}]*\}\}")  # a template's `{{title}}`
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_MARKUP = re.compile(
    r"\*\*|__|`|^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?|^>\s*(?:\[![^\]]*\]\s*)?"
)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)|%%.*?(?:%%|$)")  # HTML and Obsidian comments
_DIALOGUE = re.compile(r"^(user|assistant|system|you|me)\s*[:—–-]", re.IGNORECASE)
_ABBREVIATION = re.compile(r"(?:^|[\s(])\w{1,3}\.$")
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Passage:
    """Text a quote may come from: a retrieved hit, or another chunk of a hit's note."""

    rank: int  # the place of its note's hit in the retrieval, best first
    hit: SearchHit


@dataclass(frozen=True, slots=True)
class Quote:
    passage: SearchHit  # where the sentence stands
    text: str
    score: float


def is_too_small(model: str) -> bool:
    """Whether `model` is known to be too small to answer from sources."""
    name = model.casefold()
    return any(marker in name for marker in TOO_SMALL_MARKERS)


def is_russian(text: str) -> bool:
    return bool(re.search(r"[А-Яа-яЁё]", text))


def sentences(text: str) -> list[str]:
    """The sentences of a passage's text, without headings and Markdown markup."""
    found: list[str] = []
    fenced = False  # inside a ``` block: code, or a scene's YAML, is no statement of fact
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if (
            fenced
            or not line
            or line.startswith(("#", "![[", "|-", "---"))
            or set(line) <= {"|", "-", " "}
        ):
            continue
        line = _COMMENT.sub("", line)
        if _PROPERTY.match(line) or _PLACEHOLDER.search(line):  # markup, or a template's
            continue
        line = _IMAGE.sub("", line)
        line = _LINK.sub(lambda m: m.group(1), line)
        line = _URL.sub("", line)
        line = _WIKILINK.sub(lambda m: m.group(2) or m.group(1), line)
        line = _MARKUP.sub("", line).strip()
        if line.startswith("|"):  # a table row reads as its cells
            line = " — ".join(c.strip() for c in line.strip("|").split("|") if c.strip())
        # A short line (a list item, a table row) is quoted whole: its sentences lean on
        # each other ('On Sundays at 11. If I have not called by 12, she calls.').
        pieces = [line] if len(line) <= SHORT_LINE else _rejoined(_SENTENCE_END.split(line))
        found.extend(piece for piece in pieces if _is_statement(piece))
    return found


def _rejoined(pieces: list[str]) -> list[str]:
    """Pieces split after an abbreviation ('см.', 'e.g.') joined back to their sentence."""
    joined: list[str] = []
    for piece in pieces:
        if joined and _ABBREVIATION.search(joined[-1]):
            joined[-1] = f"{joined[-1]} {piece}"
        else:
            joined.append(piece.strip())
    return joined


def _is_statement(sentence: str) -> bool:
    """A sentence worth quoting: words of its own (not only markup, names of links or
    numbers), not a question, not a line of a recorded dialogue."""
    text = sentence.strip()
    return (
        len(_WORD.findall(text)) >= 3
        and bool(_LETTERS.search(text))
        and not text.endswith("?")
        and not _DIALOGUE.match(text)
    )


def quotable(
    hits: Sequence[SearchHit],
    scene_notes: Collection[str],
    rest_of: Callable[[list[str]], list[SearchHit]],
) -> list[Passage]:
    """What an extractive answer quotes from: the best hits, then the other chunks of the
    best notes (`rest_of` gives a note's chunks); never a scene note, whose text says how
    to answer, not what is true."""
    kept = [hit for hit in hits if hit.note_path not in scene_notes][:CANDIDATE_HITS]
    rank_of: dict[str, int] = {}
    for rank, hit in enumerate(kept):
        rank_of.setdefault(hit.note_path, rank)
    shown = {(hit.note_path, hit.chunk_id) for hit in kept}
    rest = [
        hit
        for hit in rest_of(list(rank_of)[:WHOLE_NOTES])
        if (hit.note_path, hit.chunk_id) not in shown
    ]
    return [Passage(rank_of[hit.note_path], hit) for hit in [*kept, *rest]]


def best_quotes(
    question: str, passages: Sequence[Passage], embedder: Embedder, limit: int = MAX_QUOTES
) -> list[Quote]:
    """The sentences of the passages that answer `question` best, best first.

    A sentence scores its similarity to the question, less a little for a lower-ranked
    note, plus a little for sharing the question's words (names, numbers) so that a near
    tie in meaning goes to the sentence that names what was asked about.
    """
    candidates = [(p, sentence) for p in passages for sentence in sentences(p.hit.text)]
    candidates = candidates[:MAX_SENTENCES]
    if not candidates:
        return []
    # A sentence is embedded with where it stands, so 'husband Kaspars' under
    # 'Anna Petrova' matches a question about Anna's husband.
    place = {id(p): _place(p.hit) for p in passages}
    vectors = embedder.embed_documents(
        [f"{' › '.join(place[id(p)])}: {sentence}" for p, sentence in candidates]
    )
    similarity = vectors @ embedder.embed_query(question)
    asked = _stems(question)
    # The question's words that name the passage's own place earn nothing: every
    # sentence there shares them.
    unplaced = {key: asked - _stems(" ".join(where)) for key, where in place.items()}
    scored = sorted(
        (
            Quote(
                p.hit,
                sentence,
                float(sim) - 0.015 * p.rank + 0.02 * len(unplaced[id(p)] & _stems(sentence)),
            )
            for (p, sentence), sim in zip(candidates, similarity, strict=True)
        ),
        key=lambda q: -q.score,
    )
    best = scored[0]
    return [best, *[q for q in scored[1:limit] if q.score >= best.score - NEXT_QUOTE_MARGIN]]


def contradicts(first: Quote, second: Quote) -> bool:
    """Two notes give different figures for one thing: the quotes say the same in most
    of their words, and hold numbers they do not share."""
    if first.passage.note_path == second.passage.note_path:
        return False
    a, b = set(_NUMBER.findall(first.text)), set(_NUMBER.findall(second.text))
    words_a, words_b = _stems(first.text) - a, _stems(second.text) - b
    alike = len(words_a & words_b) >= min(len(words_a), len(words_b)) / 2
    return bool(a and b) and not a & b and alike


def differ(quotes: Sequence[Quote]) -> bool:
    """Whether a further quote gives another figure than the first for the same thing."""
    return any(contradicts(quotes[0], quote) for quote in quotes[1:])


def extractive_answer(
    question: str, quotes: Sequence[tuple[str, int]], *, differ: bool = False
) -> str:
    """The quoted sentences, each with its source's number, in the question's language;
    with `differ`, saying first that the notes disagree."""
    russian = is_russian(question)
    if differ:
        lead = "Заметки расходятся:" if russian else "Your notes differ:"
    else:
        lead = "В заметках сказано:" if russian else "Your notes say:"
    quoted = " ".join(f"«{text.rstrip()}» [{n}]" for text, n in quotes)
    return f"{lead} {quoted}"


def grounding_problem(answer: str, hits: Sequence[SearchHit]) -> str | None:
    """Why a generated answer cannot be trusted, or None when it can.

    It must cite; every `[n]` must name a source; and each sentence must be supported by
    the sources it cites (by all of them, when it cites none): its numbers must be there,
    and most of its words.
    """
    cited = [int(n) for n in _CITATION.findall(answer)]
    if not cited:
        return "it cites no source"
    if any(not 1 <= n <= len(hits) for n in cited):
        return "it cites a source that does not exist"
    for sentence in _SENTENCE_END.split(answer):
        marks = [int(n) for n in _CITATION.findall(sentence)]
        claim = _CITATION.sub("", sentence).strip()
        if len(_WORD.findall(claim)) < 3:
            continue
        sources = " ".join(hits[n - 1].text for n in marks) if marks else _all_text(hits)
        if not _supported(claim, sources):
            return f"its sources do not say: {claim}"
    return None


def is_degenerate(text: str) -> bool:
    """Whether generated text has started to loop: a run of words repeated over and over."""
    words = _WORD.findall(text.casefold())
    if len(words) < 12:
        return False
    tail = words[-24:]
    if len(set(tail)) <= len(tail) // 4:
        return True
    grams = [" ".join(words[i : i + 4]) for i in range(len(words) - 3)]
    return any(grams.count(g) >= 3 for g in set(grams[-8:]))


def _supported(claim: str, sources: str) -> bool:
    held = _stems(sources)
    if any(number not in sources for number in _NUMBER.findall(claim)):
        return False
    words = _stems(claim)
    return not words or len(words & held) / len(words) >= MIN_SUPPORT


def _stems(text: str) -> set[str]:
    """The words' stems (vault_schema.words: Snowball, the rule BM25 uses too), short
    words but numbers left out."""
    return {stem for word, stem in stemmed_words(text) if len(word) > 2 or word.isdigit()}


def _place(hit: SearchHit) -> list[str]:
    title = hit.note_path.rsplit("/", 1)[-1].removesuffix(".md")
    return [title, *[h for h in hit.heading_path if h != title]]


def _all_text(hits: Sequence[SearchHit]) -> str:
    return " ".join(hit.text for hit in hits)
