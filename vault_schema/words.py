"""Words as the vault's search sees them: Russian and English stems.

The person writes in both languages, often in one note, so each word is stemmed by
the stemmer of its own script: Cyrillic words by the Russian Snowball stemmer, the
rest by the English one. Word search (BM25) and unlinked mentions share these rules,
so a title matches the text that mentions it the way a query matches it.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"\w+", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_RUSSIAN = Stemmer.Stemmer("russian")
_ENGLISH = Stemmer.Stemmer("english")
# Function words carry no evidence for a note; both languages, lower-case.
STOPWORDS = frozenset(
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


def stem(word: str) -> str:
    """One word's stem (Snowball: Russian for Cyrillic words, else English)."""
    return _stem(word)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    stemmer = _RUSSIAN if _CYRILLIC.search(word) else _ENGLISH
    return str(stemmer.stemWord(word))


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words; 'ё' folded into 'е' as people type it."""
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return [_stem(w) for w in words if w not in STOPWORDS]


def stems(text: str) -> list[str]:
    """Every word's stem, stop words kept: names like 'The Who' are made of them."""
    return [_stem(w) for w in _WORD.findall(text.lower().replace("ё", "е"))]


def stemmed_words(text: str) -> list[tuple[str, str]]:
    """Each word (casefolded, 'ё' read as 'е') with its stem, stop words kept."""
    return [(w, _stem(w)) for w in _WORD.findall(text.lower().replace("ё", "е"))]
