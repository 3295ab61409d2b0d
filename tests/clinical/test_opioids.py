"""Every opioid in the shared CDC lists is found in every representation; non-opioids never are."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinical.opioids import (
    DurationClass,
    MatchMethod,
    OpioidKnowledge,
    identify_opioid,
)
from clinical.records import RXNORM, Coding, Concept, Ingredient, Medication, Quantity
from tests.clinical.medication_builders import (
    TERMINOLOGY,
    cdc_value_sets,
    coded,
    naloxone_only,
    named,
    omtk_ingredients,
    omtk_names,
    shared,
)

KNOWLEDGE = OpioidKnowledge.load()
NON_OPIOID_FILLER = ("lisinopril 10 MG Oral Tablet", "acetaminophen 500 MG", "lactose")


def _with_display(code: str, display: str) -> Medication:
    return coded(code, display)


def _code_only(code: str, display: str) -> Medication:
    return coded(code)


def _text_only(code: str, display: str) -> Medication:
    return named(display)


def _contained(code: str, display: str) -> Medication:
    # What a contained Medication maps to: the code, a form, and non-opioid excipients.
    return Medication(
        Concept((Coding(RXNORM, code),)),
        ingredients=(Ingredient(Concept(text="microcrystalline cellulose")),),
        form=Concept(text="tablet"),
    )


def _ingredients_only(code: str, display: str) -> Medication:
    # A Medication with no product code: its ingredient list, coded from OMTK when OMTK lists
    # the product, otherwise the name's parts as text (as compounding systems send them).
    pairs = omtk_ingredients().get(code)
    if pairs:
        items = tuple(Ingredient(Concept((Coding(RXNORM, rx, name),))) for rx, name in pairs)
    else:
        items = tuple(Ingredient(Concept(text=part)) for part in display.split(" / "))
    return Medication(ingredients=(Ingredient(Concept(text="lactose")), *items))


REPRESENTATIONS: dict[str, Callable[[str, str], Medication]] = {
    "coded with display": _with_display,
    "code only": _code_only,
    "text only": _text_only,
    "contained Medication": _contained,
    "ingredient list only": _ingredients_only,
}


@pytest.mark.parametrize("representation", REPRESENTATIONS)
@pytest.mark.parametrize("value_set", sorted(cdc_value_sets()))
def test_every_cdc_opioid_code_is_found(value_set: str, representation: str) -> None:
    build = REPRESENTATIONS[representation]
    concepts = [c for c in cdc_value_sets()[value_set] if c[0] not in naloxone_only()]
    missed = [
        f"{code} {display}"
        for code, display in concepts
        if identify_opioid(build(code, display), KNOWLEDGE) is None
    ]
    assert concepts
    assert missed == []


@pytest.mark.parametrize("representation", ["code only", "text only", "ingredient list only"])
def test_found_ingredients_are_omtks(representation: str) -> None:
    build = REPRESENTATIONS[representation]
    wrong = []
    for code, pairs in omtk_ingredients().items():
        match = identify_opioid(build(code, omtk_names()[code]), KNOWLEDGE)
        expected = {name.lower() for _, name in pairs}
        if match is None or {i.name for i in match.ingredients} != expected:
            wrong.append((code, expected, match and match.ingredient_names))
    assert wrong == []


@pytest.mark.parametrize("representation", ["code only", "text only"])
def test_extended_release_set_is_long_acting(representation: str) -> None:
    build = REPRESENTATIONS[representation]
    classes = {
        identify_opioid(build(code, display), KNOWLEDGE).duration_class  # type: ignore[union-attr]
        for code, display in cdc_value_sets()[
            "extended-release-opioid-with-ambulatory-misuse-potential"
        ]
    }
    # Butrans (weekly buprenorphine patch) keeps its own class, whose washout is the same.
    assert classes <= {
        DurationClass.LONG_ACTING,
        DurationClass.BUPRENORPHINE,
        DurationClass.METHADONE,
    }
    assert DurationClass.LONG_ACTING in classes


def test_buprenorphine_and_methadone_sets_keep_their_class() -> None:
    for value_set, expected in (
        ("buprenorphine-medications", DurationClass.BUPRENORPHINE),
        ("methadone-medications", DurationClass.METHADONE),
    ):
        for code, display in cdc_value_sets()[value_set]:
            for medication in (coded(code), named(display)):
                match = identify_opioid(medication, KNOWLEDGE)
                assert match is not None
                assert match.duration_class is expected, display


NON_OPIOIDS = [
    *(coded(code) for code in sorted(naloxone_only())),
    *(
        named(display)
        for code, display in cdc_value_sets()["naloxone-medications"]
        if code in naloxone_only()
    ),
    *(
        coded(c["code"], c["display"])
        for c in shared(
            "naltrexone/vsac/vsac-opioid-antagonist-2.16.840.1.113762.1.4.1248.119.json"
        )["contains"]
    ),
    *(
        coded(c["code"], c["display"], c["system"])
        for c in shared("naltrexone/naltrexone-codes.json")["codes"]
    ),
    coded("6468", "loperamide"),
    coded("3500", "diphenoxylate"),
    named("Narcan 4 mg nasal spray"),
    named("nalmefene 2.7 mg nasal spray (Opvee)"),
    named("methylnaltrexone bromide 12 mg/0.6 mL injection (Relistor)"),
    named("naloxegol 25 mg tablet (Movantik)"),
    named("alvimopan 12 mg capsule (Entereg)"),
    named("loperamide 2 mg capsule (Imodium A-D)"),
    named("diphenoxylate 2.5 mg / atropine 0.025 mg tablet (Lomotil)"),
    named("olanzapine 10 mg / samidorphan 10 mg (Lybalvi)"),
    named("Naltrexone 4.5 mg capsule (compounded)"),
    named("LDN 1.5 mg"),
    named("Low-dose naltrexone 3mg"),
    Medication(
        Concept(text="Naltrexone 4.5 mg oral capsule (compounded, low-dose naltrexone)"),
        ingredients=(
            Ingredient(
                Concept((Coding(RXNORM, "7243", "naltrexone"),), "naltrexone hydrochloride"),
                Quantity(4.5, "mg"),
            ),
        ),
    ),
    named("norcodeine reference standard"),
    named("apomorphine 2 mg injection"),
]


@pytest.mark.parametrize("medication", NON_OPIOIDS)
def test_non_opioids_are_never_flagged(medication: Medication) -> None:
    assert identify_opioid(medication, KNOWLEDGE) is None


@pytest.mark.parametrize(
    ("text", "ingredient", "duration_class", "depot"),
    [
        ("Norco 5/325", "hydrocodone", DurationClass.SHORT_ACTING, False),
        ("NORCO 10-325 MG TABS", "hydrocodone", DurationClass.SHORT_ACTING, False),
        ("Tylenol w/ Codeine #3", "codeine", DurationClass.SHORT_ACTING, False),
        ("Tylenol #3", "codeine", DurationClass.SHORT_ACTING, False),
        ("hydrocodone/homatropine syrup", "hydrocodone", DurationClass.SHORT_ACTING, False),
        ("promethazine-codeine 6.25-10 mg/5 mL", "codeine", DurationClass.SHORT_ACTING, False),
        ("OXYCODONE-ACETAMINOPHEN 5-325", "oxycodone", DurationClass.SHORT_ACTING, False),
        ("OxyContin 20 mg", "oxycodone", DurationClass.LONG_ACTING, False),
        ("oxycodone ER 10 mg", "oxycodone", DurationClass.LONG_ACTING, False),
        ("Nucynta ER 100 mg", "tapentadol", DurationClass.LONG_ACTING, False),
        ("Nucynta 50 mg", "tapentadol", DurationClass.SHORT_ACTING, False),
        ("fentanyl 25 mcg/hr patch", "fentanyl", DurationClass.LONG_ACTING, False),
        ("Duragesic", "fentanyl", DurationClass.LONG_ACTING, False),
        ("Suboxone 8/2 film", "buprenorphine", DurationClass.BUPRENORPHINE, False),
        ("buprenorphine/naloxone", "buprenorphine", DurationClass.BUPRENORPHINE, False),
        (
            "Buprenorphine / Naltrexone (sic) 8 MG",
            "buprenorphine",
            DurationClass.BUPRENORPHINE,
            False,
        ),
        ("Butrans 10 mcg/hr", "buprenorphine", DurationClass.BUPRENORPHINE, False),
        ("Sublocade 300 mg", "buprenorphine", DurationClass.BUPRENORPHINE, True),
        ("Brixadi weekly", "buprenorphine", DurationClass.BUPRENORPHINE, True),
        ("Probuphine", "buprenorphine", DurationClass.BUPRENORPHINE, True),
        (
            "buprenorphine extended-release injection 100 mg",
            "buprenorphine",
            DurationClass.BUPRENORPHINE,
            True,
        ),
        ("methadone 10 mg/mL oral concentrate", "methadone", DurationClass.METHADONE, False),
        ("Methadose", "methadone", DurationClass.METHADONE, False),
        ("Embeda 20 mg/0.8 mg", "morphine", DurationClass.LONG_ACTING, False),
        ("Troxyca ER", "oxycodone", DurationClass.LONG_ACTING, False),
        ("Stadol NS", "butorphanol", DurationClass.SHORT_ACTING, False),
        ("pethidine 50 mg", "meperidine", DurationClass.SHORT_ACTING, False),
        ("diamorphine 5 mg", "heroin", DurationClass.SHORT_ACTING, False),
        ("Lortab elixir", "hydrocodone", DurationClass.SHORT_ACTING, False),
    ],
)
def test_names_in_text(
    text: str, ingredient: str, duration_class: DurationClass, depot: bool
) -> None:
    match = identify_opioid(named(text), KNOWLEDGE)
    assert match is not None
    assert [i.name for i in match.ingredients] == [ingredient]
    assert match.duration_class is duration_class
    assert match.depot is depot
    assert match.label == text


def test_the_mislabelled_buprenorphine_naloxone_concept_is_buprenorphine_even_by_code_alone() -> (
    None
):
    # RxCUI 352364 is buprenorphine / naloxone; a public demo data set calls it "naltrexone".
    for medication in (coded("352364"), coded("352364", "Buprenorphine / Naltrexone")):
        match = identify_opioid(medication, KNOWLEDGE)
        assert match is not None
        assert [i.name for i in match.ingredients] == ["buprenorphine"]
        assert match.duration_class is DurationClass.BUPRENORPHINE


def test_match_says_how_it_matched() -> None:
    by_product = identify_opioid(coded("1996189"), KNOWLEDGE)
    by_ingredient = identify_opioid(coded("7804", "oxycodone"), KNOWLEDGE)
    by_brand = identify_opioid(named("Percocet 5/325"), KNOWLEDGE)
    by_name = identify_opioid(named("tramadol 50 mg"), KNOWLEDGE)
    assert by_product
    assert (by_product.method, by_product.term) == (
        MatchMethod.PRODUCT_CODE,
        "1996189",
    )
    assert by_product.depot
    assert by_ingredient
    assert (by_ingredient.method, by_ingredient.term) == (
        MatchMethod.INGREDIENT_CODE,
        "7804",
    )
    assert by_brand
    assert (by_brand.method, by_brand.term) == (MatchMethod.BRAND, "percocet")
    assert by_name
    assert (by_name.method, by_name.term) == (MatchMethod.INGREDIENT_NAME, "tramadol")


def test_rxnorm_under_its_oid_is_read() -> None:
    medication = coded("7052", system="urn:oid:2.16.840.1.113883.6.88")
    match = identify_opioid(medication, KNOWLEDGE)
    assert match is not None
    assert match.ingredient_names == "morphine"


def test_code_from_another_system_is_not_an_rxnorm_code() -> None:
    assert identify_opioid(coded("7052", system="http://hl7.org/fhir/sid/ndc"), KNOWLEDGE) is None


def test_at_least_sixty_brands_each_found_by_name() -> None:
    brands = json.loads(resources.files("clinical.data").joinpath("opioids.json").read_text())[
        "brands"
    ]
    assert len(brands) >= 60
    for brand in brands:
        for label in (brand["name"], *brand["synonyms"]):
            match = identify_opioid(named(f"{label} tablet"), KNOWLEDGE)
            assert match is not None, label
            assert [i.name for i in match.ingredients] == brand["ingredients"], label
            assert match.depot is brand["depot"], label


OPIOID_SAMPLES = [
    *(("code", code, display) for code, display in cdc_value_sets()["oxycodone-medications"][:20]),
    *(("code", code, display) for code, display in cdc_value_sets()["methadone-medications"]),
    ("name", "", "hydromorphone 2 mg"),
    ("name", "", "Percocet"),
    ("name", "", "Suboxone"),
    ("name", "", "tramadol"),
    ("name", "", "codeine/guaifenesin syrup"),
]


def _place(kind: str, code: str, text: str, how: str) -> Concept:
    if kind == "code" and how == "code":
        return Concept((Coding(RXNORM, code),))
    if how == "display":
        return Concept((Coding("http://example.org/local", "x1", text),))
    return Concept(text=text)


@given(
    sample=st.sampled_from(OPIOID_SAMPLES),
    how=st.sampled_from(["code", "display", "text"]),
    fillers=st.lists(st.sampled_from(NON_OPIOID_FILLER), max_size=4),
    position=st.integers(min_value=0, max_value=5),
    in_ingredients=st.booleans(),
    decorate=st.sampled_from(["{}", "{} ", "  {}", "{}.", "({})", "{} (home med)", "1x {}"]),
    upper=st.booleans(),
)
def test_an_opioid_anywhere_in_any_representation_is_found(
    sample: tuple[str, str, str],
    how: str,
    fillers: list[str],
    position: int,
    in_ingredients: bool,
    decorate: str,
    upper: bool,
) -> None:
    kind, code, text = sample
    text = decorate.format(text.upper() if upper else text)
    opioid = _place(kind, code, text, how)
    others = [Concept(text=f) for f in fillers]
    others.insert(min(position, len(others)), opioid)
    if in_ingredients:
        medication = Medication(
            Concept(text="compounded preparation"),
            ingredients=tuple(Ingredient(concept) for concept in others),
        )
    else:
        codings = tuple(c for concept in others for c in concept.codings)
        texts = " / ".join(concept.text for concept in others if concept.text)
        medication = Medication(Concept(codings, texts or None))
    assert identify_opioid(medication, KNOWLEDGE) is not None


def test_washouts_are_the_articles() -> None:
    washouts = KNOWLEDGE.washouts
    assert (
        washouts[DurationClass.SHORT_ACTING].min_days,
        washouts[DurationClass.SHORT_ACTING].max_days,
    ) == (7, 10)
    for cls in (DurationClass.LONG_ACTING, DurationClass.BUPRENORPHINE):
        assert (washouts[cls].min_days, washouts[cls].max_days, washouts[cls].or_more) == (
            10,
            14,
            True,
        )
    methadone = washouts[DurationClass.METHADONE]
    assert methadone.max_days is None
    assert methadone.min_days is None
    assert methadone.specialist_guidance
    assert all("Critical Safety Issue: Opioids" in w.source for w in washouts.values())


def test_methadone_washout_can_be_configured_locally() -> None:
    local = KNOWLEDGE.with_washout(DurationClass.METHADONE, 21)
    assert local.washouts[DurationClass.METHADONE].max_days == 21
    assert local.washouts[DurationClass.METHADONE].configured
    assert KNOWLEDGE.washouts[DurationClass.METHADONE].max_days is None
    with pytest.raises(ValueError, match="at least one day"):
        KNOWLEDGE.with_washout(DurationClass.METHADONE, 0)


def test_load_is_cached() -> None:
    assert OpioidKnowledge.load() is KNOWLEDGE


def test_committed_data_matches_the_terminology_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    builder = Path(__file__).parents[2] / "tools" / "build_opioid_data.py"
    spec = importlib.util.spec_from_file_location("build_opioid_data", builder)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.main(["--check", "--terminology", str(TERMINOLOGY)]) == 0
