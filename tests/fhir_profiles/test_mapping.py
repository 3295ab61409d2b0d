"""FHIR JSON to clinical records: every shape a server sends, and every way it can be wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinical.records import RXNORM, MedicationRecord, Quantity, RecordGlance, Source
from fhir_profiles.mapping import (
    MappingResult,
    PatientBanner,
    Problem,
    is_operation_outcome,
    read_bundle,
    read_condition_bundle,
    read_conditions,
    read_medication_records,
    read_patient,
    summarise_operation_outcome,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mapping"
MG = Quantity(4.5, "mg")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def only_record(result: MappingResult[MedicationRecord]) -> MedicationRecord:
    assert result.problems == ()
    (record,) = result.records
    return record


def rxnorm_codes(record: MedicationRecord) -> set[str]:
    return {code for concept in record.medication.concepts() for code in concept.codes(RXNORM)}


_MEDICATION_CHOICES = ("medicationCodeableConcept", "medicationReference", "medication")


def _resource(kind: str, ident: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Build a resource with naltrexone as its medication unless ``fields`` names another."""
    resource: dict[str, Any] = {"resourceType": kind, "id": ident, "status": "active"}
    if not any(choice in fields for choice in _MEDICATION_CHOICES):
        resource["medicationCodeableConcept"] = {"text": "naltrexone"}
    return resource | fields


def statement(**fields: Any) -> dict[str, Any]:
    return _resource("MedicationStatement", "ms", fields)


def request(**fields: Any) -> dict[str, Any]:
    return _resource("MedicationRequest", "mr", fields)


def read_one(resource: dict[str, Any]) -> MedicationRecord:
    (record,) = read_medication_records([resource]).records
    return record


# --- the same LDN 4.5 mg order, in every representation a server may use ---------------------


def _from_file(name: str) -> MappingResult[MedicationRecord]:
    return read_medication_records([fixture(name)])


def _from_bundle(name: str) -> MappingResult[MedicationRecord]:
    return read_bundle(fixture(name))


def _with_separate_medication(name: str) -> MappingResult[MedicationRecord]:
    medication = fixture("medication-ldn-4-5mg-cap.json")
    return read_medication_records(
        [fixture(name)], medications={"Medication/ldn-4-5mg-cap": medication}
    )


SAME_LDN = [
    # (fixture, reader, source, RxNorm codes, ingredient strengths)
    ("statement-coded.json", _from_file, Source.STATEMENT, {"7243"}, ()),
    ("statement-text-only.json", _from_file, Source.STATEMENT, set(), ()),
    ("request-contained.json", _from_file, Source.REQUEST, {"7243"}, (MG,)),
    ("nonconformant-request-r5-medication.json", _from_file, Source.REQUEST, {"7243"}, (MG,)),
    (
        "request-separate-medication.json",
        _with_separate_medication,
        Source.REQUEST,
        {"7243"},
        (MG,),
    ),
    ("bundle-searchset-include.json", _from_bundle, Source.REQUEST, {"7243"}, (MG,)),
    ("bundle-collection-absolute.json", _from_bundle, Source.REQUEST, {"7243"}, (MG,)),
    ("bundle-transaction-uuid.json", _from_bundle, Source.REQUEST, {"7243"}, (MG,)),
    ("bundle-compounded-ingredients.json", _from_bundle, Source.REQUEST, {"7243"}, (MG, None)),
]


@pytest.mark.parametrize(
    ("name", "reader", "source", "codes", "strengths"), SAME_LDN, ids=[row[0] for row in SAME_LDN]
)
def test_the_same_ldn_order_reads_the_same_from_every_shape(
    name: str,
    reader: Callable[[str], MappingResult[MedicationRecord]],
    source: Source,
    codes: set[str],
    strengths: tuple[Quantity | None, ...],
) -> None:
    record = only_record(reader(name))
    assert record.source is source
    assert record.status == "active"
    assert record.problems == ()
    assert rxnorm_codes(record) == codes
    assert any(
        "naltrexone" in word.lower() for c in record.medication.concepts() for word in c.words()
    )
    assert record.doses == (MG,)
    assert tuple(i.strength for i in record.medication.ingredients) == strengths


def test_request_dates_and_supply_come_from_authored_on_and_dispense_request() -> None:
    record = only_record(_from_file("request-contained.json"))
    # authoredOn "2025-01-06T09:30:00-05:00": the date as written; 30 days x (1 + 2 repeats).
    assert record.started == date(2025, 1, 6)
    assert record.asserted == date(2025, 1, 6)
    assert record.ended is None
    assert record.supply_days == 90
    assert record.dosage_text == ("4.5 mg by mouth at bedtime",)


