"""SMART scope parsing (v2 and v1), access checks, narrowing and refresh narrowing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.auth.scopes import (
    Scopes,
    describe_scope,
    fit_to_context,
    narrow_scope,
    parse_resource_scope,
    scope_within,
)


@pytest.mark.parametrize(
    ("text", "level", "resource_type", "permissions"),
    [
        ("patient/MedicationStatement.rs", "patient", "MedicationStatement", "rs"),
        ("patient/CarePlan.c", "patient", "CarePlan", "c"),
        ("patient/*.rs", "patient", "*", "rs"),
        ("user/Observation.cruds", "user", "Observation", "cruds"),
        ("system/Patient.r", "system", "Patient", "r"),
        # v1 forms mean their v2 equivalents
        ("patient/MedicationStatement.read", "patient", "MedicationStatement", "rs"),
        ("patient/*.write", "patient", "*", "cud"),
        ("user/*.*", "user", "*", "cruds"),
    ],
)
def test_resource_scopes_parse_to_v2_permissions(
    text: str, level: str, resource_type: str, permissions: str
) -> None:
    rule = parse_resource_scope(text)
    assert rule is not None
    assert (rule.level, rule.resource_type) == (level, resource_type)
    assert rule.permissions == frozenset(permissions)


@pytest.mark.parametrize(
    "text",
    [
        "patient/Observation.sr",  # v2 letters out of order
        "patient/Observation.rr",
        "patient/Observation.x",
        "patient/Observation.",
        "practitioner/Observation.rs",
        "patient/observation.rs",
        "patient/Observation.rs?category=laboratory",  # granular scopes are not supported
        "openid",
    ],
)
def test_malformed_or_unsupported_resource_scopes_are_not_parsed(text: str) -> None:
    assert parse_resource_scope(text) is None


def test_patient_scopes_reach_only_the_context_patient() -> None:
    scopes = Scopes.parse("patient/MedicationStatement.rs patient/CarePlan.c", patient="p1")
    assert scopes.allows("MedicationStatement", "r", "p1")
    assert scopes.allows("MedicationStatement", "s", "p1")
    assert scopes.allows("CarePlan", "c", "p1")
    assert not scopes.allows("MedicationStatement", "r", "p2")
    assert not scopes.allows("MedicationStatement", "r", None)
    assert not scopes.allows("CarePlan", "u", "p1")
    assert not scopes.allows("Condition", "r", "p1")


def test_patient_scopes_without_a_context_patient_grant_nothing() -> None:
    scopes = Scopes.parse("patient/*.cruds")
    assert not scopes.allows("Observation", "r", "p1")


def test_user_scopes_do_not_depend_on_a_compartment() -> None:
    scopes = Scopes.parse("user/*.rs")
    assert scopes.allows("Patient", "s", None)
    assert scopes.allows("Observation", "r", "anyone")
    assert not scopes.allows("Observation", "c", None)


def test_v1_scopes_allow_what_their_v2_equivalents_allow() -> None:
    v1 = Scopes.parse("patient/MedicationStatement.read patient/CarePlan.write", patient="p1")
    assert v1.allows("MedicationStatement", "r", "p1")
    assert v1.allows("MedicationStatement", "s", "p1")
    assert not v1.allows("MedicationStatement", "c", "p1")
    assert all(v1.allows("CarePlan", i, "p1") for i in "cud")
    assert not v1.allows("CarePlan", "r", "p1")


def test_an_unknown_interaction_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="interaction"):
        Scopes.parse("user/*.cruds").allows("Patient", "x", None)  # type: ignore[arg-type]


def test_context_scopes_are_recognised_and_unknown_tokens_dropped() -> None:
    scopes = Scopes.parse("openid fhirUser launch offline_access made-up")
    assert scopes.has("openid")
    assert scopes.has("launch")
    assert not scopes.has("made-up")
    assert scopes.wants_refresh_token
    assert not Scopes.parse("openid").wants_refresh_token


@pytest.mark.parametrize(
    ("requested", "allowed", "granted"),
    [
        # granted in full: the client's own spelling is kept (v1 stays v1)
        ("patient/MedicationStatement.read", "patient/*.rs", "patient/MedicationStatement.read"),
        (
            "openid launch patient/*.rs",
            "openid launch patient/*.cruds",
            "openid launch patient/*.rs",
        ),
        # granted in part: reported in v2
        ("patient/CarePlan.cruds", "patient/*.rs patient/CarePlan.c", "patient/CarePlan.crs"),
        ("patient/*.write", "patient/*.rs", ""),
        ("patient/*.rs", "patient/Observation.r", "patient/Observation.r"),
        (
            "patient/*.rs",
            "patient/*.r patient/Observation.rs",
            "patient/*.r patient/Observation.rs",
        ),
        ("user/*.rs offline_access", "patient/*.rs", ""),
        ("unknown patient/Observation.rs?code=1", "patient/*.rs", ""),
    ],
)
def test_a_request_is_narrowed_to_the_policy(requested: str, allowed: str, granted: str) -> None:
    assert narrow_scope(requested, allowed) == granted


def test_refresh_may_narrow_but_never_widen() -> None:
    granted = "openid patient/*.rs offline_access"
    assert scope_within("patient/Observation.rs", granted)
    assert scope_within("patient/*.read openid", granted)
    assert not scope_within("patient/*.cruds", granted)
    assert not scope_within("user/Observation.r", granted)
    assert not scope_within("fhirUser", granted)


def test_context_scopes_without_context_are_dropped() -> None:
    scope = "launch launch/patient launch/encounter openid"
    assert fit_to_context(scope, patient=True, encounter=False) == "launch launch/patient openid"
    assert fit_to_context(scope, patient=False, encounter=True) == "launch launch/encounter openid"


def test_scopes_are_described_in_plain_words() -> None:
    assert describe_scope("patient/MedicationStatement.rs") == (
        "read, search MedicationStatement resources of the selected patient"
    )
    assert describe_scope("user/*.c") == "create all resource types that you can access"
    assert "refresh token" in describe_scope("offline_access")
    assert "not recognised" in describe_scope("patient/Observation.zz")


_RULES = st.builds(
    lambda level, rtype, letters: f"{level}/{rtype}.{''.join(c for c in 'cruds' if c in letters)}",
    st.sampled_from(["patient", "user"]),
    st.sampled_from(["*", "Observation", "CarePlan"]),
    st.sets(st.sampled_from("cruds"), min_size=1),
)


@given(st.lists(_RULES, max_size=4), st.lists(_RULES, max_size=4))
def test_a_narrowed_grant_never_exceeds_the_request_or_the_policy(
    requested: list[str], allowed: list[str]
) -> None:
    request, policy = " ".join(requested), " ".join(allowed)
    granted = narrow_scope(request, policy)
    assert scope_within(granted, request)
    assert scope_within(granted, policy)
