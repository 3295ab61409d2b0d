"""Prefetch or fetch: every branch (present, null, OperationOutcome, missing and fetched, FHIR
error, server not allowed, partial, deadline), with the FHIR server mocked at the transport.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from joserfc.jwk import ECKey
from responses import matchers

from cds_hooks.config import CdsSettings, load_settings
from cds_hooks.discovery import find_service
from cds_hooks.errors import DataUnavailable, InvalidRequest
from cds_hooks.prefetch import FROM_FHIR_SERVER, FROM_PREFETCH, resolve_data
from cds_hooks.request import HookRequest, parse_hook_request
from fhir_client.client import PAGE_SIZE
from tests.cds_hooks.support import FHIR_BASE, PATIENT_ID, SIGN, base_config, hook_body, searchset

TOKEN = "opaque-fhir-token"
PAGE = str(PAGE_SIZE)  # every search asks for large pages

STATEMENT = {
    "resourceType": "MedicationStatement",
    "id": "ms-1",
    "status": "active",
    "medicationCodeableConcept": {"text": "oxycodone 5 mg tablet"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}
REQUEST = {
    "resourceType": "MedicationRequest",
    "id": "mr-1",
    "status": "completed",
    "intent": "order",
    "medicationReference": {"reference": "Medication/med-1"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}
MEDICATION = {"resourceType": "Medication", "id": "med-1", "code": {"text": "tramadol 50 mg"}}
DISPENSE = {
    "resourceType": "MedicationDispense",
    "id": "md-1",
    "status": "completed",
    "medicationCodeableConcept": {"text": "hydrocodone/APAP 5/325 mg"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "whenHandedOver": "2026-03-01",
    "daysSupply": {"value": 5, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
}
ADMINISTRATION = {
    "resourceType": "MedicationAdministration",
    "id": "ma-1",
    "status": "completed",
    "medicationCodeableConcept": {"text": "fentanyl 50 mcg IV"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "effectiveDateTime": "2026-03-10T09:30:00Z",
}
CONDITION = {
    "resourceType": "Condition",
    "id": "c-1",
    "code": {"text": "Fibromyalgia"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "search timed out"}],
}


@pytest.fixture
def settings(tmp_path: Path, inline_key: ECKey) -> CdsSettings:
    return load_settings(base_config(tmp_path, inline_key))


def _hook(prefetch: dict[str, Any] | None, *, server: str | None = FHIR_BASE) -> HookRequest:
    extra: dict[str, Any] = {}
    if server is not None:
        extra = {
            "fhirServer": server,
            "fhirAuthorization": {
                "access_token": TOKEN,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/MedicationStatement.read patient/MedicationRequest.read",
                "subject": "ldn-cds",
            },
        }
    return parse_hook_request(
        hook_body("order-sign", prefetch=prefetch, **extra), find_service(SIGN)
    )


def _resolve(hook: HookRequest, settings: CdsSettings) -> Any:
    return resolve_data(hook, find_service(SIGN), settings)


FULL_PREFETCH = {
    "patient": {"resourceType": "Patient", "id": PATIENT_ID},
    "medicationStatements": searchset(STATEMENT),
    "medicationRequests": searchset(REQUEST, MEDICATION),
    "medicationDispenses": searchset(DISPENSE),
    "medicationAdministrations": None,
    "conditions": searchset(CONDITION),
}


def _mock_fhir(
    mock: responses.RequestsMock, resource_type: str, body: Any, status: int = 200
) -> None:
    mock.get(
        f"{FHIR_BASE}/{resource_type}",
        json=body,
        status=status,
        match=[matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})],
    )


def test_full_prefetch_is_used_without_calling_the_server(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    resolved = _resolve(_hook(FULL_PREFETCH), settings)
    sources = resolved.sources
    assert {s.origin for s in sources.values()} == {FROM_PREFETCH}
    assert sources["medicationStatements"].count == 1
    # The referenced Medication travels with the requests that name it.
    assert [r["resourceType"] for r in sources["medicationRequests"].resources] == [
        "MedicationRequest",
        "Medication",
    ]
    assert sources["medicationRequests"].count == 1
    assert sources["medicationDispenses"].count == 1
    assert sources["medicationAdministrations"].count == 0
    assert all(s.read for s in sources.values())
    assert len(mocked.calls) == 0


def test_null_prefetch_means_none_on_file(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    resolved = _resolve(
        _hook(
            {
                "medicationStatements": None,
                "medicationRequests": None,
                "medicationDispenses": None,
                "medicationAdministrations": None,
                "conditions": None,
            }
        ),
        settings,
    )
    assert all(s.read and s.count == 0 for s in resolved.sources.values())
    assert len(mocked.calls) == 0


def test_missing_keys_are_fetched_with_the_token_following_pages(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    first_page = searchset(STATEMENT)
    first_page["link"] = [{"relation": "next", "url": f"{FHIR_BASE}/MedicationStatement?page=2"}]
    second = dict(STATEMENT, id="ms-2")
    mocked.get(
        f"{FHIR_BASE}/MedicationStatement",
        json=searchset(second),
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    mocked.get(
        f"{FHIR_BASE}/MedicationStatement",
        json=first_page,
        match=[
            matchers.query_param_matcher(
                {
                    "patient": PATIENT_ID,
                    "_include": "MedicationStatement:medication",
                    "_count": PAGE,
                }
            ),
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
        ],
    )
    _mock_fhir(mocked, "MedicationRequest", searchset(REQUEST, MEDICATION))
    mocked.get(
        f"{FHIR_BASE}/MedicationDispense",
        json=searchset(DISPENSE),
        match=[
            matchers.query_param_matcher(
                {"patient": PATIENT_ID, "_include": "MedicationDispense:medication", "_count": PAGE}
            )
        ],
    )
    mocked.get(
        f"{FHIR_BASE}/MedicationAdministration",
        json=searchset(ADMINISTRATION),
        match=[
            matchers.query_param_matcher(
                {
                    "patient": PATIENT_ID,
                    "_include": "MedicationAdministration:medication",
                    "_count": PAGE,
                }
            )
        ],
    )
    _mock_fhir(mocked, "Condition", searchset(CONDITION))
    resolved = _resolve(_hook(None), settings)
    assert {s.origin for s in resolved.sources.values()} == {FROM_FHIR_SERVER}
    assert [r["id"] for r in resolved.sources["medicationStatements"].resources] == ["ms-1", "ms-2"]
    assert resolved.sources["medicationRequests"].count == 1
    assert resolved.sources["medicationDispenses"].count == 1
    assert resolved.sources["medicationAdministrations"].count == 1
    assert resolved.sources["conditions"].count == 1


def test_operation_outcome_prefetch_is_fetched_instead(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    prefetch = dict(FULL_PREFETCH, medicationRequests=OUTCOME)
    _mock_fhir(mocked, "MedicationRequest", searchset(REQUEST, MEDICATION))
    resolved = _resolve(_hook(prefetch), settings)
    assert resolved.sources["medicationRequests"].origin == FROM_FHIR_SERVER
    assert resolved.sources["medicationRequests"].count == 1
    assert resolved.sources["medicationStatements"].origin == FROM_PREFETCH


def test_first_page_only_prefetch_is_fetched_in_full(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    paged = searchset(STATEMENT)
    paged["link"] = [{"relation": "next", "url": f"{FHIR_BASE}/MedicationStatement?page=2"}]
    _mock_fhir(mocked, "MedicationStatement", searchset(STATEMENT, dict(STATEMENT, id="ms-2")))
    resolved = _resolve(_hook(dict(FULL_PREFETCH, medicationStatements=paged)), settings)
    assert resolved.sources["medicationStatements"].count == 2


def test_fhir_error_on_one_source_is_a_partial_result(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    _mock_fhir(mocked, "MedicationStatement", OUTCOME, status=500)
    prefetch = {k: v for k, v in FULL_PREFETCH.items() if k != "medicationStatements"}
    resolved = _resolve(_hook(prefetch), settings)
    statements = resolved.sources["medicationStatements"]
    assert not statements.read
    assert "HTTP 500" in str(statements.failure)
    assert resolved.sources["medicationRequests"].read
    assert [s.resource_type for s in resolved.sources.values() if not s.read] == [
        "MedicationStatement"
    ]
    assert TOKEN not in str(statements.failure)


def test_nothing_obtainable_is_412_naming_each_source(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(DataUnavailable) as raised:
        _resolve(_hook({"conditions": None}, server=None), settings)
    body = raised.value.body()
    assert raised.value.status == 412
    assert body["resourceType"] == "OperationOutcome"
    diagnostics = " ".join(issue["diagnostics"] for issue in body["issue"])
    assert "MedicationStatement" in diagnostics
    assert "MedicationRequest" in diagnostics
    assert "no fhirServer" in diagnostics


def test_fhir_server_not_allowlisted_is_never_called(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(DataUnavailable) as raised:
        _resolve(_hook(None, server="https://attacker.example.test/fhir"), settings)
    assert "not one this service may call" in raised.value.body()["issue"][1]["diagnostics"]
    assert len(mocked.calls) == 0


def test_fhir_server_errors_on_every_medication_source_is_412(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    _mock_fhir(mocked, "MedicationStatement", OUTCOME, status=503)
    _mock_fhir(mocked, "MedicationRequest", OUTCOME, status=401)
    with pytest.raises(DataUnavailable):
        _resolve(_hook({"conditions": None}), settings)


def test_deadline_turns_a_slow_server_into_a_failed_source(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    def slow(_request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.5)
        return 200, {}, '{"resourceType": "Bundle", "type": "searchset"}'

    mocked.add_callback(responses.GET, f"{FHIR_BASE}/MedicationRequest", callback=slow)
    quick = dataclasses.replace(settings, fhir_deadline_seconds=0.1)
    prefetch = {k: v for k, v in FULL_PREFETCH.items() if k != "medicationRequests"}
    started = time.monotonic()
    resolved = _resolve(_hook(prefetch), quick)
    assert time.monotonic() - started < 0.4
    assert "within 0.1 s" in str(resolved.sources["medicationRequests"].failure)
    assert resolved.sources["medicationStatements"].read


def test_prefetched_patient_must_be_the_patient_in_context(settings: CdsSettings) -> None:
    prefetch = dict(FULL_PREFETCH, patient={"resourceType": "Patient", "id": "someone-else"})
    with pytest.raises(InvalidRequest) as raised:
        _resolve(_hook(prefetch), settings)
    assert raised.value.path == "prefetch.patient"


def _bundle(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", **fields}


OPIOID_ENTRY = {"resource": STATEMENT, "search": {"mode": "match"}}
# Each answer a careless reader would take as "no medication statements" (issue 13).
MALFORMED_PREFETCH = {
    "entry is a string": _bundle(entry="abc"),
    "entry is an object": _bundle(entry={"resource": STATEMENT}),
    "entry is null": _bundle(entry=None),
    "entry holds numbers": _bundle(entry=[1, 2, 3]),
    "entry without resource": _bundle(entry=[{"fullUrl": "MedicationStatement/ms-1"}]),
    "entry of another type": _bundle(entry=[{"resource": CONDITION}]),
    "total above what was sent": _bundle(total=3, entry=[]),
    "transaction-response": {"resourceType": "Bundle", "type": "transaction-response"},
    "next link without url": _bundle(entry=[OPIOID_ENTRY], link=[{"relation": "next"}]),
    "link is a string list": _bundle(entry=[OPIOID_ENTRY], link=["x"]),
    "outcome whose issue is not a list": _bundle(
        entry=[{"resource": {**OUTCOME, "issue": "x"}, "search": {"mode": "outcome"}}]
    ),
    "outcome with an error": _bundle(entry=[{"resource": OUTCOME, "search": {"mode": "outcome"}}]),
    "a single resource, not a search": STATEMENT,
    "another resource": {"resourceType": "Patient", "id": PATIENT_ID},
}


@pytest.mark.parametrize("broken", MALFORMED_PREFETCH.values(), ids=MALFORMED_PREFETCH.keys())
def test_a_malformed_prefetch_is_a_failed_source_never_none_on_file(
    settings: CdsSettings, mocked: responses.RequestsMock, broken: Any
) -> None:
    # Without a server to fetch from, the source stays failed: the check cannot say "clear".
    prefetch = dict(FULL_PREFETCH, medicationStatements=broken)
    resolved = _resolve(_hook(prefetch, server=None), settings)
    statements = resolved.sources["medicationStatements"]
    assert not statements.read
    assert "prefetch could not be read" in str(statements.failure)
    assert "no fhirServer" in str(statements.failure)


@pytest.mark.parametrize("broken", MALFORMED_PREFETCH.values(), ids=MALFORMED_PREFETCH.keys())
def test_a_malformed_fetch_answer_is_a_failed_source_never_none_on_file(
    settings: CdsSettings, mocked: responses.RequestsMock, broken: Any
) -> None:
    _mock_fhir(mocked, "MedicationStatement", broken)
    prefetch = {k: v for k, v in FULL_PREFETCH.items() if k != "medicationStatements"}
    resolved = _resolve(_hook(prefetch), settings)
    statements = resolved.sources["medicationStatements"]
    assert not statements.read
    assert "answer could not be read" in str(statements.failure)
    assert resolved.sources["medicationRequests"].read


def test_a_malformed_prefetch_is_fetched_from_the_server_instead(
    settings: CdsSettings, mocked: responses.RequestsMock
) -> None:
    _mock_fhir(mocked, "MedicationStatement", searchset(STATEMENT))
    prefetch = dict(FULL_PREFETCH, medicationStatements=_bundle(entry="abc"))
    resolved = _resolve(_hook(prefetch), settings)
    assert resolved.sources["medicationStatements"].origin == FROM_FHIR_SERVER
    assert resolved.sources["medicationStatements"].count == 1


def test_medications_included_in_a_prefetch_are_read(settings: CdsSettings) -> None:
    resolved = _resolve(_hook(FULL_PREFETCH, server=None), settings)
    assert resolved.sources["medicationRequests"].read
    assert len(resolved.sources["medicationRequests"].resources) == 2


# Found by the fuzzing (test_cds_fuzz.py): each of these read as "no MedicationStatement".
UNREAD_SEARCHSETS = [
    ("entry not a resource", {**searchset(STATEMENT), "entry": [[{"resource": STATEMENT}]]}),
    ("resource a list", {**searchset(STATEMENT), "entry": [{"resource": [STATEMENT]}]}),
    ("entry null", {**searchset(STATEMENT), "entry": [None]}),
    ("entry without resource", {**searchset(STATEMENT), "entry": [{"fullUrl": "x"}]}),
    ("resource without type", {**searchset(STATEMENT), "entry": [{"resource": {"id": "1"}}]}),
    ("total above the entries", {**searchset(STATEMENT), "entry": []}),
    ("total not a number", {**searchset(), "total": "1"}),
]


@pytest.mark.parametrize(
    "bundle", [c[1] for c in UNREAD_SEARCHSETS], ids=[c[0] for c in UNREAD_SEARCHSETS]
)
def test_a_malformed_searchset_is_a_failed_source_never_an_empty_one(
    settings: CdsSettings, bundle: dict[str, Any]
) -> None:
    hook = _hook(dict(FULL_PREFETCH, medicationStatements=bundle), server=None)
    source = _resolve(hook, settings).sources["medicationStatements"]
    assert not source.read
    assert source.failure is not None
