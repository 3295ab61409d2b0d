"""The CDS benchmark (tools/bench_cds.py) still runs end to end. Its times are not asserted:
the machine is shared and noisy; this only keeps the benchmark from rotting unnoticed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.bench_cds import CdsBench, measure, print_table


def test_the_benchmark_times_signed_calls_that_answer_a_critical_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with CdsBench(tmp_path) as bench:
        row = measure(bench, records=10, calls=1, trace_memory=True)
    assert row.cards["critical"] > 0
    assert (row.records, row.calls) == (10, 1)
    # Every phase was seen inside the real call: the wrapped functions are still the ones used.
    assert min(row.parse, row.mapping, row.rules) > 0
    assert row.peak_bytes is not None
    assert row.peak_bytes > row.body_bytes > 0
    print_table([row])
    table = capsys.readouterr().out
    assert "peak Python memory of one call with 10 records" in table
    assert table.splitlines()[1].split()[0] == "10"
