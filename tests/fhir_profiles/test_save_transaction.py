"""The save transaction: both resources or neither, and a retry writes nothing new."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_client import FhirClient, FhirError
from fhir_profiles.artefacts import (
    CAREPLAN_IDENTIFIER_SYSTEM,
    DOCUMENTREFERENCE_IDENTIFIER_SYSTEM,
)
from fhir_profiles.careplan import revoked_careplan
from fhir_profiles.identifiers import InvalidResourceInput, careplan_full_url
from fhir_profiles.save_transaction import build_save_transaction
from fhir_profiles.validation import validate
from tests.conftest import SampleFhirServer
from tests.fhir_profiles.save_cases import (
    CASES,
    NO_OPIOIDS,
    SaveCase,
    assert_no_errors,
    careplan_for,
    case_params,
    document_for,
    transaction_for,
)

OTHER = next(case for case in CASES if case.key == "recent-oxycodone")


@case_params
def test_the_transaction_is_valid_r4_with_both_resources_conforming(case: SaveCase) -> None:
    # The validator checks each entry against the profile in its meta.profile.
    assert_no_errors(validate(transaction_for(case)))


def test_both_resources_are_conditional_creates_on_their_identifiers() -> None:
    bundle = transaction_for(NO_OPIOIDS)
    plan = NO_OPIOIDS.plan_identifier
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "transaction")
    careplan, document = bundle["entry"]
    assert careplan["request"] == {
        "method": "POST",
        "url": "CarePlan",
        "ifNoneExist": f"identifier={CAREPLAN_IDENTIFIER_SYSTEM}|{plan}",
    }
    assert document["request"] == {
        "method": "POST",
        "url": "DocumentReference",
        "ifNoneExist": f"identifier={DOCUMENTREFERENCE_IDENTIFIER_SYSTEM}|{plan}",
    }
    assert careplan["fullUrl"] == careplan_full_url(plan)
    assert document["fullUrl"].startswith("urn:uuid:")
    assert document["fullUrl"] != careplan["fullUrl"]
    related = document["resource"]["context"]["related"]
    assert [item["reference"] for item in related] == [careplan["fullUrl"]]


def test_a_retry_sends_the_same_transaction() -> None:
    assert transaction_for(NO_OPIOIDS) == transaction_for(NO_OPIOIDS)
    assert (
        transaction_for(NO_OPIOIDS)["entry"][0]["fullUrl"]
        != (transaction_for(OTHER)["entry"][0]["fullUrl"])
    )


def _with_id(resource: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "id": "123"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (lambda: (document_for(NO_OPIOIDS), careplan_for(NO_OPIOIDS)), "first resource"),
        (lambda: (careplan_for(NO_OPIOIDS), careplan_for(NO_OPIOIDS)), "second resource"),
        (
            lambda: (
                careplan_for(NO_OPIOIDS),
                document_for(NO_OPIOIDS, careplan_reference="CarePlan/9"),
            ),
            "must point at the CarePlan of this save",
        ),
        (
            lambda: (careplan_for(OTHER), document_for(NO_OPIOIDS)),
            "does not carry the identifier",
        ),
        (
            lambda: (_with_id(careplan_for(NO_OPIOIDS)), document_for(NO_OPIOIDS)),
            "must not have an id",
        ),
    ],
    ids=["swapped", "two-plans", "document-elsewhere", "other-plan", "already-has-id"],
)
def test_a_transaction_that_would_save_the_wrong_thing_is_refused(
    arguments: Any, message: str
) -> None:
    careplan, document = arguments()
    with pytest.raises(InvalidResourceInput, match=message):
        build_save_transaction(careplan, document, NO_OPIOIDS.plan_identifier)


def _saved(client: FhirClient, kind: str, system: str, plan: str) -> list[dict[str, Any]]:
    return client.search(kind, {"identifier": f"{system}|{plan}"})


@pytest.mark.integration
def test_the_server_saves_both_once_and_links_the_document_to_the_plan(
    fhir_server: SampleFhirServer,
) -> None:
    client = FhirClient(fhir_server.base_url)
    case = next(case for case in CASES if case.key == "condition-fibromyalgia")
    plan = case.plan_identifier
    bundle = transaction_for(case)
    first = client.transaction(copy.deepcopy(bundle))
    retry = client.transaction(copy.deepcopy(bundle))
    assert [e["response"]["status"][:3] for e in first["entry"]] == ["201", "201"]
    assert [e["response"]["status"][:3] for e in retry["entry"]] == ["200", "200"]
    (careplan,) = _saved(client, "CarePlan", CAREPLAN_IDENTIFIER_SYSTEM, plan)
    (document,) = _saved(client, "DocumentReference", DOCUMENTREFERENCE_IDENTIFIER_SYSTEM, plan)
    assert document["context"]["related"][0]["reference"] == f"CarePlan/{careplan['id']}"
    assert careplan["extension"] == bundle["entry"][0]["resource"]["extension"]


@pytest.mark.integration
def test_the_server_saves_neither_when_one_is_refused(fhir_server: SampleFhirServer) -> None:
    client = FhirClient(fhir_server.base_url)
    plan = OTHER.plan_identifier
    bundle = transaction_for(OTHER)
    bundle["entry"][1]["resource"]["status"] = 42  # the server must refuse the document
    with pytest.raises(FhirError):
        client.transaction(bundle)
    assert _saved(client, "CarePlan", CAREPLAN_IDENTIFIER_SYSTEM, plan) == []
    assert _saved(client, "DocumentReference", DOCUMENTREFERENCE_IDENTIFIER_SYSTEM, plan) == []


def _stored(case: SaveCase, ident: str) -> dict[str, Any]:
    """Return the case's CarePlan as a server stores it: with an id and a version."""
    careplan = careplan_for(case)
    return {**careplan, "id": ident, "meta": {**careplan["meta"], "versionId": "3"}}