@pytest.mark.parametrize(
    ("dispense", "started", "supply"),
    [
        ({"whenHandedOver": "2026-03-01T16:40:00-05:00", "daysSupply": {"value": 3}}, 1, 3),
        ({"whenPrepared": "2026-03-01", "daysSupply": {"value": 2, "unit": "wk"}}, 1, 14),
        # A partial date is its last day: the fill may have been at the end of the month.
        ({"whenHandedOver": "2026-03", "daysSupply": {"value": 5, "code": "d"}}, 31, 5),
        ({"whenHandedOver": "2026-03-01"}, 1, None),
    ],
)
def test_dispense_dates_come_from_hand_over_and_days_supply(
    dispense: dict[str, Any], started: int, supply: int | None
) -> None:
    resource = {
        "resourceType": "MedicationDispense",
        "id": "md-1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Hydrocodone/APAP 5/325 mg"},
        **dispense,
    }
    record = only_record(read_medication_records([resource]))
    assert record.source is Source.DISPENSE
    assert (record.started, record.ended, record.supply_days) == (
        date(2026, 3, started),
        None,
        supply,
    )
    assert record.reference == "MedicationDispense/md-1"


@pytest.mark.parametrize(
    ("effective", "started", "ended"),
    [
        ({"effectiveDateTime": "2026-03-10T09:30:00Z"}, date(2026, 3, 10), date(2026, 3, 10)),
        (
            {"effectivePeriod": {"start": "2026-03-10T09:00:00Z", "end": "2026-03-11T01:00:00Z"}},
            date(2026, 3, 10),
            date(2026, 3, 11),
        ),
        ({"effectivePeriod": {"start": "2026-03-10"}}, date(2026, 3, 10), None),
    ],
)
def test_an_administration_time_is_its_last_exposure(
    effective: dict[str, Any], started: date, ended: date | None
) -> None:
    resource = {
        "resourceType": "MedicationAdministration",
        "id": "ma-1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Fentanyl citrate 50 mcg/mL injection"},
        "dosage": {"text": "100 mcg IV at induction"},
        **effective,
    }
    record = only_record(read_medication_records([resource]))
    assert record.source is Source.ADMINISTRATION
    assert (record.started, record.ended) == (started, ended)
    assert record.dosage_text == ("100 mcg IV at induction",)


def test_a_days_supply_in_an_unknown_unit_is_a_problem_not_a_guess() -> None:
    resource = {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationCodeableConcept": {"text": "oxycodone 5 mg"},
        "whenHandedOver": "2026-03-01",
        "daysSupply": {"value": 3, "unit": "fortnights"},
    }
    record = only_record(read_medication_records([resource]))
    assert record.supply_days is None
    assert any("daysSupply" in problem for problem in record.problems)


def test_statement_dates_come_from_effective_period_and_date_asserted() -> None:
    record = only_record(_from_file("statement-coded.json"))
    assert (record.started, record.ended, record.asserted) == (
        date(2025, 1, 6),
        None,
        date(2025, 2, 1),
    )
    assert record.reference == "MedicationStatement/ldn-coded"


def test_contained_medication_keeps_form_and_ingredient_coding() -> None:
    medication = only_record(_from_file("request-contained.json")).medication
    assert medication.concept.text == (
        "Naltrexone 4.5 mg oral capsule (compounded, low-dose naltrexone)"
    )
    assert medication.form is not None
    assert medication.form.text == "capsule"
    (ingredient,) = medication.ingredients
    assert ingredient.item.text == "naltrexone hydrochloride"


def test_reference_display_names_a_medication_whose_code_has_no_text() -> None:
    resource = request(
        contained=[{"resourceType": "Medication", "id": "m", "code": {"coding": [{"code": "1"}]}}],
        medicationReference={"reference": "#m", "display": "Low-dose naltrexone"},
    )
    concept = read_one(resource).medication.concept
    assert (concept.text, [c.code for c in concept.codings]) == ("Low-dose naltrexone", ["1"])


def test_ingredient_reference_to_another_medication_takes_its_code() -> None:
    record = only_record(_from_bundle("bundle-compounded-ingredients.json"))
    naltrexone, filler = record.medication.ingredients
    assert naltrexone.item.text == "Naltrexone HCl USP powder"
    assert naltrexone.strength == MG  # 45 mg per 10 capsules
    assert filler.item.text == "microcrystalline cellulose"


def test_ingredient_reference_inside_a_contained_medication_resolves_in_the_container() -> None:
    blend = {
        "resourceType": "Medication",
        "id": "blend",
        "code": {"text": "LDN capsules"},
        "ingredient": [{"itemReference": {"reference": "#api"}}],
    }
    api = {
        "resourceType": "Substance",
        "id": "api",
        "code": {"coding": [{"system": RXNORM, "code": "7243"}]},
    }
    record = read_one(request(contained=[blend, api], medicationReference={"reference": "#blend"}))
    assert (rxnorm_codes(record), record.problems) == ({"7243"}, ())


@pytest.mark.parametrize(
    "reference",
    ["Medication/ldn-4-5mg-cap", "Medication/ldn-4-5mg-cap/_history/3"],
)
def test_separate_medication_is_found_by_its_own_id(reference: str) -> None:
    resource = fixture("request-separate-medication.json")
    resource["medicationReference"]["reference"] = reference
    medication = fixture("medication-ldn-4-5mg-cap.json")
    result = read_medication_records([resource], medications={"anything": medication})
    assert rxnorm_codes(only_record(result)) == {"7243"}


def test_included_medication_in_the_resource_list_resolves_references() -> None:
    bundle = fixture("bundle-searchset-include.json")
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert rxnorm_codes(only_record(read_medication_records(reversed(resources)))) == {"7243"}


# --- unresolved references are kept, with what is known and what is not ----------------------


