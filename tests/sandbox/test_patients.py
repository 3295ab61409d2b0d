"""The sample patients: a valid, deterministic R4 transaction whose data backs each expectation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle

from sandbox.patients import (
    CAUTION_FLAGS,
    IDENTIFIER_SYSTEM,
    INFO_FLAGS,
    SAMPLE_TAG,
    STATUSES,
    expectations,
    identifier_query,
    sample_bundle,
    sample_keys,
)

TODAY = date(2026, 3, 16)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SHORT_ACTING_WASHOUT_DAYS = 10  # upper bound of the article's 7-10 days
MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest")  # of the many-records patient


def records_of(bundle: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """Return the resources of one sample patient, the Patient excluded, in bundle order."""
    prefix = f"{key}."
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["identifier"][0]["value"].startswith(prefix)
    ]


def patient_of(bundle: dict[str, Any], key: str) -> dict[str, Any]:
    """Return the Patient resource of one sample patient."""
    return next(
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["identifier"][0]["value"] == key
    )


def all_pages(url: str, params: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """Follow ``next`` links from a search; return every match and the number of pages read."""
    resources, pages, next_url, next_params = [], 0, url, params
    while next_url:
        page = requests.get(next_url, params=next_params, timeout=10).json()
        pages += 1
        resources += [
            e["resource"] for e in page.get("entry", []) if e["search"]["mode"] == "match"
        ]
        next_url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        next_params = {}
    return resources, pages


def test_bundle_is_a_valid_r4_transaction() -> None:
    bundle = sample_bundle(TODAY)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"


def test_every_entry_is_a_tagged_conditional_update_on_its_own_identifier() -> None:
    entries = sample_bundle(TODAY)["entry"]
    values = [entry["resource"]["identifier"][0]["value"] for entry in entries]
    assert len(set(values)) == len(values)
    for entry, value in zip(entries, values, strict=True):
        resource = entry["resource"]
        assert resource["meta"]["tag"] == [SAMPLE_TAG]
        assert resource["identifier"] == [{"system": IDENTIFIER_SYSTEM, "value": value}]
        assert entry["request"] == {
            "method": "PUT",
            "url": identifier_query(resource["resourceType"], value),
        }


def test_the_same_day_builds_the_same_bundle_and_dates_follow_the_day() -> None:
    assert sample_bundle(TODAY) == sample_bundle(TODAY)
    later = TODAY + timedelta(days=30)
    for day in (TODAY, later):
        (stopped,) = records_of(sample_bundle(day), "hydrocodone-stopped")
        assert stopped["effectivePeriod"]["end"] == (day - timedelta(days=5)).isoformat()


def test_expectations_cover_every_patient_with_known_outcomes() -> None:
    expected = expectations(TODAY)
    assert tuple(expected) == sample_keys()
    assert len(sample_keys()) == 19
    for outcome in expected.values():
        assert outcome.status in STATUSES
        assert outcome.info <= INFO_FLAGS
        assert outcome.cautions <= CAUTION_FLAGS
        assert (outcome.earliest_start is not None) == (outcome.status == "wait-until")
        assert outcome.why
    assert {outcome.status for outcome in expected.values()} == STATUSES
    assert set().union(*(outcome.info for outcome in expected.values())) == INFO_FLAGS
    assert set().union(*(outcome.cautions for outcome in expected.values())) == CAUTION_FLAGS


def last_dose(record: dict[str, Any]) -> date:
    """Return the last dose a short-acting opioid record shows, by its resource type's dates."""
    if "effectivePeriod" in record:
        return date.fromisoformat(record["effectivePeriod"]["end"])
    if "whenHandedOver" in record:
        handed_over = date.fromisoformat(record["whenHandedOver"])
        return handed_over + timedelta(days=record["daysSupply"]["value"])
    return date.fromisoformat(record["effectiveDateTime"])


def test_wait_until_dates_are_ten_days_after_the_last_short_acting_dose() -> None:
    bundle = sample_bundle(TODAY)
    waits = {k: e for k, e in expectations(TODAY).items() if e.status == "wait-until"}
    assert set(waits) == {
        "hydrocodone-stopped",
        "codeine-syrup-text",
        "many-records",
        "dispense-only-opioid",
        "administration-only-opioid",
    }
    for key, expected in waits.items():
        opioid_records = [
            r
            for r in records_of(bundle, key)
            if any(name in str(r).lower() for name in expected.opioids)
        ]
        (record,) = opioid_records
        assert expected.earliest_start == last_dose(record) + timedelta(
            days=SHORT_ACTING_WASHOUT_DAYS
        )


def test_the_new_sources_are_the_only_record_of_their_opioid() -> None:
    bundle = sample_bundle(TODAY)
    for key, kind in (
        ("dispense-only-opioid", "MedicationDispense"),
        ("administration-only-opioid", "MedicationAdministration"),
    ):
        assert [r["resourceType"] for r in records_of(bundle, key)] == [kind]


def test_each_opioid_patient_carries_the_opioid_its_expectation_names() -> None:
    bundle = sample_bundle(TODAY)
    for key, expected in expectations(TODAY).items():
        if key == ABBREVIATED:
            continue  # named only by an abbreviation: see the next test
        text = str(records_of(bundle, key)).lower()
        for opioid in expected.opioids:
            assert opioid in text, key


def test_the_abbreviation_patient_names_codeine_only_by_abbreviation_and_takes_it_now() -> None:
    (record,) = records_of(sample_bundle(TODAY), ABBREVIATED)
    assert record["medicationCodeableConcept"] == {"text": "APAP w/ cod #3"}
    assert record["status"] == "active"
    assert "codeine" not in str(record).lower()
    assert expectations(TODAY)[ABBREVIATED].opioids == ("codeine",)


