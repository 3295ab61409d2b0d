"""The ValueSets: expansions follow their compose, the opioid lists classify the known traps."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_profiles.artefacts import CANONICAL_BASE, canonical, load_artefact
from tests.fhir_profiles.conftest import load_tool

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
CONDITIONS = [
    "fibromyalgia",
    "crohns-disease",
    "multiple-sclerosis",
    "chronic-pain",
    "alcohol-use-disorder",
    "opioid-use-disorder",
    "liver-disease",
    "cancer",
    "obesity",
]
BUILT = [
    "opioid-products",
    "opioid-ingredients",
    "naltrexone-products",
    "naloxone-only-products",
    *(f"condition-{name}" for name in CONDITIONS),
]


def _value_set(vs_id: str) -> dict[str, Any]:
    return load_artefact(canonical("ValueSet", vs_id))


def _codes(vs_id: str) -> set[str]:
    return {entry["code"] for entry in _value_set(vs_id)["expansion"]["contains"]}


def _pairs(blocks: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(block["system"], c["code"]) for block in blocks for c in block.get("concept", [])}


@pytest.mark.parametrize("vs_id", BUILT)
def test_expansion_is_the_compose_includes_minus_its_excludes(vs_id: str) -> None:
    value_set = _value_set(vs_id)
    compose = value_set["compose"]
    expected = _pairs(compose["include"]) - _pairs(compose.get("exclude", []))
    contains = value_set["expansion"]["contains"]
    assert {(entry["system"], entry["code"]) for entry in contains} == expected
    assert len(contains) == len(expected) == value_set["expansion"]["total"]


@pytest.mark.parametrize("vs_id", BUILT)
def test_value_set_names_its_sources_and_code_system_notices(vs_id: str) -> None:
    value_set = _value_set(vs_id)
    assert "Sources (shared terminology snapshot):" in value_set["description"]
    systems = {block["system"] for block in value_set["compose"]["include"]}
    if SNOMED in systems:
        assert "SNOMED CT" in value_set["copyright"]
    if RXNORM in systems:
        assert "RxNorm" in value_set["copyright"]


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("351266", "buprenorphine/naloxone tablet: an opioid"),
        ("863845", "morphine with sequestered naltrexone (Embeda): an opioid"),
        ("312289", "pentazocine/naloxone: an opioid"),
    ],
)
def test_opioid_products_include_combinations_with_antagonists(code: str, what: str) -> None:
    assert code in _codes("opioid-products"), what


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("1725064", "Narcan nasal spray: naloxone only"),
        ("1483744", "naltrexone 50 mg tablet"),
        ("1551468", "bupropion/naltrexone"),
    ],
)
def test_opioid_products_leave_out_antagonists(code: str, what: str) -> None:
    assert code not in _codes("opioid-products"), what


def test_naloxone_only_products_contain_no_opioid_agonist() -> None:
    displays = [c["display"] for c in _value_set("naloxone-only-products")["expansion"]["contains"]]
    assert displays
    assert all("naloxone" in d and "buprenorphine" not in d for d in displays)
    assert all("pentazocine" not in d for d in displays)


def test_opioid_ingredients_leave_out_antidiarrheals_and_keep_the_washout_classes() -> None:
    codes = _codes("opioid-ingredients")
    assert {
        "1819",
        "6813",
        "7804",
        "4337",
    } <= codes  # buprenorphine, methadone, oxycodone, fentanyl
    assert not {"6468", "3500"} & codes  # loperamide, diphenoxylate


def test_naltrexone_products_are_naltrexone_only() -> None:
    assert _codes("naltrexone-products") == {"7243", "1483744", "637213", "1551468"}
    assert not _codes("naltrexone-products") & _codes("opioid-products")


@pytest.mark.parametrize(
    ("condition", "snomed", "icd10cm"),
    [
        ("fibromyalgia", "203082005", "M79.7"),
        ("multiple-sclerosis", "24700007", "G35.A"),
        ("alcohol-use-disorder", "66590003", "F10.20"),
        ("cancer", "363346000", "C50"),
    ],
)
def test_condition_sets_carry_snomed_and_icd10cm(condition: str, snomed: str, icd10cm: str) -> None:
    codes = _codes(f"condition-{condition}")
    assert {snomed, icd10cm} <= codes


def test_categories_matched_by_prefix_are_is_a_filters() -> None:
    value_set = load_artefact(canonical("ValueSet", "condition-cancer"))
    filters = [f for block in value_set["compose"]["include"] for f in block.get("filter", [])]
    assert {"property": "concept", "op": "is-a", "value": "C50"} in filters
    assert not [f for f in filters if f["value"].startswith("D3") or f["value"].startswith("D4")]


@pytest.mark.parametrize(
    "system_id",
    ["ldn-evidence-grade", "opioid-duration-class", "opioid-review-outcome", "cds-override-reason"],
)
def test_each_project_codesystem_has_a_value_set_with_all_its_codes(system_id: str) -> None:
    system = load_artefact(canonical("CodeSystem", system_id))
    value_set = load_artefact(system["valueSet"])
    assert value_set["compose"]["include"] == [
        {"system": system["url"], "version": system["version"]}
    ]
    assert {c["code"] for c in value_set["expansion"]["contains"]} == {
        c["code"] for c in system["concept"]
    }


def test_builder_writes_compose_and_expansion_with_the_exclusions_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tool = load_tool("build_valuesets")
    monkeypatch.setattr(tool, "snapshot_date", lambda: "2026-01-01")
    codes = [tool.Code(RXNORM, "2", "b"), tool.Code(RXNORM, "1", "a"), tool.Code(RXNORM, "2", "b")]
    excluded = [tool.Code(RXNORM, "2", "b")]
    source = tool.Source("Example list", "repo `path` @abc")
    built = tool.value_set("example", "Example", "An example set.", [source], codes, excluded)
    assert built["url"] == f"{CANONICAL_BASE}/ValueSet/example"
    assert built["compose"]["include"][0]["concept"] == [
        {"code": "1", "display": "a"},
        {"code": "2", "display": "b"},
    ]
    assert built["compose"]["exclude"][0]["concept"] == [{"code": "2", "display": "b"}]
    assert built["expansion"] == {
        "timestamp": "2026-01-01T00:00:00Z",
        "total": 1,
        "contains": [{"system": RXNORM, "code": "1", "display": "a"}],
    }
    assert "- Example list: repo `path` @abc" in built["description"]