def test_medications_passed_separately_also_resolve_bundle_references() -> None:
    oxycodone = {"resourceType": "Medication", "id": "not-included", "code": {"text": "oxycodone"}}
    result = read_bundle(
        fixture("bundle-unresolved-reference.json"),
        medications={"Medication/not-included": oxycodone},
    )
    assert [(r.medication.concept.text, r.problems) for r in result.records] == [("oxycodone", ())]


@pytest.mark.parametrize(
    "medication",
    [
        {"medicationCodeableConcept": {}},
        {"medicationCodeableConcept": {"coding": [{"system": RXNORM}]}},
        {"medication": {"concept": {"text": ""}}},
    ],
)
def test_a_medication_that_names_nothing_is_said_not_passed_as_checked(
    medication: dict[str, Any],
) -> None:
    assert read_one(statement(**medication)).problems == (
        "medication[x] has no code, display or text",
    )


def test_unresolved_reference_keeps_the_record_with_its_display_and_a_problem() -> None:
    result = read_bundle(fixture("bundle-unresolved-reference.json"))
    (record,) = result.records
    assert record.medication.concept.text == "oxyCODONE 5 mg tablet"
    assert record.problems == ("medicationReference Medication/not-included could not be resolved",)
    # The server's own warning about the search is passed on, not swallowed.
    (problem,) = result.problems
    assert problem.where == "Bundle.entry[1] OperationOutcome (no id)"
    assert "_include limit reached" in problem.message


@pytest.mark.parametrize(
    ("medication", "problem"),
    [
        ({"medicationReference": {"reference": "#gone"}}, "medicationReference #gone could not"),
        ({"medicationReference": {"display": "tramadol"}}, "has no literal reference"),
        ({"medicationReference": {"reference": "#s"}}, "#s is not a Medication"),
        ({"medication": {"reference": {"reference": "Medication/x"}}}, "medication.reference"),
    ],
)
def test_references_that_cannot_be_followed_are_recorded(
    medication: dict[str, Any], problem: str
) -> None:
    resource = {
        "resourceType": "MedicationRequest",
        "contained": [{"resourceType": "Substance", "id": "s", "code": {"text": "x"}}],
        **medication,
    }
    (record_problem,) = read_one(resource).problems
    assert problem in record_problem


# --- everything that is not a readable medication resource is reported, never dropped ---------


@pytest.mark.parametrize(
    ("item", "where", "message"),
    [
        (["not", "a", "resource"], "resources[0]", "is a JSON array, not a resource"),
        ("MedicationStatement", "resources[0]", "is a JSON string, not a resource"),
        ({"id": "x"}, "resources[0]", "is a JSON object without a resourceType"),
        ({"resourceType": ["MedicationStatement"]}, "resources[0]", "without a resourceType"),
        (
            {"resourceType": "Observation", "id": "o"},
            "resources[0] Observation/o",
            "is not a MedicationStatement or MedicationRequest or MedicationDispense or "
            "MedicationAdministration",
        ),
        (
            {"resourceType": "MedicationStatement", "id": "a", "status": "active"},
            "resources[0] MedicationStatement/a",
            "has no medication[x]",
        ),
        (
            {"resourceType": "MedicationRequest", "medicationCodeableConcept": "oxycodone"},
            "resources[0] MedicationRequest (no id)",
            "has no readable medication[x]: medicationCodeableConcept is not an object",
        ),
        (
            {"resourceType": "MedicationStatement", "medication": {"text": "oxycodone"}},
            "resources[0] MedicationStatement (no id)",
            "medication has neither concept nor reference",
        ),
        (
            {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]},
            "resources[0] OperationOutcome (no id)",
            "the server reported: error (x)",
        ),
    ],
)
def test_unreadable_resources_are_reported_with_where_and_why(
    item: object, where: str, message: str
) -> None:
    result = read_medication_records([item])
    assert result.records == ()
    (problem,) = result.problems
    assert problem.where == where
    assert message in problem.message


def test_problems_name_the_resource_type_so_other_orders_can_be_told_apart() -> None:
    drafts = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "ServiceRequest", "id": "lab", "status": "draft"}},
            {"resource": {"resourceType": "MedicationRequest", "id": "ldn", "status": "draft"}},
        ],
    }
    assert [(p.resource_type, p.message) for p in read_bundle(drafts).problems] == [
        (
            "ServiceRequest",
            "is not a MedicationStatement or MedicationRequest or MedicationDispense or "
            "MedicationAdministration",
        ),
        ("MedicationRequest", "has no medication[x]"),
    ]


def test_informational_outcome_and_referenced_resources_are_not_problems() -> None:
    info = {"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]}
    medication = {"resourceType": "Medication", "id": "m"}
    assert read_medication_records([info, medication]) == MappingResult()


@pytest.mark.parametrize(
    ("bundle", "problem"),
    [
        (None, Problem("Bundle", "is a JSON null, not a resource")),
        ({"resourceType": "Patient"}, Problem("Bundle", "is Patient (no id), not a Bundle")),
        (
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "fatal", "code": "timeout"}],
            },
            Problem("Bundle", "is an OperationOutcome: fatal (timeout)"),
        ),
        ({"resourceType": "Bundle", "entry": {}}, Problem("Bundle.entry", "is not an array")),
        ({"resourceType": "Bundle", "entry": [7]}, Problem("Bundle.entry[0]", "is not an object")),
        (
            {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1"}]},
            Problem("Bundle.entry[0]", "has no resource"),
        ),
    ],
)
def test_malformed_bundles_are_reported(bundle: object, problem: Problem) -> None:
    assert read_bundle(bundle) == MappingResult(problems=(problem,))


