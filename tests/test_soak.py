"""A short soak of the real server (tools/soak_cds.py): 32 concurrent clients for 10 s against
``ldn-safety serve`` under gunicorn on 127.0.0.1, every answer checked. The 60 s run is
``python -m tools.soak_cds``."""

from __future__ import annotations

import pytest

from tools.soak_cds import soak


def test_concurrent_calls_get_right_answers_without_errors_or_a_leak(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = soak(seconds=10, clients=32, workers=2, max_calls=20_000)
    with capsys.disabled():
        print("\n" + result.report())
    assert result.calls >= 32
    assert dict(result.errors) == {}
    assert dict(result.wrong) == {}
    assert result.growth < 0.5
