"""Load the sample patients into a FHIR server: one transaction, idempotent, dated for ``today``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests

from fhir_client import FhirClient, FhirError, FhirUnavailable
from sandbox.patients import SAMPLE_TAG, sample_bundle

_TIMEOUT_SECONDS = 120.0
# The sample clinician: the user the sandbox EHR launches apps as.
SAMPLE_PRACTITIONER = "Practitioner/sandbox-clinician"


class SampleLoadError(RuntimeError):
    """The server refused the sample transaction (the message carries its OperationOutcome)."""


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did: the server id of each sample patient, and how many resources it wrote."""

    patient_ids: Mapping[str, str]
    created: int
    updated: int


def load_samples(
    base_url: str, session: requests.Session | None = None, *, today: date
) -> LoadReport:
    """Create or refresh every sample patient on the server at ``base_url``, dated for ``today``.

    Loading again creates nothing new: each resource is a conditional update on its sample
    identifier, so a later ``today`` moves the dates instead of leaving stale ones. The sample
    clinician (``SAMPLE_PRACTITIONER``), the user of EHR launches, is written alongside.
    """
    bundle = sample_bundle(today)
    if session is None:
        with requests.Session() as owned:
            response = _post_transactions(base_url, bundle, owned)
    else:
        response = _post_transactions(base_url, bundle, session)
    answers = response.get("entry", [])
    if response.get("type") != "transaction-response" or len(answers) != len(bundle["entry"]):
        raise SampleLoadError(
            f"{base_url} did not answer the transaction with one entry per request"
        )
    patient_ids = {}
    statuses = []
    for sent, answer in zip(bundle["entry"], answers, strict=True):
        status = answer.get("response", {}).get("status", "")
        statuses.append(status.split(" ", 1)[0])
        resource = sent["resource"]
        if resource["resourceType"] == "Patient":
            key = resource["identifier"][0]["value"]
            patient_ids[key] = _server_id(answer, key)
    return LoadReport(
        patient_ids=patient_ids, created=statuses.count("201"), updated=statuses.count("200")
    )


def _post_transactions(
    base_url: str, bundle: dict[str, Any], session: requests.Session
) -> dict[str, Any]:
    """Post the sample transaction, then the sample clinician; return the samples' answer."""
    try:
        client = FhirClient(base_url, session=session, timeout=_TIMEOUT_SECONDS)
        answer = client.transaction(bundle)
        client.transaction(_practitioner_transaction())
    except FhirUnavailable as error:
        raise SampleLoadError(f"Could not reach the FHIR server at {base_url}: {error}") from error
    except FhirError as error:
        reason = _diagnostics(error.outcome or {}) or error.message
        raise SampleLoadError(
            f"{base_url} refused the sample transaction (HTTP {error.status}): {reason}"
        ) from error
    return answer


def _practitioner_transaction() -> dict[str, Any]:
    # A fixed id (update as create), so launches can name the user before anything is loaded.
    resource_type, resource_id = SAMPLE_PRACTITIONER.split("/")
    practitioner = {
        "resourceType": resource_type,
        "id": resource_id,
        "meta": {"tag": [SAMPLE_TAG]},
        "active": True,
        "name": [
            {"use": "official", "family": "Clinician", "given": ["Sandbox"], "prefix": ["Dr"]}
        ],
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": practitioner,
                "request": {"method": "PUT", "url": SAMPLE_PRACTITIONER},
            }
        ],
    }


def _diagnostics(outcome: dict[str, Any]) -> str:
    issues = outcome.get("issue", []) if outcome.get("resourceType") == "OperationOutcome" else []
    return "; ".join(str(issue.get("diagnostics", issue.get("code", ""))) for issue in issues)


def _server_id(answer: dict[str, Any], key: str) -> str:
    """Read the id from ``response.location`` (``[base/]Type/id/_history/v``) or the resource."""
    location = answer.get("response", {}).get("location", "")
    found = location.split("/_history/", 1)[0].rstrip("/").rsplit("/", 1)[-1] if location else ""
    found = found or answer.get("resource", {}).get("id", "")
    if not isinstance(found, str) or not found:
        raise SampleLoadError(f"The server did not say which id it gave sample patient {key!r}")
    return found
