"""Near-duplicate pairs, found with MinHash over word 3-shingles (datasketch).

What two pairs are compared by depends on their kind. A generated pair (one
question and its answer: facts, linked notes, abstention) is compared by its
question: the paraphrased questions of one fact share their answer on purpose
(DESIGN decision 9), so the answer alone must never make them duplicates. It is a
near duplicate when its question and its answer both nearly repeat those of a
pair already kept: the same question asked again of the same fact, in this note
or another. A transcript (dialogue pairs) is compared by all of its text.
"Nearly repeat" means an estimated Jaccard similarity of the word 3-shingles of
at least `THRESHOLD`; LSH finds the candidates, the MinHash estimate confirms them.
"""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

from distill.pairs import Pair

THRESHOLD = 0.85
PERMUTATIONS = 128
_WORD = re.compile(r"\w+")
WHOLE_TEXT = ("dialogue",)  # sources compared by all their text: people wrote the answers


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


def compared(pair: Pair) -> tuple[str, str | None]:
    """What the pair is compared by: (question, answer) for a generated exchange,
    (all its text, None) for a transcript or a longer conversation."""
    if pair.source in WHOLE_TEXT or len(pair.messages) != 2:
        return pair.text(), None
    return pair.messages[0]["content"], pair.messages[1]["content"]


class NearDuplicates:
    """The pairs kept so far, keyed by pair id; asks whether a new pair repeats one."""

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=PERMUTATIONS)
        self._signatures: dict[str, tuple[MinHash, MinHash | None]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._signatures

    def add(self, key: str, text: str, answer: str | None = None) -> None:
        """Keep `text` (a question, or a whole text when `answer` is None)."""
        if key not in self._signatures:
            signature = minhash(text)
            self._signatures[key] = (signature, None if answer is None else minhash(answer))
            self._lsh.insert(key, signature)

    def add_pair(self, pair: Pair) -> None:
        self.add(pair.id, *compared(pair))

    def remove(self, key: str) -> None:
        if self._signatures.pop(key, None) is not None:
            self._lsh.remove(key)

    def duplicate_of(self, text: str, answer: str | None = None) -> str | None:
        """The key of a kept text this one nearly repeats (with its answer, when
        given, nearly repeating that one's), or None."""
        signature = minhash(text)
        answered = None if answer is None else minhash(answer)
        for key in self._lsh.query(signature):
            kept, kept_answer = self._signatures[key]
            if (kept_answer is None) != (answered is None):
                continue  # a question never repeats a whole transcript, nor the reverse
            answers_near = (
                answered is None or kept_answer is None or self._near(answered, kept_answer)
            )
            if answers_near and self._near(signature, kept):
                return str(key)
        return None

    def _near(self, one: MinHash, other: MinHash) -> bool:
        return bool(one.jaccard(other) >= self.threshold)

    def pair_duplicate_of(self, pair: Pair) -> str | None:
        return self.duplicate_of(*compared(pair))
