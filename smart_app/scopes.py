"""SMART scopes: what the app asks for (v2, or v1 for older servers) and what a grant allows.

SMART App Launch 2.x, "Scopes and Launch Context": v2 resource scopes end in permission letters
``c r u d s`` (``patient/CarePlan.c``); v1 scopes end in ``read``, ``write`` or ``*``. A server
that lacks the ``permission-v2`` capability is asked in v1. The grant may be narrower than the
request, so every capability of the app is computed from the granted scopes.
"""

from __future__ import annotations

from collections.abc import Iterable

# What the app reads (the opioid review) and writes (the titration CarePlan and the evidence
# DocumentReference, saved together in one transaction).
DATA_SCOPES_V2: tuple[str, ...] = (
    "patient/Patient.r",
    "patient/MedicationStatement.rs",
    "patient/MedicationRequest.rs",
    "patient/MedicationDispense.rs",
    "patient/MedicationAdministration.rs",
    # Medications referenced by the orders come along with `_include`: reading them needs this.
    "patient/Medication.r",
    "patient/Condition.rs",
    "patient/CarePlan.rs",
    "patient/CarePlan.cu",
    "patient/DocumentReference.rs",
    "patient/DocumentReference.c",
)
IDENTITY_SCOPES: tuple[str, ...] = ("openid", "fhirUser", "offline_access")
EHR_LAUNCH = "launch"
STANDALONE_LAUNCH = "launch/patient"

_V1_LETTERS = {"read": "rs", "write": "cud", "*": "cruds"}


def requested_scopes(
    data_scopes: Iterable[str] | None, *, ehr_launch: bool, v2: bool
) -> tuple[str, ...]:
    """Return the scopes to request: data scopes (v1 if not ``v2``), launch and identity scopes."""
    data = tuple(data_scopes) if data_scopes is not None else DATA_SCOPES_V2
    if not v2:
        data = tuple(dict.fromkeys(to_v1(scope) for scope in data))
    launch = EHR_LAUNCH if ehr_launch else STANDALONE_LAUNCH
    return tuple(dict.fromkeys((*data, launch, *IDENTITY_SCOPES)))


def to_v1(scope: str) -> str:
    """Translate a v2 resource scope to v1 (``.rs`` -> ``.read``, ``.cu`` -> ``.write``)."""
    parsed = _parse(scope)
    if parsed is None:
        return scope
    context, resource, letters = parsed
    if set(letters) <= set("rs"):
        return f"{context}/{resource}.read"
    if set(letters) <= set("cud"):
        return f"{context}/{resource}.write"
    return f"{context}/{resource}.*"


def permits(granted: Iterable[str], resource: str, letter: str) -> bool:
    """Return whether the granted scopes allow ``letter`` (one of c r u d s) on ``resource``.

    Scopes limited by a query (``?category=...``) allow only part of a resource type, so they
    never count as full permission here.
    """
    for scope in granted:
        parsed = _parse(scope)
        if parsed is None:
            continue
        context, scope_resource, letters = parsed
        if (
            context in ("patient", "user")
            and scope_resource in (resource, "*")
            and letter in letters
        ):
            return True
    return False


def _parse(scope: str) -> tuple[str, str, str] | None:
    """Split a resource scope into context, resource type and v2 letters; None otherwise."""
    if "?" in scope or "/" not in scope or "." not in scope:
        return None
    context, _, rest = scope.partition("/")
    resource, _, permission = rest.rpartition(".")
    if permission in _V1_LETTERS:
        return context, resource, _V1_LETTERS[permission]
    if permission and set(permission) <= set("cruds"):
        return context, resource, permission
    return None
