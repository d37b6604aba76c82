"""Word search over chunks: BM25 (bm25s) with Russian and English stemming.

The person writes in both languages, often in one note, so each word is stemmed
by the stemmer of its own script: Cyrillic words by the Russian Snowball
stemmer, the rest by the English one. The index lives in memory and is rebuilt
from the store's chunks when they change; 10,000 notes take well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer

_WORD = re.compile(r"\w+", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_RUSSIAN = Stemmer.Stemmer("russian")
_ENGLISH = Stemmer.Stemmer("english")
# Function words carry no evidence for a note; both languages, lower-case.
_STOPWORDS = frozenset(
    """a an and are as at be by did do does for from had has have how i in is it its me my of on
    or our that the their them they this to was were what when where which who why will with you
    your и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только
    ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть
    был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо
    ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот
    того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда
    зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти нас
    про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть
    том нельзя такой им более всегда конечно всю между как какое какие каком моего моей моём""".split()
)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stemmer = _RUSSIAN if _CYRILLIC.search(word) else _ENGLISH
    return str(stemmer.stemWord(word))


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words; 'ё' folded into 'е' as people type it."""
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return [_stem(w) for w in words if w not in _STOPWORDS]


class LexicalIndex:
    """BM25 over a fixed set of documents, addressed by the ids they were built with."""

    def __init__(self, documents: Iterable[tuple[str, str]]) -> None:
        pairs = list(documents)
        self.ids: list[str] = [doc_id for doc_id, _ in pairs]
        self._bm25 = bm25s.BM25()
        if pairs:
            self._bm25.index([tokenize(text) for _, text in pairs], show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document, in the order of `ids`."""
        tokens = tokenize(query)
        if not tokens or not self.ids:
            return np.zeros(len(self.ids))
        return np.asarray(self._bm25.get_scores(tokens))

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` best documents with a positive score, best first."""
        return _top(self.ids, self.scores(query), k)


def _top(ids: Sequence[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    positive = np.flatnonzero(scores > 0)
    best = positive[np.argsort(-scores[positive], kind="stable")][:k]
    return [(ids[i], float(scores[i])) for i in best]