def test_an_empty_searchset_is_no_records_and_no_problems() -> None:
    assert read_bundle({"resourceType": "Bundle", "type": "searchset", "total": 0}) == (
        MappingResult()
    )


def test_problem_reads_as_where_and_why() -> None:
    assert str(Problem("Bundle.entry[0]", "has no resource")) == "Bundle.entry[0]: has no resource"


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "started", "ended", "asserted"),
    [
        (
            {"effectivePeriod": {"start": "2024", "end": "2024"}},
            date(2024, 1, 1),
            date(2024, 12, 31),
            None,
        ),
        (
            {"effectivePeriod": {"start": "2024-02", "end": "2024-02"}},
            date(2024, 2, 1),
            date(2024, 2, 29),
            None,
        ),
        ({"effectivePeriod": {"end": "2023-02"}}, None, date(2023, 2, 28), None),
        ({"effectiveDateTime": "2024-03-05T23:30:00-05:00"}, date(2024, 3, 5), None, None),
        ({"effectiveDateTime": "2024-03-05T23:30:00.123Z"}, date(2024, 3, 5), None, None),
        ({"effectiveDateTime": "2024-03-05T23:30"}, date(2024, 3, 5), None, None),
        (
            {"effectivePeriod": {"end": "2024-03-09"}, "effectiveDateTime": "2024-03-01"},
            date(2024, 3, 1),
            date(2024, 3, 9),
            None,
        ),
        ({"dateAsserted": "2024-06"}, None, None, date(2024, 6, 30)),
    ],
)
def test_statement_dates_take_the_safe_end_of_a_partial_date(
    fields: dict[str, Any], started: date | None, ended: date | None, asserted: date | None
) -> None:
    record = read_one(statement(**fields))
    assert (record.started, record.ended, record.asserted) == (started, ended, asserted)
    assert record.problems == ()


def test_request_authored_on_is_the_first_day_as_start_and_the_last_as_asserted() -> None:
    record = read_one(request(authoredOn="2024-11"))
    assert (record.started, record.asserted) == (date(2024, 11, 1), date(2024, 11, 30))


def test_request_validity_period_wins_over_authored_on() -> None:
    validity = {"validityPeriod": {"start": "2024-01-10", "end": "2024-07"}}
    record = read_one(request(authoredOn="2024-01-02", dispenseRequest=validity))
    assert (record.started, record.ended, record.asserted) == (
        date(2024, 1, 10),
        date(2024, 7, 31),
        date(2024, 1, 2),
    )


@pytest.mark.parametrize("text", ["2024-13-01", "2023-02-29", "yesterday", "2024-1-5", "0000"])
def test_invalid_dates_are_unknown_and_said(text: str) -> None:
    record = read_one(statement(effectivePeriod={"end": text}))
    assert record.ended is None
    assert record.problems == ("effectivePeriod.end is not a valid FHIR date",)


# --- supply -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dispense", "days"),
    [
        ({"expectedSupplyDuration": {"value": 30, "code": "d"}}, 30),
        (
            {"expectedSupplyDuration": {"value": 30, "unit": "days"}, "numberOfRepeatsAllowed": 2},
            90,
        ),
        ({"expectedSupplyDuration": {"value": 4, "unit": "weeks", "code": "wk"}}, 28),
        ({"expectedSupplyDuration": {"value": 1, "code": "mo"}}, 31),
        ({"expectedSupplyDuration": {"value": 3, "code": "mo"}, "numberOfRepeatsAllowed": 1}, 183),
        ({"expectedSupplyDuration": {"value": 36, "code": "h"}}, 2),
        ({"expectedSupplyDuration": {"value": 7.5, "code": "d"}}, 8),
        ({"quantity": {"value": 30, "unit": "capsule"}}, None),
    ],
)
def test_supply_days_cover_every_allowed_fill_rounded_up(
    dispense: dict[str, Any], days: int | None
) -> None:
    record = read_one(request(dispenseRequest=dispense))
    assert (record.supply_days, record.problems) == (days, ())


@pytest.mark.parametrize(
    ("dispense", "days", "problem"),
    [
        ({"expectedSupplyDuration": {"value": 2, "unit": "fortnight"}}, None, "fortnight is not"),
        ({"expectedSupplyDuration": {"value": -5, "code": "d"}}, None, "value is negative"),
        ({"expectedSupplyDuration": {"code": "d"}}, None, "has no value"),
        ({"expectedSupplyDuration": {"value": "30", "code": "d"}}, None, "value is not a number"),
        (
            {"expectedSupplyDuration": {"value": 30, "code": "d"}, "numberOfRepeatsAllowed": "2"},
            30,
            "numberOfRepeatsAllowed is not a whole number",
        ),
    ],
)
def test_unreadable_supply_is_unknown_and_said(
    dispense: dict[str, Any], days: int | None, problem: str
) -> None:
    record = read_one(request(dispenseRequest=dispense))
    assert record.supply_days == days
    (record_problem,) = record.problems
    assert problem in record_problem


