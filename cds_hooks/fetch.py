"""Read what the prefetch did not bring from the CDS client's FHIR server, in parallel, under
one hard deadline for all queries together (the EHR gives up quietly after a few seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import requests

from cds_hooks.discovery import PrefetchQuery
from clinical.records import Source
from fhir_client import FhirClient, FhirError, FhirMalformedAnswer

log = logging.getLogger("ldn.cds_hooks.fetch")

# Referenced Medication resources come along with the medication records that name them (the
# prefetch query subset does not allow _include, a direct search does).
_INCLUDES = {str(source): f"{source}:medication" for source in Source}


def includes_for(resource_type: str) -> tuple[str, ...]:
    """Return the ``_include`` values a search of ``resource_type`` is sent with."""
    include = _INCLUDES.get(resource_type)
    return (include,) if include else ()


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one query gave: its resources, or why it gave none."""

    resources: tuple[Mapping[str, Any], ...] = ()
    failure: str | None = None


def _run(base_url: str, token: str | None, query: PrefetchQuery, deadline: float) -> Fetched:
    with requests.Session() as session:
        # No retries: a Retry-After wait would outlast the deadline anyway.
        client = FhirClient(
            base_url,
            token=token,
            session=session,
            timeout=max(0.0, deadline - time.monotonic()),
            max_retries=0,
            deadline=deadline,
        )
        try:
            if query.resource_id is not None:
                return Fetched((client.read(query.resource_type, query.resource_id),))
            params: dict[str, list[str]] = {}
            for name, value in query.params:
                params.setdefault(name, []).append(value)
            params.setdefault("_include", []).extend(includes_for(query.resource_type))
            return Fetched(tuple(client.search(query.resource_type, params)))
        except FhirMalformedAnswer as exc:
            return Fetched(failure=f"the FHIR server's answer could not be read ({exc.message})")
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
    # One moment for every query: a straggler stops reading at the deadline too.
    ends = time.monotonic() + deadline
    futures = {executor.submit(_run, base_url, token, query, ends): query.key for query in queries}
    try:
        done, _late = wait(futures, timeout=deadline)
    finally:
        # Do not wait for stragglers: each closes its own session when its timeout ends it.
        executor.shutdown(wait=False, cancel_futures=True)
    results: dict[str, Fetched] = {}
    for future, key in futures.items():
        if future in done:
            results[key] = _result(future.result, key)
        else:
            results[key] = Fetched(failure=f"no answer from the FHIR server within {deadline:g} s")
    return results


def _result(result: Callable[[], Fetched], key: str) -> Fetched:
    """Return a query's result; an unexpected error fails that source only, never the call."""
    try:
        return result()
    except Exception as error:  # noqa: BLE001 (one broken source must not hide the others)
        log.error(
            "FHIR query failed unexpectedly: %s",
            type(error).__name__,
            extra={"event": "fhir-fetch-error", "path": key},
        )
        return Fetched(failure="the FHIR server's answer could not be read")
