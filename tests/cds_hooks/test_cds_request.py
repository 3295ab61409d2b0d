"""Parsing a hook request: every malformed field is refused with its path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cds_hooks.discovery import find_service
from cds_hooks.errors import InvalidRequest
from cds_hooks.request import parse_hook_request
from tests.cds_hooks.support import NALTREXONE_LDN, SELECT, SIGN, hook_body

Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: object) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return mutate


_DELETE = object()

BAD_SIGN_REQUESTS = [
    ("hook missing", _set("hook", _DELETE), "hook"),
    ("hook of another service", _set("hook", "order-select"), "hook"),
    ("hook not a string", _set("hook", 7), "hook"),
    ("hookInstance missing", _set("hookInstance", _DELETE), "hookInstance"),
    ("hookInstance not a UUID", _set("hookInstance", "call-1"), "hookInstance"),
    ("context missing", _set("context", _DELETE), "context"),
    ("context not an object", _set("context", []), "context"),
    ("patientId missing", _set("context.patientId", _DELETE), "context.patientId"),
    ("patientId a number", _set("context.patientId", 1288992), "context.patientId"),
    ("patientId with a query", _set("context.patientId", "1&_tag=nomatch"), "context.patientId"),
    ("patientId with a NUL", _set("context.patientId", "12\x0034"), "context.patientId"),
    (
        "patientId of 200,000 characters",
        _set("context.patientId", "1" * 200_000),
        "context.patientId",
    ),
    ("patientId with a slash", _set("context.patientId", "1/_history/2"), "context.patientId"),
    ("encounterId with a space", _set("context.encounterId", "89 284"), "context.encounterId"),
    ("userId empty", _set("context.userId", " "), "context.userId"),
    ("encounterId a list", _set("context.encounterId", ["1"]), "context.encounterId"),
    ("draftOrders missing", _set("context.draftOrders", _DELETE), "context.draftOrders"),
    (
        "draftOrders not a Bundle",
        _set("context.draftOrders", {"resourceType": "List"}),
        "context.draftOrders.resourceType",
    ),
    (
        "draftOrders entry without resource",
        _set("context.draftOrders", {"resourceType": "Bundle", "entry": [{}]}),
        "context.draftOrders.entry[0].resource",
    ),
    (
        "draftOrders entry resource without type",
        _set("context.draftOrders", {"resourceType": "Bundle", "entry": [{"resource": {}}]}),
        "context.draftOrders.entry[0].resource.resourceType",
    ),
    ("fhirServer not a URL", _set("fhirServer", "ehr.example.test"), "fhirServer"),
    (
        "fhirAuthorization without fhirServer",
        _set(
            "fhirAuthorization",
            {
                "access_token": "t",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/MedicationRequest.read",
                "subject": "ldn-cds",
            },
        ),
        "fhirServer",
    ),
    ("prefetch not an object", _set("prefetch", ["x"]), "prefetch"),
    (
        "prefetch value not a resource",
        _set("prefetch", {"medicationRequests": "Bundle"}),
        "prefetch.medicationRequests",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [case[1:] for case in BAD_SIGN_REQUESTS],
    ids=[c[0] for c in BAD_SIGN_REQUESTS],
)
def test_malformed_request_names_the_field(mutate: Mutation, path: str) -> None:
    body = hook_body("order-sign")
    mutate(body)
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(body, find_service(SIGN))
    assert raised.value.path == path


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("token_type", "MAC", "fhirAuthorization.token_type"),
        ("expires_in", "300", "fhirAuthorization.expires_in"),
        ("access_token", None, "fhirAuthorization.access_token"),
        ("scope", 1, "fhirAuthorization.scope"),
        ("subject", "", "fhirAuthorization.subject"),
    ],
)
def test_malformed_fhir_authorization_names_the_field(field: str, value: object, path: str) -> None:
    authorization: dict[str, Any] = {
        "access_token": "opaque",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/MedicationRequest.read",
        "subject": "ldn-cds",
        field: value,
    }
    body = hook_body(fhirServer="https://ehr.example.test/fhir", fhirAuthorization=authorization)
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(body, find_service(SIGN))
    assert raised.value.path == path


def test_selection_must_name_a_draft_order() -> None:
    body = hook_body("order-select")
    body["context"]["selections"] = ["MedicationRequest/not-drafted"]
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(body, find_service(SELECT))
    assert raised.value.path == "context.selections[0]"


def test_order_select_requires_selections() -> None:
    body = hook_body("order-select")
    del body["context"]["selections"]
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(body, find_service(SELECT))
    assert raised.value.path == "context.selections"


def test_well_formed_request_is_read_in_full() -> None:
    body = hook_body(
        "order-select",
        prefetch={"medicationRequests": None, "unasked": {"resourceType": "Patient"}},
        fhirServer="https://ehr.example.test/fhir",
        fhirAuthorization={
            "access_token": "opaque-secret",
            "token_type": "bearer",
            "expires_in": 300,
            "scope": "patient/MedicationRequest.read",
            "subject": "ldn-cds",
            "patient": "1288992",
        },
    )
    hook = parse_hook_request(body, find_service(SELECT))
    assert hook.patient_id == "1288992"
    assert hook.encounter_id == "89284"
    assert hook.selections == ("MedicationRequest/ldn-draft-1",)
    assert hook.is_selected(f"MedicationRequest/{NALTREXONE_LDN['id']}")
    assert not hook.is_selected("MedicationRequest/smart-MedicationRequest-103")
    assert len(hook.draft_resources()) == 2
    # A null prefetch is kept as "no data"; keys the service did not ask for are dropped.
    assert dict(hook.prefetch) == {"medicationRequests": None}
    assert hook.fhir_authorization is not None
    assert hook.fhir_authorization.patient == "1288992"
    assert "opaque-secret" not in repr(hook.fhir_authorization)


def test_order_sign_looks_at_every_draft() -> None:
    hook = parse_hook_request(hook_body("order-sign"), find_service(SIGN))
    assert hook.selections == ()
    assert hook.is_selected("MedicationRequest/smart-MedicationRequest-103")


def test_context_values_are_url_encoded_into_each_prefetch_query() -> None:
    # Even a value the parser would refuse stays one value of one parameter once filled in.
    query = find_service(SIGN).prefetch_query(
        "medicationStatements", {"patientId": "1&_tag=nomatch"}
    )
    assert query.params == (("patient", "1&_tag=nomatch"),)
    read = find_service(SIGN).prefetch_query("patient", {"patientId": "a/b?c"})
    assert (read.resource_type, read.resource_id) == ("Patient", "a/b?c")


@pytest.mark.parametrize("service_id", [SELECT, SIGN])
def test_each_template_names_the_resource_type_its_filled_query_reads(service_id: str) -> None:
    # A prefetched source is checked as this type without filling the template first.
    service = find_service(service_id)
    context = {"patientId": "p1", "userId": "Practitioner/u1", "encounterId": "e1"}
    for key in service.prefetch:
        assert service.resource_type(key) == service.prefetch_query(key, context).resource_type
