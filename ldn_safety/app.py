"""The one deployable: an application factory mounting the CDS Hooks service and the SMART app."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from flask import Flask

import smart_app
from cds_hooks import init_app as init_cds_hooks
from ldn_safety.logs import configure_logging


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app: configuration from ``LDN_*`` environment variables, then both faces."""
    app = Flask(
        "ldn_safety",
        template_folder=str(files("ldn_safety.templates")),
        static_folder=None,
    )
    app.config.from_prefixed_env("LDN")
    if test_config is not None:
        app.config.from_mapping(test_config)
    configure_logging(app)
    smart_app.init_app(app)
    init_cds_hooks(app)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
