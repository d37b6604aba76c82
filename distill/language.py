"""Which language a text is in, for the notes' mix of Russian and English, and which of
its words carry content."""

from __future__ import annotations

import re

RUSSIAN_SHARE = 0.7  # Cyrillic letters at least this share of all letters: Russian
ENGLISH_SHARE = 0.3  # at most this share: English; in between: mixed
_WORD = re.compile(r"\w+")
_STOPWORDS = frozenset(
    "a an the of in on at to for and or is are was be my me i what which who when where how "
    "do does did you your it its this that from about by with as not no "
    "и в во на у о об по к с со за из от до а но ли что как какой какая какое какие кто "
    "где когда это мой моя моё мои я мне меня ты не нет же бы то".split()
)


def detect_language(text: str) -> str:
    """'ru', 'en' or 'mixed', by the share of Cyrillic among the letters.

    English terms inside Russian prose (and the reverse) are common in the notes,
    hence the wide margins; a text without letters counts as English.
    """
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return "en"
    share = sum("\u0400" <= char <= "\u04ff" for char in letters) / len(letters)
    if share >= RUSSIAN_SHARE:
        return "ru"
    return "en" if share <= ENGLISH_SHARE else "mixed"


def written_in(text: str, language: str) -> bool:
    """Whether `text` can stand as `language` ('ru' or 'en'): detected as it or as
    mixed (a Russian sentence around English names), or without letters at all (a
    number, a date in digits)."""
    if not any(char.isalpha() for char in text):
        return True
    return detect_language(text) in (language, "mixed")


def content_words(text: str) -> set[str]:
    """The text's lower-cased words that carry content (not function words)."""
    return {word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS}


def echoes(question: str, answer: str) -> bool:
    """Whether every content word of the answer is already in the question."""
    return content_words(answer) <= content_words(question)