# --- doses and strengths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose_and_rate", "dose"),
    [
        ({"doseQuantity": {"value": 4.5, "unit": "mg"}}, MG),
        ({"doseQuantity": {"value": 4500, "unit": "mcg"}}, MG),
        ({"doseQuantity": {"value": 4500, "unit": "micrograms", "code": "ug"}}, MG),
        ({"doseQuantity": {"value": 4500, "unit": "µg"}}, MG),
        ({"doseQuantity": {"value": 0.0045, "unit": "g"}}, MG),
        ({"doseQuantity": {"value": 4.5, "unit": "milligram", "code": "mg"}}, MG),
        ({"doseQuantity": {"value": 4.5, "unit": "MG"}}, MG),
        (
            {"doseQuantity": {"value": 1, "unit": "capsule", "code": "{capsule}"}},
            Quantity(1, "capsule"),
        ),
        ({"doseQuantity": {"value": 5, "code": "mL"}}, Quantity(5, "mL")),
        ({"doseQuantity": {"value": 2}}, Quantity(2, None)),
        (
            {
                "doseRange": {
                    "low": {"value": 1.5, "unit": "mg"},
                    "high": {"value": 4.5, "unit": "mg"},
                }
            },
            MG,
        ),
        ({"doseRange": {"low": {"value": 4.5, "unit": "mg"}}}, MG),
    ],
)
def test_doses_are_read_in_mg_when_the_unit_is_a_mass(
    dose_and_rate: dict[str, Any], dose: Quantity
) -> None:
    record = read_one(statement(dosage=[{"doseAndRate": [dose_and_rate]}]))
    assert (record.doses, record.problems) == ((dose,), ())


def test_every_dosage_text_and_patient_instruction_is_kept_in_order() -> None:
    dosage = [
        {"text": "1.5 mg at bedtime", "patientInstruction": "take with water"},
        {"text": "then 3 mg", "doseAndRate": [{"doseQuantity": {"value": 3, "unit": "mg"}}]},
    ]
    record = read_one(request(dosageInstruction=dosage))
    assert record.dosage_text == ("1.5 mg at bedtime", "take with water", "then 3 mg")
    assert record.doses == (Quantity(3, "mg"),)


def test_a_lone_object_where_an_array_belongs_is_read() -> None:
    dosage = {"doseAndRate": {"doseQuantity": {"value": 4.5, "unit": "mg"}}}
    record = read_one(statement(dosage=[dosage]))
    assert record.doses == (Quantity(4.5, "mg"),)
    assert record.problems == ()


@pytest.mark.parametrize(
    ("dosage", "problem"),
    [
        ({"doseAndRate": [{"doseQuantity": {"value": "4.5", "unit": "mg"}}]}, "is not a number"),
        ({"doseAndRate": [{"doseQuantity": {"unit": "mg"}}]}, "doseQuantity has no value"),
        ({"doseAndRate": [{"doseQuantity": {"value": True, "unit": "mg"}}]}, "is not a number"),
        ({"doseAndRate": "4.5 mg"}, "dosage[0].doseAndRate is not an array"),
        ({"text": 45}, "dosage[0].text is not a string"),
    ],
)
def test_unreadable_doses_are_said_on_the_record(dosage: dict[str, Any], problem: str) -> None:
    record = read_one(statement(dosage=[dosage]))
    assert record.doses == ()
    (record_problem,) = record.problems
    assert problem in record_problem


def _strength(numerator: dict[str, Any], denominator: dict[str, Any] | None) -> Quantity | None:
    ratio = {"numerator": numerator} | ({"denominator": denominator} if denominator else {})
    medication = {
        "resourceType": "Medication",
        "id": "m",
        "ingredient": [{"itemCodeableConcept": {"text": "naltrexone"}, "strength": ratio}],
    }
    record = read_one(request(contained=[medication], medicationReference={"reference": "#m"}))
    assert record.problems == ()
    return record.medication.ingredients[0].strength


@pytest.mark.parametrize(
    ("numerator", "denominator", "per_unit"),
    [
        ({"value": 4.5, "code": "mg"}, {"value": 1, "unit": "capsule"}, MG),
        ({"value": 9, "code": "mg"}, {"value": 2, "code": "{tbl}"}, MG),
        ({"value": 4500, "code": "ug"}, {"value": 1, "code": "1"}, MG),
        ({"value": 4.5, "code": "mg"}, None, MG),
        (
            {"value": 1, "code": "mg"},
            {"value": 1, "unit": "milliliter", "code": "mL"},
            Quantity(1, "mg/mL"),
        ),
        ({"value": 25, "code": "ug"}, {"value": 1, "code": "h"}, Quantity(0.025, "mg/h")),
    ],
)
def test_strength_is_per_unit_of_product_and_keeps_volume_or_time(
    numerator: dict[str, Any], denominator: dict[str, Any] | None, per_unit: Quantity
) -> None:
    assert _strength(numerator, denominator) == per_unit


