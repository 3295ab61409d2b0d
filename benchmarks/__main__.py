"""Run the benchmark suite, print one table per part and write them all to a results file.

Usage (from the repository, after ``bash scripts/setup``)::

    .venv/bin/python -m benchmarks [--quick] [--out FILE]

Every ratio compares figures measured in the same run, on the same machine, interleaved where
they can be: the machines this runs on are shared, and absolute times are not comparable from
one run to the next. Nothing here passes or fails; docs/performance.md says what the targets are.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import fetch, hook, naive, review
from benchmarks.fhir_chart import charts_behind_proxy
from benchmarks.machine import describe
from benchmarks.stats import ms
from fhir_client.client import PAGE_SIZE
from tools.bench_cds import CdsBench, Row, collector_as_served, default_calls, measure

ROOT = Path(__file__).resolve().parents[1]
SIZES = [10, 100, 1_000, 10_000]
# Parts 4 and 6: charts on the real FHIR server, read through a proxy adding this delay.
FHIR_SIZES = [100, 1_000, 10_000]
# Issue 12 sets the review's round trips for a patient with 1,000 medication records. Past the
# server's page size (PAGE_SIZE in fhir_client) a source takes a page per round: FHIR paging
# links each page from the one before, so no client reads them side by side.
ROUNDS_TARGET_RECORDS = PAGE_SIZE
FHIR_DELAY_SECONDS = 0.05


def _growth(medians: list[tuple[int, float]], records: int) -> str:
    """Time at ``records`` over the time at a tenth as many, when both were measured."""
    by_size = dict(medians)
    smaller = by_size.get(records // 10)
    return f"{by_size[records] / smaller:.1f}x" if smaller and records % 10 == 0 else "-"


def _hook_table(rows: list[hook.HookRow]) -> list[str]:
    lines = [
        "## 1. The hook under `ldn-safety serve` (2 gthread workers), signed calls",
        "",
        "| records | body MB | calls | LDN median / p95 ms | no-naltrexone median / p95 ms "
        "| bare parse median ms | LDN / no-naltrexone | LDN / bare | LDN time / at 10x fewer "
        "| critical cards |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    medians = [(r.records, r.ldn.median) for r in rows]
    for r in rows:
        lines.append(
            f"| {r.records:,} | {r.body_bytes / 1e6:.2f} | {len(r.ldn.samples)} "
            f"| {ms(r.ldn.median)} / {ms(r.ldn.p95)} "
            f"| {ms(r.no_naltrexone.median)} / {ms(r.no_naltrexone.p95)} "
            f"| {ms(r.bare.median)} | {r.ldn.median / r.no_naltrexone.median:.2f}x "
            f"| {r.ldn.median / r.bare.median:.2f}x | {_growth(medians, r.records)} "
            f"| {r.critical_cards} |"
        )
    return lines


def _phase_table(rows: list[Row]) -> list[str]:
    lines = [
        "## 2. Where the time goes (in process, Flask test client; medians)",
        "",
        "| records | median ms | parse ms | map ms | rules ms "
        "| fixed ms (JWT, checks, cards, store) | whole / parse | time / at 10x fewer "
        "| peak memory / body |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    medians = [(r.records, r.median) for r in rows]
    for r in rows:
        peak = f"{r.peak_bytes / r.body_bytes:.1f}x" if r.peak_bytes else "-"
        lines.append(
            f"| {r.records:,} | {ms(r.median)} | {ms(r.parse)} | {ms(r.mapping)} "
            f"| {ms(r.rules)} | {ms(r.rest)} | {r.median / r.parse:.1f}x "
            f"| {_growth(medians, r.records)} | {peak} |"
        )
    return lines


def _target(what: str, measured: float | None, limit: float, *, at_least: bool = False) -> str:
    if measured is None:
        return f"| {what} | not measured in this run | |"
    met = measured >= limit if at_least else measured <= limit
    return f"| {what} | {measured:.2f} | {'met' if met else 'NOT met'} |"


def _targets(
    rows: list[hook.HookRow],
    phases: list[Row],
    naive_row: naive.NaiveRow,
    rate: hook.Throughput,
    memory: list[hook.Memory],
) -> list[str]:
    """The issue's targets, each against the figure this run measured (ratios only)."""
    ldn = {r.records: r.ldn.median / r.no_naltrexone.median for r in rows}
    phase = {r.records: r for r in phases}
    largest = max(phase.values(), key=lambda r: r.records)
    lines = [
        "## Targets (issue 12), against this run",
        "",
        "| target | measured | |",
        "|---|---:|---|",
    ]
    for records, limit in ((10, 1.3), (100, 1.3), (1_000, 1.3), (10_000, 1.6)):
        lines.append(
            _target(
                f"LDN / no-naltrexone at {records:,} records <= {limit}x", ldn.get(records), limit
            )
        )
    for records in (1_000, 10_000):
        row = phase.get(records)
        lines.append(
            _target(
                f"whole call / body parse in process at {records:,} <= 2.5x",
                row.median / row.parse if row else None,
                2.5,
            )
        )
    fixed = phase.get(100)
    fixed_ms = fixed.rest * 1000 if fixed else None
    lines.append(_target("fixed part at 100 records <= 3 ms (median)", fixed_ms, 3))
    lines.append(
        _target(
            f"peak memory / body at {largest.records:,} records <= 6x",
            largest.peak_bytes / largest.body_bytes if largest.peak_bytes else None,
            6,
        )
    )
    lines.append(
        _target(
            "naive model validation / the check's mapping at 1,000 >= 30x",
            naive_row.models / naive_row.check_mapping,
            30,
            at_least=True,
        )
    )
    lines.append(
        _target(
            "throughput at 16 clients, LDN / no-naltrexone >= 0.7x",
            rate.ldn_per_second / rate.no_naltrexone_per_second,
            0.7,
            at_least=True,
        )
    )
    growth = memory[-1].rss_bytes / memory[0].rss_bytes - 1 if len(memory) > 1 else None
    lines.append(
        _target(
            f"resident memory growth, {memory[0].calls:,} to {memory[-1].calls:,} calls < 10%",
            growth * 100 if growth is not None else None,
            10,
        )
    )
    medians = [(r.records, r.ldn.median) for r in rows]
    for r in rows:
        smaller = dict(medians).get(r.records // 10)
        if smaller:
            lines.append(
                _target(
                    f"hook time at {r.records:,} / at {r.records // 10:,} records <= 12x",
                    r.ldn.median / smaller,
                    12,
                )
            )
    return lines


def _fhir_targets(
    fetch_rows: list[fetch.FetchRow], review_rows: list[review.ReviewRow]
) -> list[str]:
    """Parts 4 and 6 against their targets: fetch near its slowest query, review near its fetch."""
    lines = [
        _target(
            f"fetch / slowest single query at {row.records:,} records <= 1.3x",
            row.fetch.median / row.alone[row.slowest].median,
            1.3,
        )
        for row in fetch_rows
    ]
    for row in review_rows:
        if row.records <= ROUNDS_TARGET_RECORDS:
            lines.append(
                _target(
                    f"review sequential FHIR rounds at {row.records:,} records <= 2", row.rounds, 2
                )
            )
        lines.append(
            _target(
                f"review / fetch of its reads at {row.records:,} records <= 1.5x",
                row.review.median / row.fetch.median,
                1.5,
            )
        )
    medians = {row.records: row.review.median for row in review_rows}
    for records, median in medians.items():
        smaller = medians.get(records // 10)
        if smaller:
            lines.append(
                _target(
                    f"review at {records:,} / at {records // 10:,} records <= 12x",
                    median / smaller,
                    12,
                )
            )
    return lines


def main() -> int:
    """Run every part and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--out", type=Path, help="results file (default: var/benchmarks/...)")
    args = parser.parse_args()
    started = datetime.now(UTC)
    sizes = SIZES[:3] if args.quick else SIZES

    def repeats(records: int) -> int:
        full = max(7, min(41, 20_000 // max(records, 1)))
        return 3 if args.quick else full

    report = [
        f"# Benchmarks, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {describe()}",
        f"Command: python -m benchmarks{' --quick' if args.quick else ''}",
        "",
    ]
    rows, rate, memory = hook.run(
        sizes,
        repeats,
        throughput_calls=64 if args.quick else 640,
        memory_checkpoints=[100, 300] if args.quick else [1_000, 10_000],
    )
    report += _hook_table(rows)
    report += [
        "",
        f"Throughput at {rate.clients} concurrent clients ({rate.records} records): "
        f"LDN {rate.ldn_per_second:.1f}/s, no-naltrexone {rate.no_naltrexone_per_second:.1f}/s "
        f"({rate.ldn_per_second / rate.no_naltrexone_per_second:.2f}x); errors "
        f"{sum(rate.errors.values())}{' ' + str(dict(rate.errors)) if rate.errors else ''}.",
        "Workers' resident memory: "
        + ", ".join(f"{m.rss_bytes / 1e6:.0f} MB after {m.calls:,} calls" for m in memory)
        + (
            f" (growth {memory[-1].rss_bytes / memory[0].rss_bytes - 1:+.1%})"
            if len(memory) > 1
            else ""
        ),
        "",
    ]
    with tempfile.TemporaryDirectory() as workdir, CdsBench(Path(workdir)) as bench:
        phase_rows = [
            measure(bench, n, 3 if args.quick else default_calls(n), trace_memory=n == sizes[-1])
            for n in sizes
        ]
    report += _phase_table(phase_rows)
    naive_row = naive.run(1_000, runs=2 if args.quick else 5)
    report += [
        "",
        "## 3. The naive path at 1,000 records (best of runs)",
        "",
        f"From the same parsed JSON (its parse by orjson, before either path: "
        f"{ms(naive_row.parse)} ms): "
        f"fhir.resources R4B model validation {ms(naive_row.models)} ms; the mapping for the "
        f"decision (the check's and the app review's) {ms(naive_row.check_mapping)} ms "
        f"({naive_row.models / naive_row.check_mapping:.1f}x faster); the whole mapping of every "
        f"record {ms(naive_row.full_mapping)} ms "
        f"({naive_row.models / naive_row.full_mapping:.1f}x faster).",
        "",
    ]
    fhir_sizes = FHIR_SIZES[:2] if args.quick else FHIR_SIZES

    def fhir_repeats(records: int) -> int:
        return 3 if args.quick else max(5, min(15, 20_000 // records))

    # The fetch and the review run in the service's worker process: under its collector.
    with (
        charts_behind_proxy(fhir_sizes, FHIR_DELAY_SECONDS) as served,
        collector_as_served(),
    ):
        fetch_rows = fetch.run(served, fhir_repeats)
        review_rows = review.run(served, fhir_repeats)
    report += [
        *fetch.table(fetch_rows, FHIR_DELAY_SECONDS, served.servers),
        "",
        *review.table(review_rows),
        "",
    ]
    report += _targets(rows, phase_rows, naive_row, rate, memory)
    report += _fhir_targets(fetch_rows, review_rows)
    text = "\n".join(report) + "\n"
    print(text)
    out = args.out or ROOT / "var" / "benchmarks" / f"results-{started:%Y%m%dT%H%M%S}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
