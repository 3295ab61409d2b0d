"""Turn medication names into word tokens and find known terms among them.

Matching works on whole words so that "Norco" is found in "Norco 5/325" but not inside
"norcodeine", and "naloxone" can never be read as "naltrexone". Punctuation and case do not matter
("Tylenol w/ Codeine #3" reads as the words ``tylenol with codeine 3``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

T = TypeVar("T")

# "w/" is the common prescriber's shorthand for "with" ("APAP w/ codeine").
_WITH = re.compile(r"\bw/")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Split ``text`` into lower-case word tokens, punctuation dropped (cached: names repeat)."""
    return tuple(token for token in _NOT_WORD.split(_WITH.sub(" with ", text.lower())) if token)


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

    @classmethod
    def build(cls, terms: Mapping[str, T]) -> TermIndex[T]:
        """Index each term by its word tokens; a term with no word characters is an error."""
        entries: dict[tuple[str, ...], T] = {}
        for term, value in terms.items():
            key = words(term)
            if not key:
                raise ValueError(f"term {term!r} has no word characters")
            entries[key] = value
        return cls(entries, max((len(key) for key in entries), default=0))

    def find(self, text: str) -> Iterator[TermHit[T]]:
        """Yield every known term that occurs in ``text`` as whole words, left to right."""
        tokens = words(text)
        for start in range(len(tokens)):
            for end in range(start + 1, min(start + self.longest, len(tokens)) + 1):
                key = tokens[start:end]
                value = self.entries.get(key)
                if value is not None:
                    yield TermHit(" ".join(key), value)
