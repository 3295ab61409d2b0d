"""Read medication free text the way clinicians, pharmacies and patients write it.

Clinicians and pharmacies write names run together with strengths, abbreviations, brand names,
misspellings and negations (docs/medication-rules.md, "Reading free text"). A text is normalised
(:func:`clinical.text.medication_words`), then read left to right, longest known phrase first:

* an **opioid name** (ingredient, brand, abbreviation) is an exposure, unless the words around it
  say otherwise: a negation ("oxycodone-free", "denies opioids"), a test ("fentanyl level",
  "urine opiate screen", "test strip"), or rescue naloxone ("naloxone for opioid overdose");
* a **non-opioid look-alike** (oxybutynin, hydrocortisone, trazodone...) is read as itself;
* a **doubt** makes the record uncertain, never critical and never clear: class words without a
  drug ("opioid", "narcotic", "pain medicine"), kratom and poppy tea, ambiguous abbreviations
  ("MS", "cod"), an allergy, an overdose or a positive test next to an opioid name, and a **near
  miss**: a word one edit (two for long words) from an opioid name that is not closer to a known
  non-opioid ("hydrocodne", "morhpine", "fentanly").

A word no phrase covers is also tried as opioid names run together ("oxycodoneapap") and as an
opioid name cut short ("hydrocod"); both count as the opioid. Every index is built once when the
knowledge loads; each word's reading is cached, so a chart of 10,000 records costs microseconds a
record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from clinical.text import (
    CACHED_TEXT_LIMIT,
    CLAUSE_BREAK,
    TermIndex,
    deletions,
    edit_distance,
    medication_words,
)

T = TypeVar("T")

# A near miss needs a word long enough that one slip still leaves it recognisable.
NEAR_MISS_MIN_LETTERS = 5
# Longer than any drug name, even several run together ("hydrocodonebitartrateacetaminophen" is 34).
LONGEST_WORD_LETTERS = 60
# Words this long may carry two slips ("hydrocodne" has one, "hydrcodne" two).
TWO_EDITS_MIN_LETTERS = 8
# A name cut short must keep this many letters to stand for one drug ("hydrocod", "oxycod").
TRUNCATION_MIN_LETTERS = 6
# A word that starts with an ingredient this long and runs on is at least uncertain.
RUN_ON_MIN_LETTERS = 7
_CACHE_LIMIT = 100_000
_DOUBLED = re.compile(r"(.)\1")


@dataclass(frozen=True, slots=True)
class Doubt:
    """Why a text leaves the record uncertain: the word as read, and what it may be."""

    word: str
    why: str

    def __str__(self) -> str:
        return f'"{self.word}": {self.why}'


@dataclass(frozen=True, slots=True)
class NameHit(Generic[T]):
    """An opioid name read as an exposure: the words as read, and what they stand for."""

    term: str
    value: T


@dataclass(frozen=True, slots=True)
class Reading(Generic[T]):
    """What one text says: opioid exposures, doubts, and whether it names a long-acting form."""

    hits: tuple[NameHit[T], ...]
    doubts: tuple[Doubt, ...]
    long_acting: bool
    depot: bool


class _Kind(Enum):
    OPIOID = "opioid"
    LOOKALIKE = "look-alike"
    DOUBT = "doubt"


@dataclass(frozen=True, slots=True)
class _Phrase(Generic[T]):
    kind: _Kind
    value: T | None = None
    why: str = ""
    class_word: bool = False
    # Words that, anywhere in the text, give an ambiguous doubt its non-opioid meaning.
    unless: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Contexts:
    """The words around a name that change what it means (``clinical/data/text_rules.json``)."""

    window: int
    negation_before: frozenset[str]
    negation_after: frozenset[str]
    tests: frozenset[str]
    positive: frozenset[str]
    antagonists: frozenset[str]
    overdose: frozenset[str]
    allergy: frozenset[str]
    pain_relievers: frozenset[str]
    recent: frozenset[str]
    codeine_number_partners: frozenset[str]
    syrup_suffixes: Mapping[str, str]
    syrup_stems: tuple[str, ...]
    syrup_words: frozenset[str]
    stopped_after: tuple[tuple[str, ...], ...]

    @classmethod
    def from_document(cls, document: Mapping[str, object]) -> Contexts:
        """Build the context word sets from the parsed rules document."""

        def words_of(key: str) -> frozenset[str]:
            value = document[key]
            assert isinstance(value, list)
            return frozenset(token for item in value for token in medication_words(str(item)))

        window = document["windowTokens"]
        assert isinstance(window, int)
        suffixes = document["coughSyrupSuffixes"]
        assert isinstance(suffixes, dict)
        stopped = document["stoppedAfter"]
        assert isinstance(stopped, list)
        return cls(
            window=window,
            negation_before=words_of("negationBefore"),
            negation_after=words_of("negationAfter"),
            tests=words_of("testWords"),
            positive=words_of("positiveWords"),
            antagonists=words_of("antagonistWords"),
            overdose=words_of("overdoseWords"),
            allergy=words_of("allergyWords"),
            pain_relievers=words_of("painRelievers"),
            recent=words_of("recentWords"),
            codeine_number_partners=words_of("codeineNumberPartners"),
            syrup_suffixes={str(key): str(value) for key, value in suffixes.items()},
            syrup_stems=tuple(words_of("coughSyrupStems")),
            syrup_words=words_of("coughSyrupWords"),
            stopped_after=tuple(medication_words(str(item)) for item in stopped),
        )

    def vocabulary(self) -> frozenset[str]:
        """Every context word: none of them is ever a near miss."""
        return (
            self.negation_before
            | self.negation_after
            | self.tests
            | self.positive
            | self.antagonists
            | self.overdose
            | self.allergy
            | self.pain_relievers
            | self.recent
            | self.codeine_number_partners
            | self.syrup_words
            | {word for phrase in self.stopped_after for word in phrase}
        )


@dataclass(frozen=True, slots=True)
class _WordRead(Generic[T]):
    """What one word that no phrase covered turned out to be."""

    hit: NameHit[T] | None = None
    doubt: Doubt | None = None


@dataclass(eq=False)
class Recogniser(Generic[T]):
    """Opioid names, look-alikes and doubts, indexed once; :meth:`read` reads one text."""

    phrases: dict[tuple[str, ...], _Phrase[T]]
    longest: int
    firsts: frozenset[str]
    # Single words that stand for an opioid: targets of near misses, truncations and run-ons.
    opioid_words: dict[str, T]
    opioid_display: dict[str, str]
    ingredient_words: frozenset[str]
    non_opioid_words: frozenset[str]
    contexts: Contexts
    long_acting: TermIndex[str]
    depot: TermIndex[str]
    # What a codeine number ("#3") means beside a partner such as Tylenol or Fiorinal.
    numbered: T | None
    # What "AC", "DAC", "HC", "HD" mean after a cough-syrup name ("Virtussin AC").
    syrups: Mapping[str, T]
    _near: dict[str, set[str]] = field(default_factory=dict)
    _prefixes: dict[str, set[str]] = field(default_factory=dict)
    _non_opioid_prefixes: set[str] = field(default_factory=set)
    _cache: dict[str, _WordRead[T]] = field(default_factory=dict)
    _readings: dict[str, Reading[T]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        opioids: Mapping[str, T],
        displays: Mapping[str, str],
        ingredients: Iterable[str],
        lookalikes: Iterable[str],
        known_words: Iterable[str],
        doubts: Mapping[str, str],
        class_words: Iterable[str],
        other_meanings: Mapping[str, Iterable[str]] | None = None,
        contexts: Contexts,
        long_acting: Iterable[str],
        depot: Iterable[str],
        numbered: T | None = None,
        syrups: Mapping[str, T] | None = None,
    ) -> Recogniser[T]:
        """Index every phrase by its normalised words; later kinds never replace an opioid."""
        phrases: dict[tuple[str, ...], _Phrase[T]] = {}
        classes = {medication_words(w) for w in class_words}
        for term, why in doubts.items():
            key = _key(term)
            unless = frozenset(
                t for w in (other_meanings or {}).get(term, ()) for t in medication_words(w)
            )
            phrases[key] = _Phrase(_Kind.DOUBT, why=why, class_word=key in classes, unless=unless)
        for term in lookalikes:
            phrases[_key(term)] = _Phrase(_Kind.LOOKALIKE)
        opioid_words: dict[str, T] = {}
        opioid_display: dict[str, str] = {}
        for term, value in opioids.items():
            key = _key(term)
            phrases[key] = _Phrase(_Kind.OPIOID, value)
            if len(key) == 1 and key[0].isalpha() and len(key[0]) >= NEAR_MISS_MIN_LETTERS:
                opioid_words[key[0]] = value
                opioid_display[key[0]] = displays.get(term, term)
        non_opioid = {
            token
            for phrase, entry in phrases.items()
            if entry.kind is not _Kind.OPIOID
            for token in phrase
        }
        non_opioid |= {t for w in known_words for t in medication_words(w)}
        non_opioid |= contexts.vocabulary()
        non_opioid -= set(opioid_words)
        recogniser = cls(
            phrases=phrases,
            longest=max(len(key) for key in phrases),
            firsts=frozenset(key[0] for key in phrases),
            opioid_words=opioid_words,
            opioid_display=opioid_display,
            ingredient_words=frozenset(w for i in ingredients for w in medication_words(i)),
            non_opioid_words=frozenset(non_opioid),
            contexts=contexts,
            long_acting=TermIndex.build({w: w for w in long_acting}, medication_words),
            depot=TermIndex.build({w: w for w in depot}, medication_words),
            numbered=numbered,
            syrups=dict(syrups or {}),
        )
        recogniser._index()
        return recogniser

    def _index(self) -> None:
        for word in self.opioid_words:
            for variant in _variants(word):
                self._near.setdefault(variant, set()).add(word)
            for end in range(TRUNCATION_MIN_LETTERS, len(word)):
                self._prefixes.setdefault(word[:end], set()).add(word)
        for word in self.non_opioid_words:
            for end in range(TRUNCATION_MIN_LETTERS, len(word) + 1):
                self._non_opioid_prefixes.add(word[:end])

    def read(self, text: str) -> Reading[T]:
        """Read one text: its opioid exposures, its doubts, and its long-acting or depot words."""
        if len(text) > CACHED_TEXT_LIMIT:  # a long (or hostile) text is read, never kept
            return self._read(text)
        reading = self._readings.get(text)
        if reading is None:
            if len(self._readings) >= _CACHE_LIMIT:
                self._readings.clear()
            reading = self._readings[text] = self._read(text)
        return reading

    def clear_cache(self) -> None:
        """Forget every text and word read so far (benchmarks time the cold path)."""
        self._readings.clear()
        self._cache.clear()

    def _read(self, text: str) -> Reading[T]:
        tokens = medication_words(text)
        found: list[tuple[int, int, _Phrase[T], str]] = []
        start = 0
        while start < len(tokens):
            joined = self._joined(tokens, start)
            if joined is not None:
                found.append((start, start + 2, _Phrase(_Kind.OPIOID, joined), tokens[start]))
                start += 2
                continue
            matched = self._longest(tokens, start)
            if matched is not None:
                end, phrase = matched
                found.append((start, end, phrase, " ".join(tokens[start:end])))
                start = end
                continue
            word = tokens[start]
            if self._numbered(word, tokens):
                found.append((start, start + 1, _Phrase(_Kind.OPIOID, self.numbered), word))
                start += 1
                continue
            syrup = self._syrup(tokens, start)
            if syrup is not None:
                term = " ".join(tokens[start - 1 : start + 1])
                found.append((start, start + 1, _Phrase(_Kind.OPIOID, syrup), term))
                start += 1
                continue
            read = self._word(word)
            if read.hit is not None:
                found.append((start, start + 1, _Phrase(_Kind.OPIOID, read.hit.value), word))
            elif read.doubt is not None:
                found.append(
                    (start, start + 1, _Phrase(_Kind.DOUBT, why=read.doubt.why), read.doubt.word)
                )
            start += 1
        return self._judge(tokens, found, text)

    def _joined(self, tokens: tuple[str, ...], start: int) -> T | None:
        """Read an opioid name split in two ("hydro-codone", "Oxy Contin")."""
        if start + 1 >= len(tokens):
            return None
        return self.opioid_words.get(tokens[start] + tokens[start + 1])

    def _syrup(self, tokens: tuple[str, ...], start: int) -> T | None:
        """Read "AC", "DAC", "HC", "HD" after a cough-syrup name ("Virtussin AC", "Tussin HC")."""
        value = self.syrups.get(tokens[start])
        if value is None or start == 0:
            return None
        before = tokens[start - 1]
        syrup = before in self.contexts.syrup_words or before.endswith(self.contexts.syrup_stems)
        return value if syrup else None

    def _numbered(self, word: str, tokens: tuple[str, ...]) -> bool:
        """Tell whether a codeine number ("#3", "No. 3") sits beside a partner ("Fiorinal #3")."""
        return (
            word.startswith("#")
            and self.numbered is not None
            and not self.contexts.codeine_number_partners.isdisjoint(tokens)
        )

    def _longest(self, tokens: tuple[str, ...], start: int) -> tuple[int, _Phrase[T]] | None:
        if tokens[start] not in self.firsts:
            return None
        for end in range(min(len(tokens), start + self.longest), start, -1):
            phrase = self.phrases.get(tokens[start:end])
            if phrase is not None:
                return end, phrase
        return None

    def _judge(
        self,
        tokens: tuple[str, ...],
        found: list[tuple[int, int, _Phrase[T], str]],
        text: str,
    ) -> Reading[T]:
        """Apply the context rules to every opioid name and class word found."""
        hits: list[NameHit[T]] = []
        doubts: list[Doubt] = []
        opioid_starts = [s for s, _, p, _ in found if p.kind is _Kind.OPIOID]
        rescue = any(t in self.contexts.antagonists for t in tokens)
        c = self.contexts
        for start, end, phrase, term in found:
            if phrase.kind is _Kind.LOOKALIKE:
                continue
            before, after, clause = self._windows(tokens, start, end, opioid_starts)
            near = before | set(after)
            # A note is often set apart by brackets: "codeine (allergy)", "fentanyl (urine)".
            noted = tokens[end + 1 : end + 2] if tokens[end : end + 1] == (CLAUSE_BREAK,) else ()
            negated = bool(before & c.negation_before) or bool(set(after[:2]) & c.negation_after)
            tested = bool(near & c.tests) or not c.tests.isdisjoint(noted)
            overdose = bool(set(after) & c.overdose) or (rescue and "for" in before)
            if negated and clause & c.recent:
                doubts.append(
                    Doubt(term, "is denied beside a recent time: the last dose is unclear")
                )
                continue
            if negated or (tested and not clause & c.positive):
                continue
            if rescue and (overdose or phrase.class_word):
                continue
            if phrase.kind is _Kind.DOUBT:
                if phrase.class_word and not c.pain_relievers.isdisjoint(tokens):
                    continue
                if not phrase.unless.isdisjoint(tokens):  # "liothyronine (T3)"
                    continue
                doubts.append(Doubt(term, phrase.why))
            elif tested:
                doubts.append(Doubt(term, "is named in a positive drug test, not as a medication"))
            elif overdose:
                doubts.append(Doubt(term, "is named with an overdose, not as a medication"))
            elif near & c.allergy or c.allergy.intersection(noted):
                doubts.append(Doubt(term, "is named with an allergy or reaction"))
            elif _contains_any(tokens[end:], c.stopped_after):
                doubts.append(Doubt(term, "is marked stopped or not taken: since when is unclear"))
            else:
                assert phrase.value is not None
                hits.append(NameHit(term, phrase.value))
        return Reading(
            hits=tuple(hits),
            doubts=tuple(dict.fromkeys(doubts)) if not hits else (),
            long_acting=next(self.long_acting.find(text), None) is not None,
            depot=next(self.depot.find(text), None) is not None,
        )

    def _windows(
        self, tokens: tuple[str, ...], start: int, end: int, opioid_starts: list[int]
    ) -> tuple[set[str], list[str], set[str]]:
        """Words shortly before and after a name, and in its clause, never across a break."""
        first = start
        while first > 0 and tokens[first - 1] != CLAUSE_BREAK:
            first -= 1
        last = end
        while last < len(tokens) and tokens[last] != CLAUSE_BREAK:
            last += 1
        # A negation reaches only the nearest name after it ("no oxycodone, takes morphine").
        reach = max([s for s in opioid_starts if s < start] + [first, start - self.contexts.window])
        before = set(tokens[reach:start])
        after = list(tokens[end : min(last, end + self.contexts.window)])
        return before, after, set(tokens[first:last])

    def _word(self, word: str) -> _WordRead[T]:
        """Read a word no phrase covered (cached: the same words recur across a chart)."""
        if len(word) > CACHED_TEXT_LIMIT:  # a hostile giant word is read, never kept
            return self._read_word(word)
        cached = self._cache.get(word)
        if cached is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[word] = self._read_word(word)
        return cached

    def _read_word(self, word: str) -> _WordRead[T]:
        if not word.isalpha() or word in self.non_opioid_words:
            return _WordRead()
        if len(word) > LONGEST_WORD_LETTERS:
            # No drug name is this long: it cannot be read (and its near-miss variants would
            # fill memory), so it is a doubt, never a clear reading.
            return _WordRead(doubt=Doubt(word[:40] + "…", "is too long to read as a drug name"))
        if word.endswith("s") and word[:-1] in self.opioid_words:
            return _WordRead(NameHit(word, self.opioid_words[word[:-1]]))
        joined = self._run_together(word)
        if joined is not None:
            return _WordRead(joined)
        cut = self._truncated(word)
        if cut is not None:
            return cut
        for name in self.ingredient_words:
            if len(name) >= RUN_ON_MIN_LETTERS and word.startswith(name) and word != name:
                return _WordRead(doubt=Doubt(word, f"begins with the opioid name {name}"))
        return self._near_miss(word)

    def _run_together(self, word: str) -> NameHit[T] | None:
        """Read opioid names run into other known words ("oxycodoneapap", "morphinesulfate")."""
        pieces = _segment(word, self.opioid_words.keys() | self.non_opioid_words)
        if pieces is None or len(pieces) < 2:
            return None
        named = [p for p in pieces if p in self.opioid_words]
        return NameHit(word, self.opioid_words[named[0]]) if named else None

    def _truncated(self, word: str) -> _WordRead[T] | None:
        """Read an opioid name cut short ("hydrocod"), unless a non-opioid starts the same way."""
        names = self._prefixes.get(word)
        if not names or word in self._non_opioid_prefixes:
            return None
        values = {id(self.opioid_words[n]) for n in names}
        if len(values) == 1:
            return _WordRead(NameHit(word, self.opioid_words[next(iter(names))]))
        shown = " or ".join(sorted(self.opioid_display[n] for n in names))
        return _WordRead(doubt=Doubt(word, f"may be short for the opioid {shown}"))

    def _near_miss(self, word: str) -> _WordRead[T]:
        """A word an edit or two from an opioid name, and no closer to a non-opioid word."""
        if len(word) < NEAR_MISS_MIN_LETTERS:
            return _WordRead()
        variants = _variants(word)
        best: tuple[int, str] | None = None
        for name in {n for v in variants for n in self._near.get(v, ())}:
            limit = 2 if min(len(word), len(name)) >= TWO_EDITS_MIN_LETTERS else 1
            distance = _distance(word, name, limit)
            if distance <= limit and (best is None or (distance, name) < best):
                best = (distance, name)
        if best is None:
            return _WordRead()
        # A known non-opioid strictly closer wins ("oxybutinin" is oxybutynin misspelt); a tie
        # stays a doubt. Rare and cached: a plain scan of the non-opioid words will do.
        closer = best[0] - 1
        for other in self.non_opioid_words:
            if abs(len(other) - len(word)) <= closer and _distance(word, other, closer) <= closer:
                return _WordRead()
        shown = self.opioid_display[best[1]]
        return _WordRead(
            doubt=Doubt(word, f"looks like the opioid {shown} (a possible misspelling)")
        )


def _contains_any(tokens: tuple[str, ...], phrases: tuple[tuple[str, ...], ...]) -> bool:
    """Tell whether any of ``phrases`` occurs in ``tokens`` as consecutive words."""
    return any(
        tokens[i : i + len(phrase)] == phrase
        for phrase in phrases
        for i in range(len(tokens) - len(phrase) + 1)
    )


def _key(term: str) -> tuple[str, ...]:
    key = medication_words(term)
    if not key or CLAUSE_BREAK in key:
        raise ValueError(f"term {term!r} has no word characters or holds a clause break")
    return key


def _sound(word: str) -> str:
    """Spell a word as it sounds, so that "morfine", "fentanil" and "tramadoll" stay near misses."""
    plain = word.replace("ph", "f").replace("ck", "k").replace("y", "i")
    return _DOUBLED.sub(r"\1", plain)


def _variants(word: str) -> set[str]:
    """Deletion variants of a word as written and as it sounds (the near-miss index keys)."""
    return deletions(word, _depth(word)) | deletions(_sound(word), _depth(word))


def _distance(word: str, name: str, limit: int) -> int:
    """Edits between two words, as written or as they sound, whichever is fewer."""
    return min(edit_distance(word, name, limit), edit_distance(_sound(word), _sound(name), limit))


def _depth(word: str) -> int:
    return 2 if len(word) >= TWO_EDITS_MIN_LETTERS else 1


def _segment(word: str, vocabulary: frozenset[str] | set[str]) -> list[str] | None:
    """Split ``word`` into known words of two letters or more, fewest pieces first."""
    best: list[list[str] | None] = [None] * (len(word) + 1)
    best[0] = []
    for end in range(2, len(word) + 1):
        for start in range(0, end - 1):
            prior = best[start]
            piece = word[start:end]
            if prior is not None and piece in vocabulary:
                candidate = [*prior, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[len(word)]
