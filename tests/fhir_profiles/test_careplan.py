"""The LDN titration CarePlan: valid against base R4 and our profile for every kind of patient."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from clinical.assessment import AssessmentStatus, assess_naltrexone_order
from clinical.opioids import DurationClass, OpioidKnowledge
from fhir_profiles.artefacts import (
    CAREPLAN_IDENTIFIER_SYSTEM,
    CAREPLAN_PROFILE,
    DOCUMENTREFERENCE_PROFILE,
    OPIOID_REVIEW_EXTENSION,
    REVIEW_OUTCOME_SYSTEM,
    TITRATION_PLANDEFINITION,
    load_artefact,
)
from fhir_profiles.identifiers import AUTHOR_TYPES, AuthorReference, InvalidResourceInput
from fhir_profiles.validation import validate
from tests.fhir_profiles.save_cases import (
    CASES,
    HOSTILE,
    NO_OPIOIDS,
    TODAY,
    SaveCase,
    assert_no_errors,
    careplan_for,
    case_params,
    mg,
    parse_narrative,
)

CASE = {case.key: case for case in CASES}


def review_parts(careplan: dict[str, Any]) -> dict[str, Any]:
    (extension,) = [e for e in careplan["extension"] if e["url"] == OPIOID_REVIEW_EXTENSION]
    return {part["url"]: part for part in extension["extension"]}


def doses(careplan: dict[str, Any]) -> list[Any]:
    return [mg(a["detail"]["dailyAmount"]["value"]) for a in careplan["activity"]]


@case_params
def test_careplan_is_valid_r4_and_conforms_to_the_profile(case: SaveCase) -> None:
    careplan = careplan_for(case)
    assert careplan["meta"]["profile"] == [CAREPLAN_PROFILE]
    assert_no_errors(validate(careplan, CAREPLAN_PROFILE))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda cp: cp.pop("extension"), "extension"),
        (lambda cp: cp["activity"][0]["detail"]["dailyAmount"].update(value=50), "4.5"),
        (
            lambda cp: cp["activity"][0]["detail"]["scheduledTiming"]["repeat"].update(
                when=["MORN"]
            ),
            "HS",
        ),
        (lambda cp: cp.pop("category"), "category"),
    ],
    ids=["no-opioid-review", "full-dose", "morning-dose", "no-category"],
)
def test_the_validator_holds_plans_to_the_profile(damage: Any, expected: str) -> None:
    # Zero errors above means something only if the same validator finds what breaks the profile.
    careplan = copy.deepcopy(careplan_for(NO_OPIOIDS))
    damage(careplan)
    report = validate(careplan, CAREPLAN_PROFILE)
    assert report.errors, "the validator accepted a plan that breaks the profile"
    assert expected in report.summary()


@case_params
def test_the_opioid_review_outcome_is_recorded(case: SaveCase) -> None:
    parts = review_parts(careplan_for(case))
    coding = parts["outcome"]["valueCoding"]
    assert (coding["system"], coding["code"]) == (REVIEW_OUTCOME_SYSTEM, case.status.value)
    displays = {c["code"]: c["display"] for c in load_artefact(REVIEW_OUTCOME_SYSTEM)["concept"]}
    assert coding["display"] == displays[case.status.value]
    assert parts["reviewed"]["valueDate"] == TODAY.isoformat()
    earliest = case.assessment().earliest_start
    if case.status is AssessmentStatus.WAIT_UNTIL:
        assert parts["earliestStart"]["valueDate"] == str(earliest)
    else:
        assert "earliestStart" not in parts


@pytest.mark.parametrize(
    ("key", "start_shift", "status"),
    [
        ("no-opioids", 0, "active"),
        ("recent-oxycodone", 0, "active"),
        ("recent-oxycodone", -1, "draft"),
        ("active-oxycodone", 0, "draft"),
        ("recent-methadone", 0, "draft"),
        ("undated-morphine", 0, "draft"),
    ],
)
def test_only_a_plan_the_review_supports_is_active(key: str, start_shift: int, status: str) -> None:
    case = CASE[key]
    careplan = careplan_for(case, schedule=case.schedule(shift_days=start_shift))
    assert careplan["status"] == status
    step_statuses = [a["detail"]["status"] for a in careplan["activity"]]
    first = "scheduled" if status == "active" else "not-started"
    assert step_statuses == [first, "not-started", "not-started"]
    div = careplan["text"]["div"]
    assert ("draft" in div) is (status == "draft")


@pytest.mark.parametrize(
    ("interval", "target", "expected"),
    [(7, "4.5", ["1.5", "3", "4.5"]), (14, "3", ["1.5", "3"]), (7, "1.5", ["1.5"])],
)
def test_one_bedtime_activity_per_dose_step(
    interval: int, target: str, expected: list[str]
) -> None:
    schedule = NO_OPIOIDS.schedule(interval=interval, target=target)
    careplan = careplan_for(NO_OPIOIDS, schedule=schedule)
    assert doses(careplan) == [mg(dose) for dose in expected]
    for activity, step in zip(careplan["activity"], schedule.steps, strict=True):
        detail = activity["detail"]
        repeat = detail["scheduledTiming"]["repeat"]
        assert repeat["when"] == ["HS"]
        assert (repeat["frequency"], repeat["period"], repeat["periodUnit"]) == (1, 1, "d")
        assert repeat["boundsPeriod"]["start"] == step.first_day.isoformat()
        assert detail["dailyAmount"]["code"] == "mg"
        assert detail["productCodeableConcept"]["coding"][0]["code"] == "7243"
    *rising, maintenance = careplan["activity"]
    assert "end" not in maintenance["detail"]["scheduledTiming"]["repeat"]["boundsPeriod"]
    for activity in rising:
        bounds = activity["detail"]["scheduledTiming"]["repeat"]["boundsPeriod"]
        days = datetime.fromisoformat(bounds["end"]) - datetime.fromisoformat(bounds["start"])
        assert days == timedelta(days=interval - 1)
    assert careplan["period"] == {"start": schedule.start.isoformat()}
    assert_no_errors(validate(careplan, CAREPLAN_PROFILE))


def test_the_plan_follows_the_titration_plandefinition() -> None:
    careplan = careplan_for(NO_OPIOIDS)
    (canonical,) = careplan["instantiatesCanonical"]
    assert canonical.startswith(f"{TITRATION_PLANDEFINITION}|")
    assert load_artefact(canonical)["resourceType"] == "PlanDefinition"
    for activity in careplan["activity"]:
        (step,) = activity["detail"]["instantiatesCanonical"]
        definition = load_artefact(step)
        dose = definition["dosage"][0]["doseAndRate"][0]["doseQuantity"]["value"]
        assert mg(dose) == mg(activity["detail"]["dailyAmount"]["value"])


def test_identifier_subject_author_and_category() -> None:
    careplan = careplan_for(NO_OPIOIDS, note="Review at four weeks.")
    assert careplan["identifier"] == [
        {"system": CAREPLAN_IDENTIFIER_SYSTEM, "value": NO_OPIOIDS.plan_identifier}
    ]
    assert careplan["subject"] == {
        "reference": "Patient/patient-no-opioids",
        "display": "Alex Example",
    }
    assert careplan["encounter"] == {"reference": "Encounter/encounter-1"}
    assert careplan["author"] == {
        "reference": "Practitioner/prescriber-1",
        "display": "Dr Example Prescriber",
    }
    assert careplan["category"][0]["coding"][0]["code"] == "assess-plan"
    assert (careplan["intent"], careplan["created"]) == ("plan", "2026-11-25T14:30:00Z")
    assert careplan["note"] == [{"text": "Review at four weeks.", "time": "2026-11-25T14:30:00Z"}]


def test_hostile_text_is_escaped_in_the_narrative() -> None:
    careplan = careplan_for(NO_OPIOIDS, patient_name=HOSTILE, note=HOSTILE)
    div = careplan["text"]["div"]
    assert "<script" not in div
    assert "<img" not in div
    assert "&lt;script&gt;" in div
    assert HOSTILE in "".join(parse_narrative(div).itertext())
    assert_no_errors(validate(careplan, CAREPLAN_PROFILE))


def test_the_narrative_says_what_the_review_found() -> None:
    case = CASE["recent-oxycodone"]
    careplan = careplan_for(case)
    text = "".join(parse_narrative(careplan["text"]["div"]).itertext())
    assert "Wait until washout ends" in text
    assert f"earliest start {case.assessment().earliest_start}" in text
    assert "oxycodone" in text
    assert "once nightly at bedtime" in text
    assert "ongoing (maintenance)" in text


def test_a_configured_methadone_washout_gives_a_wait_with_a_date() -> None:
    case = CASE["recent-methadone"]
    knowledge = OpioidKnowledge.load().with_washout(DurationClass.METHADONE, 30)
    assessment = assess_naltrexone_order(None, case.records, knowledge, TODAY)
    careplan = careplan_for(case, assessment=assessment)
    assert review_parts(careplan)["outcome"]["valueCoding"]["code"] == "wait-until"
    assert review_parts(careplan)["earliestStart"]["valueDate"] == str(assessment.earliest_start)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"created": datetime(2026, 11, 25, 14, 30)}, "time zone"),
        ({"patient_id": "../Patient/1"}, "Patient id"),
        ({"plan_identifier": "plan-1"}, "UUID"),
        ({"plan_identifier": NO_OPIOIDS.plan_identifier.upper()}, "lower-case"),
        ({"encounter_id": "a b"}, "Encounter"),
        ({"note": 42}, "note"),
        ({"assessment": "safe-to-start"}, "Assessment"),
        ({"schedule": None}, "TitrationSchedule"),
        ({"author": "Practitioner/1"}, "AuthorReference"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidResourceInput, match=message):
        careplan_for(NO_OPIOIDS, **changes)


@pytest.mark.parametrize(
    "reference", ["Patient/1", "Practitioner", "javascript:alert(1)", "Practitioner/a b"]
)
def test_an_author_must_be_a_practitioner_role_organization_or_device(reference: str) -> None:
    with pytest.raises(InvalidResourceInput, match="author"):
        AuthorReference(reference)


@pytest.mark.parametrize(
    "reference",
    [
        "Practitioner/123",
        "PractitionerRole/abc",
        "https://ehr.example.org/fhir/Practitioner/123",
        "Device/ldn-safety-app",
        "Organization/clinic",
    ],
)
def test_an_author_may_be_a_fhir_user_or_the_app(reference: str) -> None:
    careplan = careplan_for(NO_OPIOIDS, author=AuthorReference(reference))
    assert careplan["author"] == {"reference": reference}
    assert_no_errors(validate(careplan, CAREPLAN_PROFILE))


@pytest.mark.parametrize("profile", [CAREPLAN_PROFILE, DOCUMENTREFERENCE_PROFILE])
def test_both_profiles_accept_every_kind_of_author_the_builders_allow(profile: str) -> None:
    # pyrofile does not check reference targets, so the profile's own list is read here.
    elements = load_artefact(profile)["differential"]["element"]
    (author,) = [e for e in elements if e["id"].endswith(".author")]
    targets = {target.rsplit("/", 1)[1] for target in author["type"][0]["targetProfile"]}
    assert targets >= AUTHOR_TYPES
