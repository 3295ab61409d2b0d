"""Read what the prefetch did not bring from the CDS client's FHIR server, in parallel, under
one hard deadline for all queries together (the EHR gives up quietly after a few seconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import requests

from cds_hooks.discovery import PrefetchQuery
from clinical.records import Source
from fhir_client import FhirClient, FhirError

# Referenced Medication resources come along with the medication records that name them (the
# prefetch query subset does not allow _include, a direct search does).
_INCLUDES = {str(source): f"{source}:medication" for source in Source}


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one query gave: its resources, or why it gave none."""

    resources: tuple[Mapping[str, Any], ...] = ()
    failure: str | None = None


def _run(base_url: str, token: str | None, query: PrefetchQuery, timeout: float) -> Fetched:
    with requests.Session() as session:
        # No retries: a Retry-After wait would outlast the deadline anyway.
        client = FhirClient(base_url, token=token, session=session, timeout=timeout, max_retries=0)
        try:
            if query.resource_id is not None:
                return Fetched((client.read(query.resource_type, query.resource_id),))
            params: dict[str, list[str]] = {}
            for name, value in query.params:
                params.setdefault(name, []).append(value)
            if query.resource_type in _INCLUDES:
                params.setdefault("_include", []).append(_INCLUDES[query.resource_type])
            return Fetched(tuple(client.search(query.resource_type, params)))
        except FhirError as exc:
            # FhirError messages name the interaction and status only, never ids or the token.
            return Fetched(failure=f"the FHIR server could not answer ({exc.message})")
        except ValueError:
            return Fetched(failure="the query could not be built from the hook context")


def fetch_all(
    base_url: str, token: str | None, queries: Sequence[PrefetchQuery], deadline: float
) -> dict[str, Fetched]:
    """Run every query against ``base_url``; a query unfinished at ``deadline`` s has failed."""
    if not queries:
        return {}
    executor = ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="cds-fetch")
    futures = {
        executor.submit(_run, base_url, token, query, deadline): query.key for query in queries
    }
    try:
        done, _late = wait(futures, timeout=deadline)
    finally:
        # Do not wait for stragglers: each closes its own session when its timeout ends it.
        executor.shutdown(wait=False, cancel_futures=True)
    results: dict[str, Fetched] = {}
    for future, key in futures.items():
        if future in done:
            results[key] = future.result()  # an unexpected error propagates: 503, never "clear"
        else:
            results[key] = Fetched(failure=f"no answer from the FHIR server within {deadline:g} s")
    return results
