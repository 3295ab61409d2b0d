"""The FHIR connection behind a page: the launch, its token renewed, and the client it authorises.

Each client has one deadline for everything it does (``SMART_FHIR_DEADLINE_SECONDS``): a page
built from several reads answers within it even when the server is slow, and what was not read
in time is a failure of that source, never an all-clear.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from fhir_client import FhirClient
from smart_app.launch import LaunchContext, refresh_if_needed
from smart_app.session import load_launch, save_launch
from smart_app.settings import app_settings


def open_launch(launch_id: str | None) -> LaunchContext:
    """Return this browser's launch ``launch_id``, its access token renewed when about to expire."""
    settings = app_settings()
    ctx = load_launch(launch_id)
    fresh = refresh_if_needed(
        ctx,
        time.time(),
        registrations=settings.registrations,
        timeout=settings.http_timeout_seconds,
    )
    if fresh is not ctx and launch_id is not None:
        save_launch(launch_id, fresh)
    return fresh


@contextmanager
def fhir_client(ctx: LaunchContext) -> Iterator[FhirClient]:
    """Yield a FHIR client for the launch's server, authorised with its access token."""
    settings = app_settings()
    deadline = settings.fhir_deadline_seconds
    with requests.Session() as http:
        yield FhirClient(
            ctx.iss,
            token=ctx.access_token,
            session=http,
            timeout=min(settings.http_timeout_seconds, deadline),
            deadline=time.monotonic() + deadline,
        )
