"""The sandbox EHR as one Flask app: authorization server, FHIR proxy, EHR pages, CDS client.

Run it with one worker process (any number of threads): launches, codes and tokens live in
memory (see docs/sandbox-auth.md).
"""

from __future__ import annotations

from importlib.resources import files

import requests
from flask import Flask, redirect, render_template, url_for
from werkzeug.wrappers import Response

from fhir_client import FhirClient
from sandbox.auth import AuthConfig, Client, create_auth_blueprint
from sandbox.cds_client import CdsClient, ClientKey
from sandbox.chart import list_patients
from sandbox.ehr import create_ehr_blueprint
from sandbox.proxy import create_proxy_blueprint
from sandbox.settings import SandboxSettings


def create_sandbox_app(settings: SandboxSettings) -> Flask:
    """Build the sandbox app for ``settings``."""
    app = Flask("sandbox", template_folder=str(files("ldn_safety.templates")), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    session = requests.Session()
    session.trust_env = False  # loopback only: never route through an environment proxy
    fhir = FhirClient(settings.fhir_upstream, session=session, timeout=settings.upstream_timeout)
    auth = AuthConfig(
        fhir_base=settings.fhir_base,
        issuer=settings.auth_issuer,
        clients=tuple(Client.from_dict(registration) for registration in settings.clients),
        patients=lambda: list_patients(fhir),
        default_user=settings.user,
        auto_approve=settings.auto_approve,
    )
    key = ClientKey(settings.cds_key)
    cds = CdsClient(
        settings.cds_services_url,
        settings.cds_issuer,
        key,
        session=session,
        timeout=settings.cds_timeout,
    )
    app.register_blueprint(create_auth_blueprint(auth))
    app.register_blueprint(create_proxy_blueprint(settings, auth))
    app.register_blueprint(create_ehr_blueprint(settings, fhir, cds, key))

    @app.get("/")
    def home() -> Response:
        return redirect(url_for("ehr.patients"))

    @app.get("/favicon.ico")
    def favicon() -> Response:
        # An SVG under the name browsers ask for: a tab icon, and no 404 in the logs.
        return Response(render_template("favicon.svg"), content_type="image/svg+xml")

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
