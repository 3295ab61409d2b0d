"""Load the sample patients into a FHIR server: one transaction, idempotent, dated for ``today``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests

from sandbox.patients import sample_bundle

_TIMEOUT_SECONDS = 120.0


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
    identifier, so a later ``today`` moves the dates instead of leaving stale ones.
    """
    bundle = sample_bundle(today)
    if session is None:
        with requests.Session() as owned:
            response = _post_transaction(base_url, bundle, owned)
    else:
        response = _post_transaction(base_url, bundle, session)
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


def _post_transaction(
    base_url: str, bundle: dict[str, Any], session: requests.Session
) -> dict[str, Any]:
    # The one place this module speaks HTTP; it moves onto fhir_client.FhirClient.transaction.
    try:
        response = session.post(
            base_url.rstrip("/"),
            json=bundle,
            headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"},
            timeout=_TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise SampleLoadError(f"Could not reach the FHIR server at {base_url}: {error}") from error
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if not response.ok:
        raise SampleLoadError(
            f"{base_url} refused the sample transaction (HTTP {response.status_code}): "
            f"{_diagnostics(body) or response.reason}"
        )
    return body


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