def test_r5_ingredient_shapes_are_read() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m",
        "doseForm": {"text": "capsule"},
        "ingredient": [
            {
                "item": {"concept": {"coding": [{"system": RXNORM, "code": "7243"}]}},
                "strengthRatio": {"numerator": {"value": 4.5, "code": "mg"}},
            },
            {
                "item": {"concept": {"text": "lactose"}},
                "strengthQuantity": {"value": 20, "code": "mg"},
            },
        ],
    }
    record = read_one(
        request(contained=[medication], medication={"reference": {"reference": "#m"}})
    )
    assert rxnorm_codes(record) == {"7243"}
    assert [i.strength for i in record.medication.ingredients] == [MG, Quantity(20, "mg")]
    assert record.medication.form is not None
    assert record.medication.form.text == "capsule"


# --- hostile text is data ---------------------------------------------------------------------


def test_markup_and_very_long_text_pass_through_untouched() -> None:
    hostile = "<script>alert(1)</script>**bold** [x](javascript:alert(1)) " + "ä" * 200_000
    record = read_one(
        statement(medicationCodeableConcept={"text": hostile}, dosage=[{"text": hostile}])
    )
    assert record.medication.concept.text == hostile
    assert record.dosage_text == (hostile,)


def test_a_hostile_reference_is_shortened_in_the_problem_message() -> None:
    resource = request(medicationReference={"reference": "Medication/" + "x" * 10_000})
    (problem,) = read_one(resource).problems
    assert len(problem) < 200
    assert problem.endswith("could not be resolved")


# --- conditions and patient -------------------------------------------------------------------


def test_conditions_are_read_and_the_unreadable_ones_said() -> None:
    result = read_condition_bundle(fixture("nonconformant-bundle-conditions.json"))
    fibromyalgia, alcohol, crohns = result.records
    assert list(fibromyalgia.code.codes("http://snomed.info/sct")) == ["203082005"]
    assert (fibromyalgia.clinical_status, fibromyalgia.verification_status) == (
        "active",
        "confirmed",
    )
    assert fibromyalgia.onset == date(2019, 3, 1)
    assert (alcohol.clinical_status, alcohol.onset, alcohol.abatement) == (
        "resolved",
        date(2015, 1, 1),
        date(2021, 12, 31),
    )
    assert (crohns.code.text, crohns.onset) == ("Crohn's disease", None)
    assert [str(p) for p in result.problems] == [
        "Bundle.entry[2] Condition/no-code: has no code",
        "Bundle.entry[3] Condition/bad-onset: onsetDateTime is not a valid FHIR date",
    ]


def test_read_conditions_reports_what_is_not_a_readable_condition() -> None:
    result = read_conditions(
        [
            {"resourceType": "MedicationStatement", "id": "m"},
            {"resourceType": "Condition", "id": "c", "code": "K50.90"},
        ]
    )
    assert result.problems == (
        Problem("resources[0] MedicationStatement/m", "is not a Condition", "MedicationStatement"),
        Problem("resources[1] Condition/c", "code is not an object", "Condition"),
    )


def test_patient_banner_shows_the_official_name() -> None:
    result = read_patient(fixture("patient.json"))
    assert result == MappingResult(
        records=(PatientBanner("ldn-demo", "Ana Maria Rivera-Lopez", "1978-06-14", "female"),)
    )


@pytest.mark.parametrize(
    ("resource", "banner", "problem"),
    [
        (
            {"resourceType": "Patient", "name": [{"text": "A. R."}], "birthDate": "1978"},
            PatientBanner(None, "A. R.", "1978"),
            None,
        ),
        (
            {"resourceType": "Patient", "id": "p", "birthDate": "14/06/1978"},
            PatientBanner("p"),
            "birthDate is not a valid FHIR date",
        ),
        (
            {"resourceType": "Patient", "id": "p", "name": [{"given": "Ana"}]},
            PatientBanner("p"),
            "name[0].given is not an array",
        ),
    ],
)
def test_patient_banner_tolerates_partial_data(
    resource: dict[str, Any], banner: PatientBanner, problem: str | None
) -> None:
    result = read_patient(resource)
    assert result.records == (banner,)
    assert [p.message for p in result.problems] == ([problem] if problem else [])


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (None, "is missing"),
        ({"resourceType": "Practitioner", "id": "d"}, "Practitioner/d: is not a Patient"),
        (
            {"resourceType": "OperationOutcome", "issue": [{"severity": "information"}]},
            "is OperationOutcome (no id), not a Patient",
        ),
    ],
)
def test_a_missing_patient_is_reported(resource: object, message: str) -> None:
    result = read_patient(resource)
    assert result.records == ()
    (problem,) = result.problems
    assert str(problem).endswith(message)


# --- OperationOutcome -------------------------------------------------------------------------


def test_operation_outcome_is_recognised() -> None:
    assert is_operation_outcome({"resourceType": "OperationOutcome", "issue": []})
    assert not is_operation_outcome({"resourceType": "Bundle"})
    assert not is_operation_outcome(["OperationOutcome"])


