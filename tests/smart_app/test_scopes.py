"""Scopes requested (v2, or v1 for older servers) and what a granted set allows."""

from __future__ import annotations

import pytest

from smart_app.scopes import DATA_SCOPES_V2, permits, requested_scopes, to_v1


def test_v2_request_for_an_ehr_launch() -> None:
    scopes = requested_scopes(None, ehr_launch=True, v2=True)
    assert scopes[: len(DATA_SCOPES_V2)] == DATA_SCOPES_V2
    assert scopes[len(DATA_SCOPES_V2) :] == ("launch", "openid", "fhirUser", "offline_access")


def test_v1_request_merges_read_and_write_scopes() -> None:
    scopes = requested_scopes(None, ehr_launch=False, v2=False)
    assert scopes.count("patient/CarePlan.read") == 1
    assert "patient/CarePlan.write" in scopes
    assert "patient/DocumentReference.write" in scopes
    assert "launch/patient" in scopes


@pytest.mark.parametrize(
    ("v2", "v1"),
    [
        ("patient/Patient.r", "patient/Patient.read"),
        ("patient/CarePlan.cu", "patient/CarePlan.write"),
        ("patient/CarePlan.cruds", "patient/CarePlan.*"),
        ("openid", "openid"),
        ("launch/patient", "launch/patient"),
    ],
)
def test_to_v1(v2, v1) -> None:
    assert to_v1(v2) == v1


@pytest.mark.parametrize(
    ("granted", "resource", "letter", "allowed"),
    [
        (["patient/CarePlan.cu"], "CarePlan", "c", True),
        (["patient/CarePlan.rs"], "CarePlan", "c", False),
        (["patient/CarePlan.write"], "CarePlan", "c", True),
        (["patient/*.read"], "CarePlan", "r", True),
        (["patient/*.read"], "CarePlan", "c", False),
        (["user/*.*"], "DocumentReference", "c", True),
        (["patient/*.cruds"], "MedicationRequest", "s", True),
        (["system/CarePlan.c"], "CarePlan", "c", False),
        (["patient/Condition.rs?category=problem-list-item"], "Condition", "r", False),
        (["patient/Condition.rs"], "CarePlan", "r", False),
        (["launch", "openid"], "Patient", "r", False),
    ],
)
def test_permits(granted, resource, letter, allowed) -> None:
    assert permits(granted, resource, letter) is allowed
