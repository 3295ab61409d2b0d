"""Reading medication free text: normalisation, names, near misses, contexts and classes.

The corpus test (test_text_corpus.py) judges recall over real-world entries; these tests pin the
rules one by one (docs/medication-rules.md, "Reading free text").
"""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources

import pytest

from clinical.exposure import assess_exposures
from clinical.opioids import (
    DurationClass,
    MatchMethod,
    OpioidKnowledge,
    identify_opioid,
    recognise_medication,
)
from clinical.records import RXNORM, Coding, Concept, Medication
from clinical.text import edit_distance, medication_words
from tests.clinical.medication_builders import cdc_value_sets, named, record

KNOWLEDGE = OpioidKnowledge.load()
TODAY = date(2026, 12, 3)


def _data(name: str) -> dict:
    return json.loads(resources.files("clinical.data").joinpath(name).read_text("utf-8"))


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Percodan5", ("percodan", "5")),
        ("hydromorphone2mg", ("hydromorphone", "2", "mg")),
        ("Lorcet10/650", ("lorcet", "10", "650")),
        ("APAP w/ cod #3", ("apap", "with", "cod", "#3")),
        ("APAP w/o codeine", ("apap", "without", "codeine")),
        ("Tylenol No. 3", ("tylenol", "#3")),
        ("Tylenol #30 tabs", ("tylenol", "30", "tabs")),
        ("Fentanyl 25 µg/hr", ("fentanyl", "25", "mcg", "hr")),
        ("codeína", ("codeina",)),
        ("No known allergies. Oxycodone", ("no", "known", "allergies", "|", "oxycodone")),
        ("Norco (hydrocodone); 5 mg", ("norco", "|", "hydrocodone", "|", "5", "mg")),
    ],
)
def test_medication_text_is_normalised(text: str, tokens: tuple[str, ...]) -> None:
    assert medication_words(text) == tokens


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("morhpine", "morphine", 1), ("hydrocodne", "hydrocodone", 1), ("trazodone", "tramadol", 3)],
)
def test_edit_distance_counts_a_swap_as_one_edit(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, 2) == min(distance, 3)


def _read(text: str):  # type: ignore[no-untyped-def]
    return recognise_medication(named(text), KNOWLEDGE)


@pytest.mark.parametrize(
    ("text", "ingredient", "method"),
    [
        ("APAP w/ cod #3", "codeine", MatchMethod.ABBREVIATION),
        ("HC-APAP 5/325", "hydrocodone", MatchMethod.ABBREVIATION),
        ("bup-nx 8/2", "buprenorphine", MatchMethod.ABBREVIATION),
        ("Fiorinal #3", "codeine", MatchMethod.ABBREVIATION),
        ("oxycodoneapap 5-325", "oxycodone", MatchMethod.INGREDIENT_NAME),
        ("hydro-codone 5 mg", "hydrocodone", MatchMethod.INGREDIENT_NAME),
        ("HYDROCOD/ACETAM 5-325", "hydrocodone", MatchMethod.ABBREVIATION),
        ("Mytussin AC", "codeine", MatchMethod.BRAND),
        ("Sufenta 10 mcg", "sufentanil", MatchMethod.BRAND),
        ("Roxanol 20 mg/mL", "morphine", MatchMethod.BRAND),
    ],
)
def test_abbreviations_brands_and_run_together_names_are_opioids(
    text: str, ingredient: str, method: MatchMethod
) -> None:
    recognition = _read(text)
    assert recognition.match is not None
    assert recognition.match.ingredient_names == ingredient
    assert recognition.match.method is method


@pytest.mark.parametrize(
    ("text", "word", "resembles"),
    [
        ("hydrocodne 5 mg", "hydrocodne", "hydrocodone"),
        ("fentanly patch", "fentanly", "fentanyl"),
        ("morfine 15 mg", "morfine", "morphine"),
        ("Percoset 5/325", "percoset", "Percocet"),
    ],
)
def test_a_near_miss_is_a_doubt_naming_the_word_and_what_it_resembles(
    text: str, word: str, resembles: str
) -> None:
    recognition = _read(text)
    assert recognition.match is None
    (doubt,) = recognition.doubts
    assert doubt.word == word
    assert resembles in doubt.why


@pytest.mark.parametrize(
    "text", ["oxybutynin", "hydroxyzine", "trazodone", "methocarbamol", "Phenergan", "Midol"]
)
def test_a_known_look_alike_wins_over_a_near_miss(text: str) -> None:
    recognition = _read(text)
    assert (recognition.match, recognition.doubts) == (None, ())


def test_a_misspelt_look_alike_stays_a_look_alike() -> None:
    # One edit from oxybutynin, far from any opioid.
    assert _read("oxybutinin 5 mg").doubts == ()


def test_a_short_form_shared_by_two_opioids_is_a_doubt_naming_both() -> None:
    recognition = _read("hydrom 2 mg")
    assert recognition.match is None
    (doubt,) = recognition.doubts
    assert "hydromorphone" in doubt.why
    assert "Hydromet" in doubt.why