@pytest.mark.parametrize(
    ("issues", "summary"),
    [
        (
            [
                {"severity": "error", "code": "not-found", "details": {"text": "No Patient/x"}},
                {"severity": "warning", "code": "processing", "diagnostics": "slow"},
            ],
            "error (not-found): No Patient/x; warning (processing): slow",
        ),
        (
            [
                {
                    "severity": "fatal",
                    "code": "security",
                    "details": {"coding": [{"display": "Denied"}]},
                }
            ],
            "fatal (security): Denied",
        ),
        ([{"code": "exception"}], "issue (exception)"),
        ([], "OperationOutcome without readable issues"),
        ("not a list", "OperationOutcome without readable issues"),
    ],
)
def test_operation_outcome_summary_is_one_short_line(issues: object, summary: str) -> None:
    assert summarise_operation_outcome({"resourceType": "OperationOutcome", "issue": issues}) == (
        summary
    )


def test_operation_outcome_summary_stays_short() -> None:
    issue = {"severity": "error", "code": "exception", "diagnostics": "x" * 5000}
    summary = summarise_operation_outcome(
        {"resourceType": "OperationOutcome", "issue": [issue] * 9}
    )
    assert len(summary) <= 300
    assert summary.startswith("error (exception): xxx")


# --- fixtures are real FHIR R4 ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("nonconformant-")),
)
def test_fixtures_are_valid_r4_structure(name: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    resource = fixture(name)
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


# --- garbage never crashes, and nothing is dropped --------------------------------------------

_KEYS = [
    "resourceType",
    "id",
    "status",
    "medicationCodeableConcept",
    "medicationReference",
    "medication",
    "concept",
    "reference",
    "display",
    "contained",
    "coding",
    "system",
    "code",
    "text",
    "dosage",
    "dosageInstruction",
    "doseAndRate",
    "doseQuantity",
    "doseRange",
    "high",
    "value",
    "unit",
    "effectivePeriod",
    "effectiveDateTime",
    "start",
    "end",
    "dateAsserted",
    "authoredOn",
    "dispenseRequest",
    "validityPeriod",
    "expectedSupplyDuration",
    "numberOfRepeatsAllowed",
    "ingredient",
    "itemCodeableConcept",
    "itemReference",
    "item",
    "strength",
    "numerator",
    "denominator",
    "form",
    "entry",
    "resource",
    "fullUrl",
    "issue",
    "severity",
]
_TYPES = [
    "MedicationStatement",
    "MedicationRequest",
    "Medication",
    "Substance",
    "Patient",
    "Bundle",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([*_TYPES, "#m", "Medication/m", "2024", "2024-02-30", "mg", "d", "mo"])
    | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=8,
)
_resources = st.builds(
    lambda kind, fields: fields | {"resourceType": kind},
    st.sampled_from(_TYPES),
    st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8),
)


def _unreferenced(item: object) -> bool:
    return not (isinstance(item, dict) and item.get("resourceType") in ("Medication", "Substance"))


@settings(max_examples=200, deadline=None)
@given(st.lists(_resources | _json, max_size=6))
def test_garbage_never_raises_and_each_resource_is_mapped_or_reported(items: list[Any]) -> None:
    result = read_medication_records(items, medications={"Medication/m": items[0] if items else {}})
    counted = [item for item in items if _unreferenced(item)]
    assert len(result.records) + len(result.problems) == len(counted)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({}, optional={"resource": _resources | _json, "fullUrl": _json}))
)
def test_garbage_bundles_never_raise_and_each_entry_is_mapped_or_reported(
    entries: list[Any],
) -> None:
    result = read_bundle({"resourceType": "Bundle", "type": "searchset", "entry": entries})
    counted = [entry for entry in entries if _unreferenced(entry.get("resource"))]
    assert len(result.records) + len(result.problems) == len(counted)
    read_condition_bundle({"resourceType": "Bundle", "entry": entries})


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = value.items() if isinstance(value, dict) else enumerate(value)
    found = []
    for key, child in children:
        found.append((*path, key))
        if isinstance(child, dict | list):
            found.extend(_paths(child, (*path, key)))
    return found


_MUTABLE = [row[0] for row in SAME_LDN if row[0].startswith("bundle-")]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_MUTABLE), st.data())
def test_any_element_of_a_real_bundle_replaced_by_garbage_never_raises(
    name: str, data: st.DataObject
) -> None:
    bundle = fixture(name)
    *parents, key = data.draw(st.sampled_from(_paths(bundle)))
    parent = bundle
    for step in parents:
        parent = parent[step]
    parent[key] = data.draw(_json)
    result = read_bundle(bundle)
    entries = bundle.get("entry") if bundle.get("resourceType") == "Bundle" else ["not a Bundle"]
    if not isinstance(entries, list):
        entries = [] if entries is None else ["entry is not an array"]
    counted = [e for e in entries if not isinstance(e, dict) or _unreferenced(e.get("resource"))]
    assert len(result.records) + len(result.problems) == len(counted)


def _chart_record(kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "id": f"{kind}-{text.split()[0]}",
        "status": "completed",
        "medicationCodeableConcept": {"text": text},
        **extra,
    }