ABBREVIATED = "abbreviated-opioid-text"


def test_codeine_syrup_is_free_text_only() -> None:
    (syrup,) = records_of(sample_bundle(TODAY), "codeine-syrup-text")
    concept = syrup["medicationCodeableConcept"]
    assert concept == {"text": "Promethazine with codeine syrup 5 mL q6h prn cough"}


def test_tramadol_record_carries_no_date_at_all() -> None:
    (tramadol,) = records_of(sample_bundle(TODAY), "tramadol-unknown-dates")
    assert tramadol["status"] == "completed"
    assert not {"effectiveDateTime", "effectivePeriod", "dateAsserted"} & tramadol.keys()


def test_fentanyl_is_named_only_in_a_contained_medication() -> None:
    (order,) = records_of(sample_bundle(TODAY), "fentanyl-contained")
    assert order["medicationReference"] == {"reference": "#med1"}
    (medication,) = order["contained"]
    assert medication["id"] == "med1"
    assert {"system": RXNORM, "code": "245134"}.items() <= medication["code"]["coding"][0].items()
    assert "medicationCodeableConcept" not in order


def test_many_records_patient_has_300_records_and_the_opioid_late() -> None:
    records = records_of(sample_bundle(TODAY), "many-records")
    assert len(records) == 300
    assert {r["resourceType"] for r in records} == set(MEDICATION_TYPES)
    opioid_positions = [i for i, r in enumerate(records) if "oxycodone" in str(r).lower()]
    assert opioid_positions == [260]
    statements = [r for r in records if r["resourceType"] == "MedicationStatement"]
    opioid_statement = next(i for i, r in enumerate(statements) if "oxycodone" in str(r).lower())
    assert opioid_statement >= 100  # past the first page even at _count=100


def test_hostile_patient_is_hostile_everywhere_but_still_names_oxycodone() -> None:
    bundle = sample_bundle(TODAY)
    (name,) = patient_of(bundle, "hostile-text")["name"]
    assert len(name["family"]) == 5000
    assert "<script>alert(1)</script>" in name["given"]
    assert '"><img src=x onerror=alert(1)>' in name["given"]
    assert "{{7*7}}" in name["text"]
    assert "\u202e" in name["text"]
    statement = next(
        r for r in records_of(bundle, "hostile-text") if r["resourceType"] == "MedicationStatement"
    )
    text = statement["medicationCodeableConcept"]["text"]
    assert "oxycodone" in text.lower()
    assert "<img" in text
    assert "coding" not in statement["medicationCodeableConcept"]


@pytest.mark.integration
def test_paging_reads_all_300_records_of_the_many_records_patient(fhir_server) -> None:
    patient = fhir_server.patient_ids["many-records"]
    found = []
    for resource_type in MEDICATION_TYPES:
        url = f"{fhir_server.base_url}/{resource_type}"
        first = requests.get(url, params={"patient": patient, "_count": "50"}, timeout=10).json()
        assert "oxycodone" not in str(first).lower()
        resources, pages = all_pages(url, {"patient": patient, "_count": "50"})
        assert pages > 1
        found += resources
    assert len(found) == 300
    assert len({r["id"] for r in found}) == 300
    assert sum("oxycodone" in str(r).lower() for r in found) == 1


@pytest.mark.integration
def test_contained_medication_is_preserved(fhir_server) -> None:
    sent = records_of(sample_bundle(TODAY), "fentanyl-contained")[0]
    bundle = requests.get(
        f"{fhir_server.base_url}/MedicationRequest",
        params={"patient": fhir_server.patient_ids["fentanyl-contained"]},
        timeout=10,
    ).json()
    (entry,) = bundle["entry"]
    stored = entry["resource"]
    assert stored["contained"] == sent["contained"]
    assert stored["medicationReference"] == {"reference": "#med1"}


@pytest.mark.integration
def test_referenced_medication_comes_with_include(fhir_server) -> None:
    bundle = requests.get(
        f"{fhir_server.base_url}/MedicationRequest",
        params={
            "patient": fhir_server.patient_ids["methadone-maintenance"],
            "_include": "MedicationRequest:medication",
        },
        timeout=10,
    ).json()
    modes = {e["resource"]["resourceType"]: e["search"]["mode"] for e in bundle["entry"]}
    assert modes == {"MedicationRequest": "match", "Medication": "include"}
    order, medication = (
        next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == t)
        for t in ("MedicationRequest", "Medication")
    )
    assert order["medicationReference"]["reference"] == f"Medication/{medication['id']}"
    assert medication["code"]["coding"][0]["code"] == "991147"


@pytest.mark.integration
def test_hostile_text_round_trips_exactly(fhir_server, sample_today: date) -> None:
    bundle = sample_bundle(sample_today)
    patient_id = fhir_server.patient_ids["hostile-text"]
    stored = requests.get(f"{fhir_server.base_url}/Patient/{patient_id}", timeout=10).json()
    sent_patient = patient_of(bundle, "hostile-text")
    assert {k: v for k, v in stored.items() if k not in ("id", "meta")} == {
        k: v for k, v in sent_patient.items() if k != "meta"
    }
    sent = {
        r["identifier"][0]["value"]: r
        for r in records_of(bundle, "hostile-text")
        if r["resourceType"] == "MedicationStatement"
    }
    search = requests.get(
        f"{fhir_server.base_url}/MedicationStatement", params={"patient": patient_id}, timeout=10
    ).json()
    (entry,) = search["entry"]
    stored_statement = entry["resource"]
    original = sent[stored_statement["identifier"][0]["value"]]
    for element in ("medicationCodeableConcept", "dosage", "note"):
        assert stored_statement[element] == original[element]
