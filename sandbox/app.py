"""The sandbox EHR as one Flask app: authorization server, FHIR proxy, EHR pages, CDS client.

Launches, codes, tokens and prescribing sessions live in the sandbox's database, so the app runs
with any number of worker processes and threads (see docs/sandbox-auth.md).
"""

from __future__ import annotations

from importlib.resources import files

from flask import Flask, redirect, render_template, url_for
from werkzeug.wrappers import Response

from sandbox.auth import AuthConfig, init_auth
from sandbox.ehr import ehr
from sandbox.ehr_chart import list_patients
from sandbox.proxy import proxy
from sandbox.settings import SandboxSettings
from sandbox.state import EXTENSION, build_state


def create_sandbox_app(settings: SandboxSettings) -> Flask:
    """Build the sandbox app for ``settings`` (checked when they were built)."""
    app = Flask("sandbox", template_folder=str(files("ldn_safety.templates")), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    state = app.extensions[EXTENSION] = build_state(settings)
    auth = AuthConfig(
        fhir_base=settings.fhir_base,
        issuer=settings.auth_issuer,
        clients=settings.registered_clients,
        patients=lambda: list_patients(state.fhir),
        default_user=settings.user,
        auto_approve=settings.auto_approve,
    )
    init_auth(app, auth)
    app.register_blueprint(proxy, url_prefix=auth.fhir_path)
    app.register_blueprint(ehr, url_prefix="/ehr")
    app.add_url_rule("/", view_func=home)
    app.add_url_rule("/favicon.ico", view_func=favicon)
    app.add_url_rule("/healthz", view_func=health)
    return app


def home() -> Response:
    """Send the browser to the EHR's patient list."""
    return redirect(url_for("ehr.patients"))


def favicon() -> Response:
    """Serve an SVG under the name browsers ask for: a tab icon, and no 404 in the logs."""
    return Response(render_template("favicon.svg"), content_type="image/svg+xml")


def health() -> dict[str, str]:
    """Say the app is up."""
    return {"status": "ok"}
