"""Opioid knowledge (from ``clinical/data``) and the rule that tells whether a medication is one.

What counts as opioid exposure: any systemic opioid agonist or partial agonist counts,
found by RxNorm product or ingredient code, by brand or generic name in a display or text, or by
the ingredients of a contained or referenced Medication. Opioids with sequestered naltrexone
(Embeda, Troxyca) are opioids; naloxone alone, naltrexone and the other antagonists, loperamide
and diphenoxylate are not.

Free text is read by :mod:`clinical.recognition` (names run into strengths, abbreviations,
brands, negations, tests, near misses): a text may name an opioid, say nothing, or leave the record
uncertain (:func:`recognise_medication` returns the doubts with the match).

``OpioidKnowledge.load`` is the one place the medication rules read a file: it reads the package's
own data files with ``importlib.resources``, once per process. Every rule takes the loaded
knowledge as an argument and does no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from clinical.recognition import Contexts, Doubt, Recogniser
from clinical.records import RXNORM, Concept, Medication
from clinical.text import TermIndex

# RxNorm and HCPCS are sometimes sent under their OIDs or another spelling of their URL.
RXNORM_SYSTEMS = frozenset({RXNORM, "urn:oid:2.16.840.1.113883.6.88"})
HCPCS_SYSTEMS = frozenset(
    {
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "urn:oid:2.16.840.1.113883.6.285",
    }
)


class DurationClass(StrEnum):
    """How long an opioid stays on board, which sets the washout (in order of washout length)."""

    SHORT_ACTING = "short-acting"
    LONG_ACTING = "long-acting"
    BUPRENORPHINE = "buprenorphine"
    METHADONE = "methadone"

    @property
    def rank(self) -> int:
        """Order classes by how long they keep naltrexone waiting."""
        return list(DurationClass).index(self)


class MatchMethod(StrEnum):
    """What in the record showed that it is an opioid, strongest first."""

    PRODUCT_CODE = "product code"
    INGREDIENT_CODE = "ingredient code"
    BRAND = "brand name"
    INGREDIENT_NAME = "ingredient name"
    ABBREVIATION = "abbreviation"


@dataclass(frozen=True, slots=True)
class OpioidIngredient:
    """An opioid ingredient; ``rxcui`` is None for the few not coded in the shared lists."""

    name: str
    rxcui: str | None
    pharmacology: str
    duration_class: DurationClass


@dataclass(frozen=True, slots=True)
class OpioidProduct:
    """An RxNorm opioid product with its opioid ingredients and class."""

    rxcui: str
    name: str
    ingredients: tuple[OpioidIngredient, ...]
    duration_class: DurationClass
    depot: bool


@dataclass(frozen=True, slots=True)
class NamedOpioid:
    """What a brand or generic name stands for."""

    ingredients: tuple[OpioidIngredient, ...]
    duration_class: DurationClass
    depot: bool
    method: MatchMethod


@dataclass(frozen=True, slots=True)
class Washout:
    """The wait before naltrexone after the last exposure to one class (article's guidance).

    ``max_days`` is None when the article gives no number (methadone): the product then shows
    "specialist guidance" and computes no date. ``configured`` marks a number set locally.
    """

    duration_class: DurationClass
    min_days: int | None
    max_days: int | None
    or_more: bool
    specialist_guidance: bool
    guidance: str
    source: str
    configured: bool = False


@dataclass(frozen=True, slots=True)
class AntagonistProduct:
    """A coded naltrexone or samidorphan product a naltrexone order may carry."""

    system: str
    code: str
    display: str
    kind: str
    antagonist: str
    partner: str | None
    dose_mg: float | None


@dataclass(frozen=True, slots=True)
class Combination:
    """A name that means an antagonist combined with a non-opioid partner (Contrave, Lybalvi).

    ``partners`` in :class:`AntagonistKnowledge` holds the partner drugs themselves (bupropion):
    named beside naltrexone they make a combination, named alone they mean nothing here.
    """

    antagonist: str
    partner: str | None


@dataclass(frozen=True, eq=False)
class AntagonistKnowledge:
    """What identifies a naltrexone (or samidorphan) order."""

    ingredient_rxcui: str
    ldn_max_mg: float
    products: Mapping[str, AntagonistProduct]
    names: TermIndex[str]
    low_dose_names: TermIndex[str]
    combinations: TermIndex[Combination]
    partners: TermIndex[str]


# Texts longer than this, codings or concepts more than this, make an answer not kept.
_LASTING_TEXT_LIMIT = 256
_LASTING_PARTS_LIMIT = 8
Answer = TypeVar("Answer")
_NOT_KEPT = object()


class Lasting:
    """Answers about medications kept across calls: a chart's products recur from one call to
    the next. At most ``size`` of them, least recently used out first, and only about
    medications small enough (short texts, few codings), so no input can fill memory."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._answers: OrderedDict[tuple[str, Medication], object] = OrderedDict()
        self._lock = threading.Lock()

    def answer(
        self,
        key: tuple[str, Medication],
        work: Callable[[Medication, OpioidKnowledge], Answer],
        knowledge: OpioidKnowledge,
    ) -> Answer:
        """Return ``work(medication, knowledge)``, kept by ``key`` when the medication is small."""
        with self._lock:
            kept = self._answers.get(key, _NOT_KEPT)
            if kept is not _NOT_KEPT:
                self._answers.move_to_end(key)
                return kept  # type: ignore[return-value]  # what work() returned for this key
        medication = key[1]
        found = work(medication, knowledge)
        if _small(medication):  # only small ones are kept: no input can fill the memory
            with self._lock:
                self._answers[key] = found
                if len(self._answers) > self._size:
                    self._answers.popitem(last=False)
        return found


def _small(medication: Medication) -> bool:
    concepts = [medication.concept, *(i.item for i in medication.ingredients)]
    if medication.form is not None:
        concepts.append(medication.form)
    return len(concepts) <= _LASTING_PARTS_LIMIT and all(
        len(concept.codings) <= _LASTING_PARTS_LIMIT
        and all(len(word) <= _LASTING_TEXT_LIMIT for word in concept.words())
        and all(
            len(coding.code or "") + len(coding.system or "") <= _LASTING_TEXT_LIMIT
            for coding in concept.codings
        )
        for concept in concepts
    )


@dataclass(frozen=True, eq=False)
class OpioidKnowledge:
    """Everything the medication rules know: opioids, washouts and naltrexone orders."""

    ingredients: Mapping[str, OpioidIngredient]
    ingredients_by_rxcui: Mapping[str, OpioidIngredient]
    products: Mapping[str, OpioidProduct]
    names: Recogniser[NamedOpioid]
    long_acting_forms: frozenset[str]
    washouts: Mapping[DurationClass, Washout]
    depot_guidance: str
    antagonists: AntagonistKnowledge
    # Answers about small medications, kept across calls (bounded; see ``Lasting``). They do
    # not depend on the washouts, so a knowledge with a site's washout shares them.
    lasting: Lasting = dataclasses.field(default_factory=Lasting, repr=False)
    # What one call's medications were recognised as (``for_one_call``), by the medication
    # object (kept with its answer, so that its id stays its own); None keeps nothing.
    remembered: dict[tuple[str, int], tuple[Medication, object]] | None = dataclasses.field(
        default=None, repr=False
    )

    def for_one_call(self) -> OpioidKnowledge:
        """Return this knowledge, remembering what each medication is while one call lasts.

        A chart names the same few products hundreds of times, and the mapping hands the same
        medication object to every record naming one: each is then recognised once. The memory
        lives as long as the returned object, which is the call's own.
        """
        return dataclasses.replace(self, remembered={})

    @classmethod
    def load(cls) -> OpioidKnowledge:
        """Return the knowledge in the package's data files (read once, then shared)."""
        return _load_packaged()

    @classmethod
    def from_documents(
        cls,
        opioids: Mapping[str, Any],
        washouts: Mapping[str, Any],
        naltrexone: Mapping[str, Any],
        text: Mapping[str, Mapping[str, Any]],
    ) -> OpioidKnowledge:
        """Build the knowledge from the parsed data documents.

        ``text`` holds the free-text documents by file name: ``opioid_names.json``,
        ``lookalikes.json`` and ``text_rules.json``.
        """
        ingredients = {
            item["name"]: OpioidIngredient(
                item["name"],
                item["rxcui"],
                item["pharmacology"],
                DurationClass(item["durationClass"]),
            )
            for item in opioids["ingredients"]
        }
        products = {
            item["rxcui"]: OpioidProduct(
                item["rxcui"],
                item["name"],
                tuple(ingredients[name] for name in item["ingredients"]),
                DurationClass(item["durationClass"]),
                item["depot"],
            )
            for item in opioids["products"]
        }
        names: dict[str, NamedOpioid] = {}
        for item in opioids["ingredients"]:
            named = NamedOpioid(
                (ingredients[item["name"]],),
                DurationClass(item["durationClass"]),
                False,
                MatchMethod.INGREDIENT_NAME,
            )
            for label in (item["name"], *item["synonyms"]):
                names[label] = named
        for item in opioids["brands"]:
            named = NamedOpioid(
                tuple(ingredients[name] for name in item["ingredients"]),
                DurationClass(item["durationClass"]),
                item["depot"],
                MatchMethod.BRAND,
            )
            for label in (item["name"], *item["synonyms"]):
                names[label] = named
        return cls(
            ingredients=ingredients,
            ingredients_by_rxcui={i.rxcui: i for i in ingredients.values() if i.rxcui},
            products=products,
            names=_recogniser(opioids, ingredients, names, text),
            long_acting_forms=frozenset(
                item["code"] for item in opioids["longActingDoseForms"]["codes"]
            ),
            washouts={
                DurationClass(name): Washout(
                    DurationClass(name),
                    entry["minDays"],
                    entry["maxDays"],
                    entry["orMore"],
                    entry["specialistGuidance"],
                    entry["guidance"],
                    entry["source"],
                )
                for name, entry in washouts["classes"].items()
            },
            depot_guidance=washouts["depot"]["guidance"],
            antagonists=_antagonists(naltrexone),
        )

    def with_washout(self, duration_class: DurationClass, max_days: int) -> OpioidKnowledge:
        """Return a copy with a locally configured upper washout bound for one class."""
        if max_days < 1:
            raise ValueError(f"washout for {duration_class} must be at least one day: {max_days}")
        washouts = dict(self.washouts)
        washouts[duration_class] = dataclasses.replace(
            washouts[duration_class], max_days=max_days, configured=True
        )
        return dataclasses.replace(self, washouts=washouts)


def _recogniser(
    opioids: Mapping[str, Any],
    ingredients: Mapping[str, OpioidIngredient],
    names: dict[str, NamedOpioid],
    text: Mapping[str, Mapping[str, Any]],
) -> Recogniser[NamedOpioid]:
    """Index every opioid name, look-alike and doubt of the free-text documents."""
    extra, lookalikes, rules = (
        text["opioid_names.json"],
        text["lookalikes.json"],
        text["text_rules.json"],
    )
    displays = {label: _display(label, named) for label, named in names.items()}
    for item in extra["brands"]:
        named = NamedOpioid(
            tuple(ingredients[name] for name in item["ingredients"]),
            DurationClass(item["durationClass"]),
            item["depot"],
            MatchMethod.BRAND,
        )
        for label in (item["name"], *item["synonyms"]):
            names.setdefault(label, named)
            displays.setdefault(label, _display(item["name"], named))
    for item in extra["abbreviations"]:
        found = tuple(ingredients[name] for name in item["ingredients"])
        default = max((i.duration_class for i in found), key=lambda c: c.rank)
        named = NamedOpioid(
            found,
            DurationClass(item.get("durationClass", default)),
            False,
            MatchMethod.ABBREVIATION,
        )
        for label in (item["term"], *item["synonyms"]):
            names.setdefault(label, named)
            displays.setdefault(label, found[0].name)
    not_opioids = [entry["name"] for entry in opioids["notOpioids"] if "products" not in entry]
    not_opioid_brands = [b for entry in opioids["notOpioids"] for b in entry.get("brands", ())]
    contexts = Contexts.from_document(rules)
    syrups = {
        suffix: NamedOpioid(
            (ingredients[name],),
            ingredients[name].duration_class,
            False,
            MatchMethod.ABBREVIATION,
        )
        for suffix, name in contexts.syrup_suffixes.items()
    }
    return Recogniser.build(
        opioids=names,
        displays=displays,
        ingredients=[
            label for i in opioids["ingredients"] for label in (i["name"], *i["synonyms"])
        ],
        lookalikes=[
            *(item["name"] for item in lookalikes["lookalikes"]),
            *not_opioids,
            *not_opioid_brands,
        ],
        known_words=lookalikes["knownWords"],
        doubts={item["term"]: item["reason"] for item in extra["uncertain"]},
        other_meanings={
            item["term"]: item["otherMeaning"]
            for item in extra["uncertain"]
            if "otherMeaning" in item
        },
        class_words=[item["term"] for item in extra["uncertain"] if item.get("classWord", False)],
        contexts=contexts,
        long_acting=opioids["longActingWords"],
        depot=opioids["depotWords"],
        numbered=NamedOpioid(
            (ingredients["codeine"],), DurationClass.SHORT_ACTING, False, MatchMethod.ABBREVIATION
        ),
        syrups=syrups,
    )


def _display(label: str, named: NamedOpioid) -> str:
    """Name an opioid for a clinician: a brand with its ingredients, an ingredient alone."""
    ingredients = " / ".join(i.name for i in named.ingredients)
    return f"{label} ({ingredients})" if named.method is MatchMethod.BRAND else ingredients


def _antagonists(document: Mapping[str, Any]) -> AntagonistKnowledge:
    products = {
        item["code"]: AntagonistProduct(
            item["system"],
            item["code"],
            item["display"],
            item["kind"],
            item["antagonist"],
            item.get("partner"),
            float(item["doseMg"]) if item.get("doseMg") is not None else None,
        )
        for item in document["products"]
    }
    combinations = {
        item["name"]: Combination(item["antagonist"], item["partner"])
        for item in document["combinationNames"]
    }
    return AntagonistKnowledge(
        ingredient_rxcui=document["ingredient"]["rxcui"],
        ldn_max_mg=float(document["ldnMaxMgPerDose"]),
        products=products,
        names=TermIndex.build({name: "naltrexone" for name in document["names"]}),
        low_dose_names=TermIndex.build({name: name for name in document["lowDoseNames"]}),
        combinations=TermIndex.build(combinations),
        partners=TermIndex.build({name: name for name in document["partnerNames"]}),
    )


@cache
def _load_packaged() -> OpioidKnowledge:
    folder = resources.files("clinical.data")

    def read(name: str) -> Any:
        return json.loads(folder.joinpath(name).read_text(encoding="utf-8"))

    return OpioidKnowledge.from_documents(
        read("opioids.json"),
        read("washouts.json"),
        read("naltrexone.json"),
        {name: read(name) for name in TEXT_DOCUMENTS},
    )


TEXT_DOCUMENTS = ("opioid_names.json", "lookalikes.json", "text_rules.json")


@dataclass(frozen=True, slots=True)
class OpioidMatch:
    """Why a medication counts as an opioid: ingredients, class, depot, and the evidence."""

    ingredients: tuple[OpioidIngredient, ...]
    duration_class: DurationClass
    depot: bool
    method: MatchMethod
    term: str
    label: str

    @property
    def ingredient_names(self) -> str:
        """The opioid ingredients as one readable string ("buprenorphine")."""
        return " / ".join(ingredient.name for ingredient in self.ingredients)


def same_system(system: str | None, known: str) -> bool:
    """Tell whether a coding's system is ``known``, allowing the other spellings of RxNorm/HCPCS."""
    families = (RXNORM_SYSTEMS, HCPCS_SYSTEMS)
    return system == known or any(system in f and known in f for f in families)


def rxnorm_codes(concept: Concept) -> Iterator[str]:
    """Yield the RxNorm codes of a concept, whichever RxNorm system URI it uses."""
    for coding in concept.codings:
        if coding.code and coding.system in RXNORM_SYSTEMS:
            yield coding.code


def label_of(medication: Medication) -> str | None:
    """Return the first human-readable name of a medication or its ingredients."""
    for concept in medication.concepts():
        for word in concept.words():
            return word
    return None


@dataclass(frozen=True, slots=True)
class Recognition:
    """What a medication is to the opioid rules: an opioid match, or doubts, or neither."""

    match: OpioidMatch | None
    doubts: tuple[Doubt, ...] = ()


def identify_opioid(medication: Medication, knowledge: OpioidKnowledge) -> OpioidMatch | None:
    """Tell whether a medication is an opioid, and by which evidence."""
    return recognise_medication(medication, knowledge).match


def recognise_medication(medication: Medication, knowledge: OpioidKnowledge) -> Recognition:
    """Tell whether a medication is an opioid, and if not, whether its text leaves doubt.

    A product code decides alone; otherwise ingredient codes, then the names read in the
    product's and ingredients' texts and displays (:mod:`clinical.recognition`), where
    long-acting or depot words, or a long-acting RxNorm dose form, raise the class.

    Under a knowledge ``for_one_call`` each medication is recognised once per call, and the
    answer about a small medication is kept for later calls (``Lasting``).
    """
    remembered = knowledge.remembered
    if remembered is None:
        return _recognise(medication, knowledge)
    key = ("opioid", id(medication))
    found = remembered.get(key)
    if found is not None and isinstance(found[1], Recognition):
        return found[1]
    recognition = knowledge.lasting.answer(("opioid", medication), _recognise, knowledge)
    remembered[key] = medication, recognition
    return recognition


def _recognise(medication: Medication, knowledge: OpioidKnowledge) -> Recognition:
    texts = [word for concept in medication.concepts() for word in concept.words()]
    ingredient_codes: list[OpioidIngredient] = []
    for concept in medication.concepts():
        for code in rxnorm_codes(concept):
            product = knowledge.products.get(code)
            if product is not None:
                match = OpioidMatch(
                    product.ingredients,
                    product.duration_class,
                    product.depot,
                    MatchMethod.PRODUCT_CODE,
                    code,
                    label_of(medication) or product.name,
                )
                return Recognition(match)
            ingredient = knowledge.ingredients_by_rxcui.get(code)
            if ingredient is not None and ingredient not in ingredient_codes:
                ingredient_codes.append(ingredient)
    readings = [knowledge.names.read(text) for text in texts]
    form = medication.form
    form_words = [knowledge.names.read(text) for text in form.words()] if form else []
    long_acting = any(r.long_acting for r in (*readings, *form_words)) or any(
        code in knowledge.long_acting_forms for code in (rxnorm_codes(form) if form else ())
    )
    depot = any(r.depot for r in (*readings, *form_words))
    if ingredient_codes:
        match = _match(
            tuple(ingredient_codes),
            max((i.duration_class for i in ingredient_codes), key=lambda c: c.rank),
            depot,
            MatchMethod.INGREDIENT_CODE,
            ingredient_codes[0].rxcui or "",
            texts,
            long_acting,
        )
        return Recognition(match)
    hits = [hit for reading in readings for hit in reading.hits]
    if not hits:
        return Recognition(None, tuple(d for reading in readings for d in reading.doubts))
    brands = [hit for hit in hits if hit.value.method is MatchMethod.BRAND]
    first = (brands or hits)[0]
    ingredients = tuple(dict.fromkeys(i for hit in hits for i in hit.value.ingredients))
    match = _match(
        ingredients,
        max((hit.value.duration_class for hit in hits), key=lambda c: c.rank),
        any(hit.value.depot for hit in hits) or depot,
        first.value.method,
        first.term,
        texts,
        long_acting,
    )
    return Recognition(match)


def _match(
    ingredients: tuple[OpioidIngredient, ...],
    duration_class: DurationClass,
    depot: bool,
    method: MatchMethod,
    term: str,
    texts: list[str],
    long_acting: bool,
) -> OpioidMatch:
    """Raise the class by the words around the name ("OxyContin", "TD", "mcg/hr", "implant")."""
    if duration_class is DurationClass.SHORT_ACTING and long_acting:
        duration_class = DurationClass.LONG_ACTING
    # Depot words matter only for buprenorphine (Sublocade, Brixadi, Probuphine).
    depot = depot and any(i.name == "buprenorphine" for i in ingredients)
    label = texts[0] if texts else " / ".join(i.name for i in ingredients)
    return OpioidMatch(ingredients, duration_class, depot, method, term, label)
