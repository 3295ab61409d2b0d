"""The titration PlanDefinition carries the article's protocol, and the CarePlans follow it."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from fhir_profiles.artefacts import EXAMPLES_DIR, TITRATION_PLANDEFINITION, load_artefact
from tests.fhir_profiles.conftest import read_json

STEP = Decimal("1.5")


def _steps() -> list[dict[str, Any]]:
    plan = load_artefact(TITRATION_PLANDEFINITION)
    [titration] = plan["action"]
    return list(titration["action"])


def _dose(activity: dict[str, Any]) -> Decimal:
    [dosage] = activity["dosage"]
    [dose_and_rate] = dosage["doseAndRate"]
    quantity = dose_and_rate["doseQuantity"]
    assert (quantity["system"], quantity["code"]) == ("http://unitsofmeasure.org", "mg")
    return Decimal(str(quantity["value"]))


def test_plan_is_a_clinical_protocol_with_the_washout_precondition() -> None:
    plan = load_artefact(TITRATION_PLANDEFINITION)
    assert plan["type"]["coding"][0]["code"] == "clinical-protocol"
    [titration] = plan["action"]
    [condition] = titration["condition"]
    assert condition["kind"] == "applicability"
    assert "washout" in condition["expression"]["description"]


def test_dose_steps_start_at_1_5_mg_rise_by_1_5_mg_and_end_at_4_5_mg() -> None:
    doses = [_dose(load_artefact(step["definitionCanonical"])) for step in _steps()]
    assert doses[0] == STEP
    assert doses[-1] == Decimal("4.5")
    assert all(later - earlier == STEP for earlier, later in itertools.pairwise(doses))


def test_only_the_first_step_is_required_so_the_target_can_be_1_5_or_3_mg() -> None:
    assert [step["requiredBehavior"] for step in _steps()] == ["must", "could", "could"]


def test_each_later_step_starts_7_to_14_days_after_the_previous_one() -> None:
    steps = _steps()
    for previous, step in itertools.pairwise(steps):
        [relation] = step["relatedAction"]
        assert relation["actionId"] == previous["id"]
        assert relation["relationship"] == "after-start"
        offset = relation["offsetRange"]
        assert (offset["low"]["value"], offset["high"]["value"]) == (7, 14)
        assert offset["low"]["code"] == offset["high"]["code"] == "d"


@pytest.mark.parametrize("step", _steps(), ids=lambda s: s["id"])
def test_each_step_orders_compounded_naltrexone_by_mouth_at_bedtime(step: dict[str, Any]) -> None:
    activity = load_artefact(step["definitionCanonical"])
    assert activity["kind"] == "MedicationRequest"
    assert activity["productCodeableConcept"]["coding"][0]["code"] == "7243"
    assert "compounded" in activity["productCodeableConcept"]["text"]
    [dosage] = activity["dosage"]
    assert dosage["timing"]["repeat"]["when"] == ["HS"]
    assert f"{_dose(activity).normalize()} mg" in dosage["text"]


@pytest.mark.parametrize(
    "name", ["CarePlan-ldn-titration-example.json", "CarePlan-ldn-titration-target-3mg.json"]
)
def test_example_careplan_steps_match_their_activity_definitions(name: str) -> None:
    careplan = read_json(EXAMPLES_DIR / "valid" / name)
    assert careplan["instantiatesCanonical"][0].partition("|")[0] == TITRATION_PLANDEFINITION
    doses = []
    for activity in careplan["activity"]:
        detail = activity["detail"]
        definition = load_artefact(detail["instantiatesCanonical"][0])
        amount = Decimal(str(detail["dailyAmount"]["value"]))
        assert amount == _dose(definition)
        doses.append(amount)
    assert doses == [STEP * (i + 1) for i in range(len(doses))]
