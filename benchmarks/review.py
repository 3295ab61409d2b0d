"""Part 6: the SMART app's opioid review against the time to fetch what it shows.

The real app (``ldn_safety.app.create_app``, Flask's test client, a completed launch put in its
session) renders ``/review`` for a synthetic chart on the real FHIR server, read through the
proxy that delays every request. The fetch is the same reads (the Patient, the four medication
sources with their Medications, Conditions) made at once by the FHIR client, with nothing mapped,
assessed or rendered: the floor of any review. The proxy's record of one review gives the
requests it made and how many came one after another (sequential rounds).
"""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from flask import Flask
from flask.testing import FlaskClient

from benchmarks.delay_proxy import sequential_rounds
from benchmarks.fhir_chart import ChartsServed
from benchmarks.stats import Timing, ms
from fhir_client import FhirClient
from ldn_safety.app import create_app
from smart_app.launch import LaunchContext
from smart_app.review import MEDICATION_SOURCES
from smart_app.scopes import DATA_SCOPES_V2
from smart_app.session import LAUNCHES_KEY
from tools.bench_cds import TODAY

APP = "https://app.bench.test"
TOKEN = "benchmark-access-token"  # noqa: S105 (not a secret: SEKMET asks for no token)
DEADLINE_SECONDS = 120.0  # the benchmark measures time: no read may be cut off
# The chart's one active opioid (an oxycodone order started days ago) decides the review.
EXPECTED_STATUS = "do-not-start"
_STATUS = re.compile(r'data-status="([a-z-]+)"')


class ReviewFailed(Exception):
    """The review did not show the chart's decision: the figures would be meaningless."""


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """Figures for one chart size (seconds)."""

    records: int
    requests: int
    rounds: int
    review: Timing
    fetch: Timing


@contextmanager
def _app(fhir_base: str) -> Iterator[Flask]:
    with tempfile.TemporaryDirectory(prefix="ldn-bench-app-") as folder:
        yield create_app(
            {
                "SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
                "SERVER_NAME": "app.bench.test",
                "PREFERRED_URL_SCHEME": "https",
                "SESSION_DIR": str(Path(folder) / "sessions"),
                "DATABASE_URL": f"sqlite:///{Path(folder) / 'store.sqlite3'}",
                "SMART_ISSUERS": {fhir_base: {"client_id": "ldn-bench"}},
                "SMART_FHIR_DEADLINE_SECONDS": DEADLINE_SECONDS,
                "SMART_HTTP_TIMEOUT": DEADLINE_SECONDS,
                "TODAY": lambda: TODAY,
            }
        )


def _signed_in(browser: FlaskClient, fhir_base: str, patient_id: str) -> str:
    """Put a completed EHR launch for ``patient_id`` in the browser's session; return its id."""
    launch = LaunchContext(
        iss=fhir_base,
        client_id="ldn-bench",
        token_endpoint=f"{fhir_base}/token",
        access_token=TOKEN,
        refresh_token=None,
        expires_at=int(time.time()) + 24 * 3600,
        requested_scopes=(*DATA_SCOPES_V2, "launch"),
        granted_scopes=(*DATA_SCOPES_V2, "launch"),
        patient=patient_id,
        encounter=None,
        fhir_context=(),
        need_patient_banner=True,
        smart_style_url=None,
        fhir_user=None,
    )
    launch_id = secrets.token_urlsafe(8)
    with browser.session_transaction() as session:
        session[LAUNCHES_KEY] = {launch_id: launch.to_dict()}
    return launch_id


def _review(browser: FlaskClient, launch_id: str) -> float:
    began = time.perf_counter()
    response = browser.get(f"{APP}/review", query_string={"launch_id": launch_id})
    elapsed = time.perf_counter() - began
    shown = _STATUS.search(response.get_data(as_text=True))
    if response.status_code != 200 or not shown or shown.group(1) != EXPECTED_STATUS:
        raise ReviewFailed(f"review answered {response.status_code}, status {shown}")
    return elapsed


def _fetch(fhir_base: str, patient_id: str) -> float:
    """Make the review's reads at once through the FHIR client; return the seconds taken."""
    client = FhirClient(
        fhir_base, token=TOKEN, timeout=DEADLINE_SECONDS, deadline=time.monotonic() + 600
    )
    reads: dict[str, Callable[[FhirClient], Any]] = {
        "Patient": lambda c: c.read("Patient", patient_id),
        "Condition": lambda c: c.search("Condition", {"patient": patient_id}),
    }
    for resource_type in MEDICATION_SOURCES:
        reads[resource_type] = partial(_search_with_medications, resource_type, patient_id)
    began = time.perf_counter()
    client.concurrently(reads, late=_late)
    return time.perf_counter() - began


def _late(key: str) -> NoReturn:
    raise ReviewFailed(f"{key} was not read in time")


def _search_with_medications(resource_type: str, patient_id: str, client: FhirClient) -> Any:
    return client.search(
        resource_type, {"patient": patient_id, "_include": f"{resource_type}:medication"}
    )


def run(served: ChartsServed, repeats: Callable[[int], int]) -> list[ReviewRow]:
    """Time the review and its fetch, interleaved, for every chart ``served`` holds."""
    rows = []
    proxy = served.proxy
    with _app(proxy.base_url) as app:
        browser = app.test_client()
        for records, patient_id in served.patients.items():
            launch_id = _signed_in(browser, proxy.base_url, patient_id)
            _review(browser, launch_id)  # warm the templates and both sides' caches
            once = proxy.take_served()
            reviews, fetches = [], []
            for _ in range(repeats(records)):
                reviews.append(_review(browser, launch_id))
                fetches.append(_fetch(proxy.base_url, patient_id))
            proxy.take_served()
            rows.append(
                ReviewRow(
                    records,
                    len(once),
                    sequential_rounds(once),
                    Timing(tuple(reviews)),
                    Timing(tuple(fetches)),
                )
            )
    return rows


def table(rows: list[ReviewRow]) -> list[str]:
    """Return part 6 as Markdown lines."""
    lines = [
        "## 6. The SMART app's review, through the same proxy (render against fetch)",
        "",
        "| records | FHIR requests | sequential rounds | review median / p95 ms "
        "| fetch of the same reads, median ms | review / fetch |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.records:,} | {r.requests} | {r.rounds} "
            f"| {ms(r.review.median)} / {ms(r.review.p95)} | {ms(r.fetch.median)} "
            f"| {r.review.median / r.fetch.median:.2f}x |"
        )
    if len(rows) > 1:
        small, large = rows[-2], rows[-1]
        growth = large.review.median / small.review.median
        lines += [
            "",
            f"{large.records / small.records:.0f}x the records ({small.records:,} to "
            f"{large.records:,}): the review takes {growth:.1f}x the time.",
        ]
    return lines
