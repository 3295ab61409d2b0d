"""Decide, per prefetch key, where the service's data comes from (CDS Hooks §Prefetch Template).

* key present with data: use it;
* key present with ``null``: the client ran the query and found nothing, so the patient has
  none of that resource on file (read, zero records);
* key present with an OperationOutcome, a Bundle the client did not finish (a ``next``
  link, an error issue), or anything but a well-formed searchset of the type asked for: the
  client failed, so fetch it;
* key missing: the client did not prefetch it, so fetch it.

Fetching needs a ``fhirServer`` on the allowlist. Each source ends either read (with where it
came from) or failed (with a reason a clinician can be shown). ``patient`` is only checked: when
sent it must be the patient in context; it is never fetched, the check does not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_hooks.config import CdsSettings
from cds_hooks.discovery import ServiceDefinition
from cds_hooks.errors import DataUnavailable, InvalidRequest
from cds_hooks.fetch import Fetched, fetch_all, includes_for
from cds_hooks.request import HookRequest
from fhir_profiles.searchset import (
    MalformedSearchset,
    check_all_read,
    include_targets,
    read_searchset_page,
)

log = logging.getLogger("ldn.cds_hooks.prefetch")

MEDICATION_KEYS = (
    "medicationStatements",
    "medicationRequests",
    "medicationDispenses",
    "medicationAdministrations",
)
DATA_KEYS = (*MEDICATION_KEYS, "conditions")
PATIENT_KEY = "patient"

FROM_PREFETCH = "prefetch"
FROM_FHIR_SERVER = "FHIR server"


@dataclass(frozen=True, slots=True)
class Source:
    """One kind of data the check reads, and how reading it went."""

    key: str
    resource_type: str
    resources: tuple[Mapping[str, Any], ...] = ()
    origin: str | None = None
    failure: str | None = None

    @property
    def read(self) -> bool:
        """Say whether the data was had (possibly zero records)."""
        return self.failure is None

    @property
    def count(self) -> int:
        """Return how many resources of this source's own type were read."""
        return sum(1 for r in self.resources if r.get("resourceType") == self.resource_type)


@dataclass(frozen=True, slots=True)
class ResolvedData:
    """Every source the check reads, keyed by prefetch key."""

    sources: Mapping[str, Source]


def _from_prefetch(key: str, resource_type: str, value: Mapping[str, Any] | None) -> Source | str:
    """Return the source read from the prefetch, or why it must be fetched instead.

    The prefetch is checked exactly as a FHIR server's answer is (``fhir_profiles.searchset``):
    anything but a well-formed searchset read in full is a failure, never "no records".
    """
    if value is None:
        return Source(key, resource_type, (), FROM_PREFETCH)
    if value.get("resourceType") == "OperationOutcome":
        return "the EHR's prefetch failed"
    included = include_targets(includes_for(resource_type))
    try:
        page = read_searchset_page(value, resource_type, included=included)
        if page.next_url is not None:
            return "the EHR's prefetch held only the first page"
        check_all_read(page.total, page.matches)
    except MalformedSearchset as exc:
        return f"the EHR's prefetch could not be read ({exc})"
    return Source(key, resource_type, page.resources, FROM_PREFETCH)


def check_patient(hook: HookRequest) -> None:
    """Refuse a prefetched Patient that is not the patient in context (400)."""
    patient = hook.prefetch.get(PATIENT_KEY)
    if patient is None:
        return
    if patient.get("resourceType") != "Patient" or patient.get("id") != hook.patient_id:
        raise InvalidRequest(
            "prefetch.patient is not the Patient named by context.patientId",
            path=f"prefetch.{PATIENT_KEY}",
        )


def _fetch_block(hook: HookRequest, settings: CdsSettings) -> str | None:
    if hook.fhir_server is None:
        return "no fhirServer was given to read it from"
    if not settings.fhir_server_allowed(hook.fhir_server):
        log.warning("fhirServer not on CDS_ALLOWED_FHIR_SERVERS", extra={"event": "fhir-refused"})
        return "the fhirServer given is not one this service may call"
    return None


def resolve_data(
    hook: HookRequest, service: ServiceDefinition, settings: CdsSettings
) -> ResolvedData:
    """Gather every source the check reads; raise DataUnavailable (412) when no medication
    data at all could be had. A partly failed source list is returned for the cards to name.
    """
    check_patient(hook)
    sources: dict[str, Source] = {}
    to_fetch: dict[str, str] = {}
    for key in DATA_KEYS:
        outcome: Source | str = "the EHR did not prefetch it"
        if key in hook.prefetch:
            outcome = _from_prefetch(key, service.resource_type(key), hook.prefetch[key])
        if isinstance(outcome, Source):
            sources[key] = outcome
        else:
            to_fetch[key] = outcome
    if to_fetch:
        sources.update(_fetch(hook, service, settings, to_fetch))
    resolved = ResolvedData({key: sources[key] for key in DATA_KEYS})
    if not any(resolved.sources[key].read for key in MEDICATION_KEYS):
        raise DataUnavailable(
            "No medication data could be read for this patient, so the naltrexone opioid check "
            "could not run.",
            {
                resolved.sources[key].resource_type: str(resolved.sources[key].failure)
                for key in MEDICATION_KEYS
            },
        )
    return resolved


def _fetch(
    hook: HookRequest, service: ServiceDefinition, settings: CdsSettings, why: Mapping[str, str]
) -> dict[str, Source]:
    queries = {key: service.prefetch_query(key, hook.context) for key in why}
    blocked = _fetch_block(hook, settings)
    if blocked is not None or hook.fhir_server is None:
        return {
            key: Source(key, q.resource_type, failure=f"{why[key]}, and {blocked}")
            for key, q in queries.items()
        }
    token = hook.fhir_authorization.access_token if hook.fhir_authorization else None
    fetched = fetch_all(
        hook.fhir_server, token, list(queries.values()), settings.fhir_deadline_seconds
    )
    return {key: _source(key, queries[key].resource_type, why[key], fetched[key]) for key in why}


def _source(key: str, resource_type: str, why: str, fetched: Fetched) -> Source:
    if fetched.failure is not None:
        return Source(key, resource_type, failure=f"{why}, and {fetched.failure}")
    return Source(key, resource_type, fetched.resources, FROM_FHIR_SERVER)
