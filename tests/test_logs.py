"""The JSON log: one object per line, exception types kept, messages of exceptions never."""

from __future__ import annotations

import json
import logging
import sys

from ldn_safety.logs import JsonFormatter


def _record(exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord(
        "ldn.test", logging.ERROR, __file__, 1, "page failed: %s", ("KeyError",), exc_info, None
    )


def test_an_exception_keeps_its_type_and_frames_but_not_its_message() -> None:
    try:
        {"patient": 1}["Patient/secret-123 token=abc"]
    except KeyError:
        line = JsonFormatter().format(_record(sys.exc_info()))
    entry = json.loads(line)
    assert entry["exception"] == "builtins.KeyError"
    assert any("test_logs.py" in frame for frame in entry["frames"])
    assert entry["message"] == "page failed: KeyError"
    assert "secret-123" not in line
    assert "token=abc" not in line


def test_a_record_without_exception_has_no_exception_fields() -> None:
    entry = json.loads(JsonFormatter().format(_record()))
    assert "exception" not in entry
    assert entry["level"] == "ERROR"
