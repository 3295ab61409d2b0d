"""The one deployable: an application factory mounting the CDS Hooks service and the SMART app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from flask import Flask, Response, jsonify, render_template

import smart_app
from cds_hooks import init_app as init_cds_hooks
from cds_hooks.state import EXTENSION as CDS_EXTENSION
from cds_hooks.state import database_problem
from ldn_safety.about import bp as about
from ldn_safety.headers import install_headers
from ldn_safety.logs import configure_logging
from ldn_safety.settings import DeployableSettings
from smart_app.session import session_store_problem
from smart_app.settings import app_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app: configuration from ``LDN_*`` environment variables, then both faces."""
    app = Flask(
        "ldn_safety",
        # Where the SQLite store and the session files live unless configured otherwise.
        instance_path=os.environ.get("LDN_INSTANCE_PATH") or None,
        template_folder=str(files("ldn_safety.templates")),
        static_folder=None,
    )
    app.config.from_prefixed_env("LDN")
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings = DeployableSettings.from_config(app.config)
    configure_logging(app, settings)
    install_headers(app, settings)
    smart_app.init_app(app)
    init_cds_hooks(app)
    app.register_blueprint(about)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # An SVG under the name browsers ask for: a tab icon, and no 404 in the logs.
        return Response(render_template("favicon.svg"), content_type="image/svg+xml")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        """Alive: the process answers (a load balancer's liveness check)."""
        return {"status": "ok"}

    @app.get("/readyz")
    def ready() -> Response:
        """Ready: the stores this instance needs answer (503 naming the ones that do not)."""
        sessions, session_problem = session_store_problem(app, app_settings())
        problems = {
            "database": database_problem(app.extensions[CDS_EXTENSION]),
            sessions: session_problem,
        }
        failing = {name: problem for name, problem in problems.items() if problem}
        body = {
            "status": "unavailable" if failing else "ready",
            "checks": {name: problem or "ok" for name, problem in problems.items()},
        }
        response = jsonify(body)
        response.status_code = 503 if failing else 200
        response.headers["Cache-Control"] = "no-store"
        return response

    return app
