"""The SMART on FHIR app: launch from the EHR, review, plan and save to the chart."""

from __future__ import annotations

from datetime import date

from flask import Flask
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

# Importing the pages adds their routes to the blueprint of routes.py.
import smart_app.pages  # noqa: F401
from smart_app.registrations import load_registrations
from smart_app.routes import bp
from smart_app.security import configure_security
from smart_app.session import init_sessions


def init_app(app: Flask) -> None:
    """Configure the SMART app's defaults, sessions and issuers, and mount its blueprint."""
    app.config.setdefault("SMART_ISSUERS", {})
    app.config.setdefault("SMART_DEFAULT_ISS", None)
    app.config.setdefault("SMART_REDIRECT_URI", None)
    app.config.setdefault("SMART_HTTP_TIMEOUT", 10.0)
    # Launches per client address (a discovery fetch and a session each); see docs/smart-app.md.
    app.config.setdefault("SMART_LAUNCH_RATE_LIMIT", "60/minute")
    app.config.setdefault("RATE_LIMIT_STORAGE_URI", "memory://")
    # All FHIR requests behind one page (reads, or a save and its read-back) share this.
    app.config.setdefault("SMART_FHIR_DEADLINE_SECONDS", 8.0)
    # The day the pages reason about; code (never the environment) may pin another, and the
    # CDS service reads the same setting so the card and the app judge the same day.
    app.config.setdefault("TODAY", date.today)
    app.extensions["smart_app"] = load_registrations(app.config["SMART_ISSUERS"])
    try:
        rate = parse(app.config["SMART_LAUNCH_RATE_LIMIT"])
    except (ValueError, TypeError):
        raise ValueError(
            'SMART_LAUNCH_RATE_LIMIT must be a rate such as "60/minute", '
            f"got {app.config['SMART_LAUNCH_RATE_LIMIT']!r}"
        ) from None
    storage = storage_from_string(app.config["RATE_LIMIT_STORAGE_URI"])
    app.extensions["smart_app_launch_limit"] = (MovingWindowRateLimiter(storage), rate)
    init_sessions(app)
    configure_security(app)
    app.register_blueprint(bp)
