"""Which language a text is in, for the notes' mix of Russian and English."""

from __future__ import annotations

RUSSIAN_SHARE = 0.7  # Cyrillic letters at least this share of all letters: Russian
ENGLISH_SHARE = 0.3  # at most this share: English; in between: mixed


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
