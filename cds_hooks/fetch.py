"""Read what the prefetch did not bring from the CDS client's FHIR server, all queries at once,
under one hard deadline for them all together (the EHR gives up quietly after a few seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

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


def fetch_all(
    base_url: str, token: str | None, queries: Sequence[PrefetchQuery], deadline: float
) -> dict[str, Fetched]:
    """Run every query against ``base_url`` at once; one unfinished ``deadline`` s on has failed.

    A query reads all its pages (large pages, ``next`` followed as the server gives it); the
    queries run side by side, so the wait is the slowest query's, not the sum of them all.
    """
    if not queries:
        return {}
    # No retries: a Retry-After wait would outlast the deadline anyway. One moment ends every
    # query: a straggler stops reading at the deadline too. Each query runs on its own session.
    try:
        client = FhirClient(
            base_url,
            token=token,
            timeout=deadline,
            max_retries=0,
            deadline=time.monotonic() + deadline,
        )
    except ValueError:
        unusable = Fetched(failure="the fhirServer given is not an http(s) URL")
        return {query.key: unusable for query in queries}
    late = Fetched(failure=f"no answer from the FHIR server within {deadline:g} s")
    return client.concurrently(
        {query.key: partial(_run, query) for query in queries}, late=lambda _key: late
    )


def _run(query: PrefetchQuery, client: FhirClient) -> Fetched:
    """Return what one query gave; an unexpected error fails that source only, never the call."""
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
    except Exception as error:  # noqa: BLE001 (one broken source must not hide the others)
        log.error(
            "FHIR query failed unexpectedly: %s",
            type(error).__name__,
            extra={"event": "fhir-fetch-error", "path": query.key},
        )
        return Fetched(failure="the FHIR server's answer could not be read")