def test_a_revision_replaces_and_ends_the_plan_in_effect_in_the_same_transaction() -> None:
    old = revoked_careplan(_stored(OTHER, "old-1"))
    new = careplan_for(NO_OPIOIDS, replaces=["old-1"])
    bundle = build_save_transaction(
        new, document_for(NO_OPIOIDS), NO_OPIOIDS.plan_identifier, [old]
    )
    assert_no_errors(validate(bundle))
    *_, ended = bundle["entry"]
    assert ended["request"] == {"method": "PUT", "url": "CarePlan/old-1"}
    assert ended["resource"]["status"] == "revoked"
    assert new["replaces"] == [{"reference": "CarePlan/old-1"}]


def test_an_ended_plan_keeps_everything_but_its_status_and_open_steps() -> None:
    stored = _stored(OTHER, "old-1")
    ended = revoked_careplan(stored)
    assert_no_errors(validate(ended))
    assert ended["status"] == "revoked"
    assert "versionId" not in ended["meta"]
    assert ended["meta"]["profile"] == stored["meta"]["profile"]
    assert [a["detail"]["status"] for a in ended["activity"]] == ["cancelled"] * len(
        stored["activity"]
    )
    assert ended["text"]["div"].endswith(
        "A newer LDN titration plan replaces this one (see its CarePlan.replaces).</p></div>"
    )
    same = ("identifier", "subject", "period", "created", "author", "description", "extension")
    assert {key: ended[key] for key in same} == {key: stored[key] for key in same}


def test_a_plan_ended_without_being_named_in_replaces_is_refused() -> None:
    old = revoked_careplan(_stored(OTHER, "old-1"))
    with pytest.raises(InvalidResourceInput, match="must name CarePlan/old-1 in replaces"):
        build_save_transaction(
            careplan_for(NO_OPIOIDS), document_for(NO_OPIOIDS), NO_OPIOIDS.plan_identifier, [old]
        )
    with pytest.raises(InvalidResourceInput, match="stored, revoked CarePlan"):
        build_save_transaction(
            careplan_for(NO_OPIOIDS, replaces=["old-1"]),
            document_for(NO_OPIOIDS),
            NO_OPIOIDS.plan_identifier,
            [_stored(OTHER, "old-1")],  # still active: not ended
        )
    with pytest.raises(InvalidResourceInput, match="with an id"):
        revoked_careplan(careplan_for(OTHER))
