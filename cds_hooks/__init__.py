"""The CDS Hooks service: discovery, the order-select and order-sign naltrexone checks, feedback.

Mount it with ``init_app(app)``; it serves everything under ``/cds-services``.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from cds_hooks.config import DEFAULTS, load_settings
from cds_hooks.state import EXTENSION, build_state

log = logging.getLogger("ldn.cds_hooks")

URL_PREFIX = "/cds-services"


def _database_url(app: Flask) -> str:
    configured = app.config.get("DATABASE_URL")
    if configured:
        return str(configured)
    os.makedirs(app.instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(app.instance_path, "cds-hooks.sqlite3")


def init_app(app: Flask) -> None:
    """Register the CDS settings' defaults, open the store, and mount the blueprint."""
    # Imported here so that the pure parts (request, feedback, cards) load without Flask routes.
    from cds_hooks.routes import blueprint

    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    settings = load_settings(app.config)
    app.extensions[EXTENSION] = build_state(settings, _database_url(app))
    app.register_blueprint(blueprint, url_prefix=URL_PREFIX)
    if settings.insecure_no_jwt:
        log.critical(
            "INSECURE: CDS_INSECURE_DEV_NO_JWT is true; CDS calls are accepted without a client "
            "JWT. Never run this way with real patient data.",
            extra={"event": "insecure-no-jwt"},
        )
    elif not settings.trusted_clients:
        log.warning(
            "CDS_TRUSTED_CLIENTS is empty: every CDS call will be refused with 401",
            extra={"event": "no-trusted-clients"},
        )


__all__ = ["URL_PREFIX", "init_app"]
