"""Part 4: the CDS service's fetch path (no prefetch) against the slowest single query.

The service's own fetch (``cds_hooks.fetch.fetch_all``, every query an order-select hook without
prefetch issues: the Patient, the four medication sources, Conditions) reads a synthetic chart
from the real FHIR server through a proxy that delays every request by a fixed time. Each query is
also run on its own through the same code and proxy; the slowest of them is the floor no fetch
can beat. Run one after another the queries would cost their sum; run at once, close to the
slowest. The proxy's record gives the requests made and how many of them came one after another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from benchmarks.delay_proxy import DelayProxy, sequential_rounds
from benchmarks.fhir_chart import ChartsServed
from benchmarks.stats import Timing, ms
from cds_hooks.discovery import PrefetchQuery, find_service
from cds_hooks.fetch import Fetched, fetch_all
from cds_hooks.prefetch import DATA_KEYS, PATIENT_KEY

SERVICE = "ldn-naltrexone-order-select"
TOKEN = "benchmark-access-token"  # noqa: S105 (not a secret: SEKMET asks for no token)
DEADLINE_SECONDS = 120.0  # the benchmark measures time: no query may be cut off


class FetchFailed(Exception):
    """A source was not read in full: the figures would be meaningless."""


@dataclass(frozen=True, slots=True)
class FetchRow:
    """Figures for one chart size: the whole fetch and each query alone (seconds)."""

    records: int
    requests: int
    rounds: int
    fetch: Timing
    alone: Mapping[str, Timing]

    @property
    def slowest(self) -> str:
        """The query that takes longest on its own."""
        return max(self.alone, key=lambda key: self.alone[key].median)

    @property
    def one_after_another(self) -> float:
        """What the queries would cost run in turn: the sum of their medians alone."""
        return sum(timing.median for timing in self.alone.values())


def queries(patient_id: str) -> list[PrefetchQuery]:
    """Return the queries the service issues for ``patient_id`` when nothing was prefetched."""
    service = find_service(SERVICE)
    context = {"patientId": patient_id}
    return [service.prefetch_query(key, context) for key in (PATIENT_KEY, *DATA_KEYS)]


def _timed(proxy: DelayProxy, asked: list[PrefetchQuery], records: int) -> float:
    began = time.perf_counter()
    found = fetch_all(proxy.base_url, TOKEN, asked, DEADLINE_SECONDS)
    elapsed = time.perf_counter() - began
    _check(found, records)
    return elapsed


def _check(found: Mapping[str, Fetched], records: int) -> None:
    failed = {key: fetched.failure for key, fetched in found.items() if fetched.failure}
    if failed:
        raise FetchFailed(f"sources not read: {failed}")
    medication = sum(len(found[key].resources) for key in found if key.startswith("medication"))
    if len(found) == len(DATA_KEYS) + 1 and medication != records:
        raise FetchFailed(f"read {medication} medication records of {records}")


def run(served: ChartsServed, repeats: Callable[[int], int]) -> list[FetchRow]:
    """Time the fetch and each query alone, interleaved, for every chart ``served`` holds."""
    rows = []
    proxy = served.proxy
    for records, patient_id in served.patients.items():
        asked = queries(patient_id)
        _timed(proxy, asked, records)  # warm both sides' caches
        proxy.take_served()
        whole: list[float] = []
        alone: dict[str, list[float]] = {query.key: [] for query in asked}
        requests = rounds = 0
        for repetition in range(repeats(records)):
            whole.append(_timed(proxy, asked, records))
            if repetition == 0:
                served_once = proxy.take_served()
                requests, rounds = len(served_once), sequential_rounds(served_once)
            for query in asked:
                alone[query.key].append(_timed(proxy, [query], records))
        proxy.take_served()
        rows.append(
            FetchRow(
                records,
                requests,
                rounds,
                Timing(tuple(whole)),
                {key: Timing(tuple(samples)) for key, samples in alone.items()},
            )
        )
    return rows


def table(rows: list[FetchRow], delay: float, servers: int) -> list[str]:
    """Return part 4 as Markdown lines."""
    lines = [
        f"## 4. The fetch path without prefetch, through a proxy adding {delay * 1000:.0f} ms "
        f"per request to the real FHIR server ({servers} SEKMET processes, each request to the "
        "least busy)",
        "",
        "| records | requests | sequential rounds | fetch median / p95 ms "
        "| slowest query alone, median ms | fetch / slowest | queries one after another ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        slowest = r.alone[r.slowest].median
        lines.append(
            f"| {r.records:,} | {r.requests} | {r.rounds} "
            f"| {ms(r.fetch.median)} / {ms(r.fetch.p95)} | {r.slowest} {ms(slowest)} "
            f"| {r.fetch.median / slowest:.2f}x | {ms(r.one_after_another)} |"
        )
    return lines
