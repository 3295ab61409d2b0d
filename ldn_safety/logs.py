"""Structured JSON logs on stderr: one object per line, never a token or patient data.

A record with an exception keeps the exception's type and where it was raised (file, line and
function of each frame), never its message or arguments: those may quote a token or a patient.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from types import TracebackType

from flask import Flask

from ldn_safety.settings import DeployableSettings


class JsonFormatter(logging.Formatter):
    """Render a log record as one JSON object: time, level, logger, message, and safe extras."""

    SAFE_EXTRAS = ("event", "status", "hook", "service", "duration_ms", "cards", "path", "method")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in self.SAFE_EXTRAS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, trace = record.exc_info
            entry["exception"] = f"{kind.__module__}.{kind.__qualname__}"
            entry["frames"] = _frames(trace)
        return json.dumps(entry, default=str)


def _frames(trace: TracebackType | None) -> list[str]:
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(trace)]


def configure_logging(app: Flask, settings: DeployableSettings) -> None:
    """Send the app's and the project's loggers to stderr as JSON lines (once per process)."""
    root = logging.getLogger("ldn")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    app.logger.handlers = root.handlers
    app.logger.setLevel(root.level)
