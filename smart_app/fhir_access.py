"""The launch behind a page, with a fresh token, and the FHIR client that uses it.

Each client has one deadline for everything it does (``SMART_FHIR_DEADLINE_SECONDS``): a page
built from several reads answers within it even when the server is slow, and what was not read
in time is a failure of that source, never an all-clear.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from flask import current_app

from fhir_client import FhirClient
from smart_app.launch import LaunchContext, refresh_if_needed
from smart_app.routes import registrations
from smart_app.session import load_launch, save_launch


def open_launch(launch_id: str | None) -> LaunchContext:
    """Return this browser's launch ``launch_id``, its access token renewed when about to expire."""
    ctx = load_launch(launch_id)
    fresh = refresh_if_needed(ctx, time.time(), registrations=registrations(), timeout=_timeout())
    if fresh is not ctx and launch_id is not None:
        save_launch(launch_id, fresh)
    return fresh


@contextmanager
def fhir_client(ctx: LaunchContext) -> Iterator[FhirClient]:
    """Yield a FHIR client for the launch's server, authorised with its access token."""
    deadline = float(current_app.config["SMART_FHIR_DEADLINE_SECONDS"])
    with requests.Session() as http:
        yield FhirClient(
            ctx.iss,
            token=ctx.access_token,
            session=http,
            timeout=min(_timeout(), deadline),
            deadline=time.monotonic() + deadline,
        )


def _timeout() -> float:
    return float(current_app.config["SMART_HTTP_TIMEOUT"])