def test_a_record_declined_as_irrelevant_is_glanced_at_for_its_source_status_and_dates() -> None:
    request = _chart_record(
        "MedicationRequest",
        "Lisinopril 10 mg tablet",
        authoredOn="2026-01-05",
        dosageInstruction=[{"text": "1 tablet daily", "doseAndRate": [{"doseQuantity": "x"}]}],
        dispenseRequest={
            "validityPeriod": {"start": "2026-01-05", "end": "2026-03-05"},
            "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"},
        },
    )
    statement = _chart_record(
        "MedicationStatement",
        "Oxycodone 5 mg tablet",
        effectivePeriod={"start": "2026-02-01", "end": "2026-02-10"},
        dosage=[{"text": "1 tablet every 6 hours"}],
    )
    dispense = _chart_record(
        "MedicationDispense", "Amlodipine 5 mg tablet", whenHandedOver="2026-02"
    )
    administered = _chart_record(
        "MedicationAdministration", "Cefazolin 1 g", effectiveDateTime="2026-03-01T22:30:00-05:00"
    )
    asked: list[str | None] = []

    def relevant(medication: Any) -> bool:
        asked.append(medication.concept.text)
        return "Oxycodone" in (medication.concept.text or "")

    chart = [request, statement, dispense, administered]
    full = read_medication_records(chart)
    lean = read_medication_records(chart, relevant=relevant)
    assert asked == [
        "Lisinopril 10 mg tablet",
        "Oxycodone 5 mg tablet",
        "Amlodipine 5 mg tablet",
        "Cefazolin 1 g",
    ]
    assert full.glanced == ()
    full_request, full_statement, full_dispense, full_administered = full.records
    # The record that matters is read exactly as without the question.
    assert lean.records == (full_statement,)
    assert full_statement.dosage_text == ("1 tablet every 6 hours",)
    # The others give the source, status and dates the whole read gives, and nothing else.
    assert full_request.supply_days == 30
    assert full_request.problems  # its malformed dose was read, and noted
    assert lean.glanced == tuple(
        RecordGlance(r.source, r.status, r.started, r.ended, r.asserted)
        for r in (full_request, full_dispense, full_administered)
    )
    assert lean.glanced[0] == RecordGlance(
        Source.REQUEST, "completed", date(2026, 1, 5), date(2026, 3, 5), date(2026, 1, 5)
    )
    assert lean.glanced[1].started == date(2026, 2, 28)  # a fill's partial date: its last day
    assert lean.problems == full.problems == ()


def test_a_record_whose_medication_cannot_be_read_is_read_in_full_whatever_relevance_says() -> None:
    request = _chart_record("MedicationRequest", "unused", dosageInstruction=[{"text": "1 daily"}])
    request["medicationCodeableConcept"] = {"coding": "not an array", "text": "Mystery pill"}
    (record,) = read_medication_records([request], relevant=lambda medication: False).records
    assert record.medication_problems
    assert record.dosage_text == ("1 daily",)


def test_records_naming_the_same_product_each_carry_what_was_wrong_with_it() -> None:
    coded = {"coding": [5, {"system": RXNORM, "code": "314076"}], "text": "Lisinopril 10 mg"}
    statements = [
        _chart_record("MedicationStatement", f"x{i}", medicationCodeableConcept=coded)
        for i in range(3)
    ]
    for index, statement in enumerate(statements):
        statement["id"] = f"ms-{index}"
    records = read_medication_records(statements).records
    assert len(records) == 3
    assert all(r.medication == records[0].medication for r in records)
    assert all(r.medication_problems == records[0].medication_problems for r in records)
    assert records[0].medication_problems  # the coding that is no object, for every record


def test_a_product_read_in_one_call_is_the_same_object_in_the_next_with_its_problems() -> None:
    coded = {"coding": [5, {"system": RXNORM, "code": "314076"}], "text": "Lisinopril 10 mg"}
    first = read_medication_records([_chart_record("MedicationStatement", "x")])
    statement = _chart_record("MedicationStatement", "x", medicationCodeableConcept=coded)
    (one,) = read_medication_records([statement]).records
    (two,) = read_medication_records([statement]).records
    assert one.medication is two.medication  # shared across calls: answers about it found fast
    assert one.medication_problems == two.medication_problems != ()
    assert first.records[0].medication is not one.medication  # another product, another object
    # A long product JSON is never kept across calls (the store stays bounded).
    long = {"text": "Lisinopril 10 mg " + "x" * 2_000}
    (three,) = read_medication_records([{**statement, "medicationCodeableConcept": long}]).records
    (four,) = read_medication_records([{**statement, "medicationCodeableConcept": long}]).records
    assert three.medication == four.medication
    assert three.medication is not four.medication


def test_a_compounded_product_whose_ingredients_point_into_each_record_is_read_per_record() -> None:
    def statement(ident: str, substance: str) -> dict[str, Any]:
        return {
            "resourceType": "MedicationStatement",
            "id": ident,
            "status": "active",
            "contained": [
                {
                    "resourceType": "Medication",
                    "id": "med",
                    "code": {"text": "Compounded cream"},
                    "ingredient": [{"itemReference": {"reference": "#sub"}}],
                },
                {"resourceType": "Substance", "id": "sub", "code": {"text": substance}},
            ],
            "medicationReference": {"reference": "#med"},
        }

    first, second = read_medication_records(
        [statement("a", "gabapentin"), statement("b", "morphine")]
    ).records
    assert [i.item.text for i in first.medication.ingredients] == ["gabapentin"]
    assert [i.item.text for i in second.medication.ingredients] == ["morphine"]
