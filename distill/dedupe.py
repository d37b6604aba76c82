"""Near-duplicate pairs, found with MinHash over word 3-shingles (datasketch).

A pair is a near duplicate when the estimated Jaccard similarity of the word
3-shingles of all its messages and those of a pair already kept is at least
`THRESHOLD`. LSH finds the candidates; the MinHash estimate confirms them.
"""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

THRESHOLD = 0.85
PERMUTATIONS = 128
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = 3) -> set[str]:
    """The text's lower-cased word `size`-grams (the whole text when it is shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def minhash(text: str) -> MinHash:
    signature = MinHash(num_perm=PERMUTATIONS)
    signature.update_batch(shingle.encode() for shingle in shingles(text))
    return signature


class NearDuplicates:
    """The texts kept so far, keyed by pair id; asks whether a new text repeats one."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=PERMUTATIONS)
        self._signatures: dict[str, MinHash] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._signatures

    def add(self, key: str, text: str) -> None:
        if key not in self._signatures:
            self._signatures[key] = signature = minhash(text)
            self._lsh.insert(key, signature)

    def remove(self, key: str) -> None:
        if self._signatures.pop(key, None) is not None:
            self._lsh.remove(key)

    def duplicate_of(self, text: str) -> str | None:
        """The key of a kept text this one nearly repeats, or None."""
        signature = minhash(text)
        for key in self._lsh.query(signature):
            if signature.jaccard(self._signatures[key]) >= self.threshold:
                return str(key)
        return None
