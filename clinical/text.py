"""Turn medication names into word tokens and find known terms among them.

Matching works on whole words so that "Norco" is found in "Norco 5/325" but not inside
"norcodeine", and "naloxone" can never be read as "naltrexone". Punctuation and case do not matter
("Tylenol w/ Codeine #3" reads as the words ``tylenol with codeine 3``).

:func:`medication_words` goes further for medication text as clinicians and pharmacies write it
(see docs/medication-rules.md, "Reading free text"): letters are split from digits
("Percodan5" -> ``percodan 5``), accents are dropped, "w/" and "w/o" become ``with`` and
``without``, a codeine number ("#3", "No. 3", "number 3") becomes the one token ``#3`` (so that
"No." is never read as a negation), and a clause break (``;``, ``,``, brackets, a new line, a
full stop that ends a sentence) becomes the token ``|``, which no term contains, so that no term
and no negation reaches across it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

T = TypeVar("T")

# "w/" is the common prescriber's shorthand for "with" ("APAP w/ codeine").
_WITH = re.compile(r"\bw/")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


# Medication names repeat across a chart, so their readings are cached; a text longer than this
# (hostile, or a pasted note) is read every time instead, so that no input can fill memory.
CACHED_TEXT_LIMIT = 256


class _bounded_cache(Generic[T]):
    """Cache a text function for short texts only (at most 65,536 of them)."""

    def __init__(self, function: Callable[[str], T]) -> None:
        self._function = function
        self._cached = lru_cache(maxsize=65536)(function)
        self.__doc__ = function.__doc__

    def __call__(self, text: str) -> T:
        return self._cached(text) if len(text) <= CACHED_TEXT_LIMIT else self._function(text)

    def cache_clear(self) -> None:
        """Forget every cached reading (benchmarks time the uncached path)."""
        self._cached.cache_clear()


@_bounded_cache
def words(text: str) -> tuple[str, ...]:
    """Split ``text`` into lower-case word tokens, punctuation dropped (cached: names repeat)."""
    return tuple(token for token in _NOT_WORD.split(_WITH.sub(" with ", text.lower())) if token)


CLAUSE_BREAK = "|"
_WITHOUT = re.compile(r"\bw/o\b|\bw/out\b")
_MICRO = re.compile(r"[\u00b5\u03bc]g\b")
# A full stop that ends a sentence ("No known allergies. Oxycodone 5 mg") breaks the clause.
_SENTENCE_END = re.compile(r"\.(?=\s+[a-z])")
# "#3", "No. 3", "no 3", "number 3": the codeine strength numbers of the Tylenol-with-codeine family
# (1 to 4). A bigger number ("#30") is a count dispensed and stays a plain number.
_CODEINE_NUMBER = re.compile(r"(?:#|\bno\.?|\bnumber|\bnum\.?)\s*([1-4])(?![\d.])")
_TOKEN = re.compile(r"#[1-4](?!\d)|[a-z]+|\d+|[;,()\[\]\n]")
_BREAKS = frozenset(";,()[]\n")


@_bounded_cache
def medication_words(text: str) -> tuple[str, ...]:
    """Split medication text into normalised tokens (module docstring), clause breaks as ``|``."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    plain = _MICRO.sub("mcg", plain)
    plain = _WITHOUT.sub(" without ", plain)
    plain = _WITH.sub(" with ", plain)
    plain = _CODEINE_NUMBER.sub(r" #\1 ", plain)
    plain = _SENTENCE_END.sub(";", plain)
    tokens: list[str] = []
    for token in _TOKEN.findall(plain):
        if token in _BREAKS:
            if tokens and tokens[-1] != CLAUSE_BREAK:
                tokens.append(CLAUSE_BREAK)
        else:
            tokens.append(token)
    while tokens and tokens[-1] == CLAUSE_BREAK:
        tokens.pop()
    return tuple(tokens)


def edit_distance(a: str, b: str, limit: int) -> int:
    """Return the optimal-string-alignment distance of ``a`` and ``b``, or ``limit + 1`` beyond it.

    One edit is an inserted, deleted or changed letter, or two neighbours swapped ("morhpine").
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[len(b)], limit + 1)


def deletions(word: str, depth: int) -> set[str]:
    """Return ``word`` and every string made by deleting up to ``depth`` of its letters."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


@dataclass(frozen=True, slots=True)
class TermHit(Generic[T]):
    """One known term found in a text: the term as words, and what it stands for."""

    term: str
    value: T


@dataclass(frozen=True, slots=True)
class TermIndex(Generic[T]):
    """Known multi-word terms, looked up by word n-grams (no regex per term, no per-call work)."""

    entries: Mapping[tuple[str, ...], T]
    longest: int
    tokenise: Callable[[str], tuple[str, ...]] = words
    # The first word of every term: most words start none, and are passed over at once.
    firsts: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls, terms: Mapping[str, T], tokenise: Callable[[str], tuple[str, ...]] = words
    ) -> TermIndex[T]:
        """Index each term by its word tokens; a term with no word characters is an error."""
        entries: dict[tuple[str, ...], T] = {}
        for term, value in terms.items():
            key = tokenise(term)
            if not key:
                raise ValueError(f"term {term!r} has no word characters")
            entries[key] = value
        longest = max((len(key) for key in entries), default=0)
        return cls(entries, longest, tokenise, frozenset(key[0] for key in entries))

    def find(self, text: str) -> Iterator[TermHit[T]]:
        """Yield every known term that occurs in ``text`` as whole words, left to right."""
        tokens = self.tokenise(text)
        for start, first in enumerate(tokens):
            if first not in self.firsts:
                continue
            for end in range(start + 1, min(start + self.longest, len(tokens)) + 1):
                key = tokens[start:end]
                value = self.entries.get(key)
                if value is not None:
                    yield TermHit(" ".join(key), value)