@pytest.mark.parametrize(
    "text",
    [
        "oxycodone-free",
        "denies opioid use",
        "no narcotics",
        "fentanyl level",
        "urine opiate screen",
        "opioid test strip",
        "naloxone for opioid overdose",
        "APAP w/o codeine",
    ],
)
def test_phrases_that_are_not_exposures_say_nothing(text: str) -> None:
    recognition = _read(text)
    assert (recognition.match, recognition.doubts) == (None, ())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("kratom 2 g daily", "mitragynine"),
        ("poppy seed tea", "morphine"),
        ("narcotic pain medicine", "class"),
        ("MS 15 mg", "magnesium sulfate"),
        ("UDS positive for fentanyl", "positive drug test"),
        ("history of fentanyl overdose", "overdose"),
        ("codeine (allergy)", "allergy"),
        ("opioid-free for 3 days", "recent time"),
    ],
)
def test_doubtful_texts_are_uncertain_with_a_reason(text: str, why: str) -> None:
    recognition = _read(text)
    assert recognition.match is None
    assert any(why in doubt.why for doubt in recognition.doubts)


def test_a_negation_reaches_only_the_next_name() -> None:
    match = identify_opioid(named("no oxycodone, takes morphine 15 mg"), KNOWLEDGE)
    assert match is not None
    assert match.ingredient_names == "morphine"


def test_a_pain_reliever_named_beside_pain_medicine_is_not_a_doubt() -> None:
    assert _read("ibuprofen 800 mg (pain medication)").doubts == ()


@pytest.mark.parametrize(
    "text",
    [
        "fentanyl 25 mcg/hr",
        "fentanyl TD 50",
        "fentanyl 12 mcg/h q72h",
        "Fentanyl TTS",
        "oxycodone LA 20 mg",
        "morphine 30 mg 12 hr",
        "hydromorphone XL 8 mg",
    ],
)
def test_patch_and_extended_release_words_make_a_name_long_acting(text: str) -> None:
    match = identify_opioid(named(text), KNOWLEDGE)
    assert match is not None
    assert match.duration_class is DurationClass.LONG_ACTING


def test_a_coded_transdermal_dose_form_makes_a_name_long_acting() -> None:
    form = Concept((Coding(RXNORM, "316987"),))
    match = identify_opioid(Medication(Concept(text="fentanyl 25"), form=form), KNOWLEDGE)
    assert match is not None
    assert match.duration_class is DurationClass.LONG_ACTING


def test_levorphanol_has_one_class_by_name_by_ingredient_and_by_every_product() -> None:
    classes = {
        identify_opioid(named("levorphanol 2 mg"), KNOWLEDGE).duration_class,  # type: ignore[union-attr]
        KNOWLEDGE.ingredients["levorphanol"].duration_class,
        *(
            p.duration_class
            for p in KNOWLEDGE.products.values()
            if any(i.name == "levorphanol" for i in p.ingredients)
        ),
    }
    assert classes == {DurationClass.LONG_ACTING}


@pytest.mark.parametrize(
    "text", ["Sublocade 300 mg", "Brixadi weekly", "Buvidal", "buprenorphine implant"]
)
def test_depot_and_implant_buprenorphine_are_depots(text: str) -> None:
    match = identify_opioid(named(text), KNOWLEDGE)
    assert match is not None
    assert match.depot


def test_a_doubt_makes_an_active_record_unchecked_naming_the_word() -> None:
    review = assess_exposures([record(named("hydrocodne 5 mg"))], KNOWLEDGE, TODAY)
    assert review.exposures == ()
    (unchecked,) = review.unchecked
    assert '"hydrocodne"' in unchecked.reason
    assert "hydrocodone" in unchecked.reason


def test_a_doubt_on_a_record_never_taken_is_no_exposure() -> None:
    review = assess_exposures(
        [record(named("hydrocodne 5 mg"), status="not-taken")], KNOWLEDGE, TODAY
    )
    assert (review.exposures, review.unchecked) == ((), ())


def test_every_curated_brand_in_the_shared_cdc_lists_has_the_same_ingredients_there() -> None:
    bracketed: dict[str, set[str]] = {}
    for concepts in cdc_value_sets().values():
        for _, display in concepts:
            for brand in re.findall(r"\[([^\]]+)\]", display):
                found = identify_opioid(named(display.split("[")[0]), KNOWLEDGE)
                if found is not None:
                    bracketed.setdefault(brand.lower(), set()).update(
                        i.name for i in found.ingredients
                    )
    checked = 0
    for brand in _data("opioid_names.json")["brands"]:
        names = {brand["name"].lower(), *(s.lower() for s in brand["synonyms"])}
        for name in names & bracketed.keys():
            assert bracketed[name] == set(brand["ingredients"]), name
            checked += 1
    assert checked >= 20


def test_every_name_entry_carries_its_source() -> None:
    names = _data("opioid_names.json")
    for section in ("brands", "abbreviations", "uncertain"):
        assert all(entry["source"].strip() for entry in names[section]), section
    assert all(entry["source"].strip() for entry in _data("lookalikes.json")["lookalikes"])


def test_no_look_alike_is_itself_an_opioid_name() -> None:
    for entry in _data("lookalikes.json")["lookalikes"]:
        assert identify_opioid(named(entry["name"]), KNOWLEDGE) is None, entry["name"]


def test_reading_is_cached_and_the_cache_can_be_cleared() -> None:
    first = KNOWLEDGE.names.read("Percocet 5/325")
    assert KNOWLEDGE.names.read("Percocet 5/325") is first
    KNOWLEDGE.names.clear_cache()
    again = KNOWLEDGE.names.read("Percocet 5/325")
    assert again == first
    assert again is not first
