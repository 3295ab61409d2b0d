"""Opaque EHR launch values: the EHR binds its current patient, user and encounter to one.

SMART App Launch 2.x, "EHR launch": the EHR hands the app ``iss`` and an opaque ``launch``
value; the app sends ``launch`` back on the authorize request, and the authorization server
turns it into patient and encounter context. Here a launch value is random, short-lived and
good for one authorization. A launch from a CDS card's smart link also carries the link's
``appContext`` (CDS Hooks 2.0, Link), which the token response hands to the app as is.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir_profiles.syntax import FHIR_ID, ID_SYNTAX, TYPE_SYNTAX
from sandbox.auth.models import USER_REFERENCE
from sandbox.auth.store import ExpiringMap, SandboxDatabase

_REFERENCE = re.compile(rf"{TYPE_SYNTAX}/{ID_SYNTAX}")
# The most appContext a launch carries, in UTF-8 bytes: it rides in every token response.
APP_CONTEXT_LIMIT = 4096


class LaunchRequestError(ValueError):
    """A launch request names no patient, or names something malformed."""


@dataclass(frozen=True)
class LaunchContext:
    """What the EHR had open when it launched the app."""

    patient: str
    user: str | None = None
    encounter: str | None = None
    need_patient_banner: bool = False
    fhir_context: tuple[str, ...] = ()
    app_context: str | None = None

    @classmethod
    def from_json(cls, data: object) -> LaunchContext:
        """Read a launch request body: ``patient`` id, optional ``user``, ``encounter``, etc."""
        if not isinstance(data, Mapping):
            raise LaunchRequestError("send a JSON object with at least 'patient'")
        patient = _match(data, "patient", FHIR_ID, "a FHIR Patient id")
        if patient is None:
            raise LaunchRequestError("'patient' (a FHIR Patient id) is required")
        banner = data.get("need_patient_banner", False)
        if not isinstance(banner, bool):
            raise LaunchRequestError("'need_patient_banner' must be true or false")
        return cls(
            patient=patient,
            user=_match(data, "user", USER_REFERENCE, "a reference such as Practitioner/123"),
            encounter=_match(data, "encounter", FHIR_ID, "a FHIR Encounter id"),
            need_patient_banner=banner,
            fhir_context=_fhir_context(data.get("fhirContext", [])),
            app_context=_app_context(data.get("appContext")),
        )


def app_context_fits(value: str) -> bool:
    """Tell whether ``value`` is UTF-8 text within the size a launch's appContext may have."""
    try:
        return len(value.encode()) <= APP_CONTEXT_LIMIT
    except UnicodeEncodeError:  # a lone surrogate cannot go into a token response as text
        return False


class LaunchStore:
    """Issue launch values and redeem each of them once, before it expires."""

    def __init__(self, database: SandboxDatabase, ttl: float) -> None:
        self._launches: ExpiringMap[str, LaunchContext] = database.map("launch")
        self.ttl = ttl

    def create(self, context: LaunchContext) -> str:
        """Bind ``context`` to a new opaque launch value and return it."""
        value = secrets.token_urlsafe(32)
        self._launches.put(value, context, self.ttl)
        return value

    def redeem(self, value: str) -> LaunchContext | None:
        """Return the context of a live, unused launch value, and use it up."""
        return self._launches.pop(value)


def _match(data: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise LaunchRequestError(f"'{name}' must be {what}")
    return value


def _fhir_context(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        raise LaunchRequestError("'fhirContext' must be a list of {'reference': 'Type/id'}")
    references = []
    for item in items:
        reference = item.get("reference") if isinstance(item, Mapping) else None
        if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
            raise LaunchRequestError("'fhirContext' must be a list of {'reference': 'Type/id'}")
        references.append(reference)
    return tuple(references)


def _app_context(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not app_context_fits(value):
        raise LaunchRequestError(
            f"'appContext' must be a string of at most {APP_CONTEXT_LIMIT} bytes"
        )
    return value
