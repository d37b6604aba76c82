"""Groundedness: is a generated answer supported by the text it was made from?

Two checks. The lexical one is cheap and always runs: the share of the answer's
content words and numbers (stemmed as `overlay.core.lexical` does, both languages)
that occur in the source. Only words the source could hold count: numbers, and
words in the source's script (both, for a mixed source). The facts source asks
for every answer in Russian and in English, so one of the two is a translation:
its numbers and the names it keeps in the source's letters are checked, its
meaning is left to the LLM judge. The LLM judge (`judge-1`) runs only on answers that
pass it, when `distill.llm_judge` is on, once per answer and source (the
paraphrased questions of one fact share both). A pair failing either is stored as
`rejected`, never dropped: review can still see what the generator made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from distill.generation import GenerationFailure, Generator, load_prompt
from distill.language import detect_language
from distill.pairs import Pair
from overlay.core.lexical import tokenize

JUDGE_PROMPT = "judge-1"
_VERDICT = {
    "type": "object",
    "properties": {"grounded": {"type": "boolean"}, "score": {"type": "number"}},
    "required": ["grounded", "score"],
}
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_DIGIT = re.compile(r"\d")


def lexical_support(answer: str, source: str) -> float:
    """The share of the answer's content words found in the source, 0..1; 1 when it
    has none the source could hold (see the module's docstring)."""
    language = detect_language(source)
    words = [word for word in tokenize(answer) if _checkable(word, language)]
    if not words:
        return 1.0
    known = set(tokenize(source))
    return sum(word in known for word in words) / len(words)


def _checkable(word: str, source_language: str) -> bool:
    if source_language == "mixed" or _DIGIT.search(word):
        return True
    return bool(_CYRILLIC.search(word)) == (source_language == "ru")


@dataclass
class Judge:
    """Scores pairs against their source text and rejects the ungrounded ones."""

    min_lexical: float
    min_judge: float
    generator: Generator | None = None  # None: the lexical check only
    rejected: int = 0
    _verdicts: dict[tuple[str, str], float | None] = field(default_factory=dict)

    def __call__(self, pair: Pair, source: str) -> Pair:
        """The pair with `scores` filled; `rejected` when it is not grounded in `source`."""
        question, answer = pair.messages[0]["content"], pair.messages[-1]["content"]
        scores = {"lexical": round(lexical_support(answer, source), 3)}
        grounded = scores["lexical"] >= self.min_lexical
        if grounded and self.generator is not None:
            if (answer, source) not in self._verdicts:
                self._verdicts[answer, source] = self._ask(question, answer, source)
            verdict = self._verdicts[answer, source]
            if verdict is not None:
                scores["judge"] = verdict
                grounded = verdict >= self.min_judge
        if not grounded:
            self.rejected += 1
        return replace(pair, scores=scores, status=pair.status if grounded else "rejected")

    def _ask(self, question: str, answer: str, source: str) -> float | None:
        assert self.generator is not None
        prompt = load_prompt(JUDGE_PROMPT).render(source=source, question=question, answer=answer)
        verdict = self.generator.ask(prompt, _VERDICT, "verdict")
        if isinstance(verdict, GenerationFailure) or not isinstance(verdict, dict):
            return None  # an unreadable verdict leaves the lexical check to decide
        score = verdict.get("score")
        if not isinstance(score, int | float) or isinstance(score, bool):
            return 1.0 if verdict.get("grounded") is True else 0.0
        score = min(max(float(score), 0.0), 1.0)
        return 0.0 if verdict.get("grounded") is False else score
