"""HTTP face of the sandbox authorization server: two Flask blueprints, paths from the config.

Routes (``{fhir}`` and ``{auth}`` are the paths of ``fhir_base`` and ``issuer``):

- ``GET  {fhir}/.well-known/smart-configuration``  SMART discovery
- ``GET  {auth}/.well-known/openid-configuration`` OpenID Provider metadata
- ``GET  {auth}/jwks``                             the id_token signing key
- ``GET  {auth}/smart-style.json``                 the style the sandbox EHR offers apps
- ``POST {auth}/launch``                           the EHR page creates a launch value
- ``GET|POST {auth}/authorize``                    authorization request (``authorize-post``)
- ``POST {auth}/consent``                          the user's decision on the consent page
- ``POST {auth}/token``                            token endpoint (code and refresh grants)
"""

from __future__ import annotations

import re
from typing import Any

from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, Response, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from sandbox.auth import discovery
from sandbox.auth.config import AuthConfig, PatientListError
from sandbox.auth.launch import LaunchContext, LaunchRequestError
from sandbox.auth.scopes import describe_scope, scope_tokens
from sandbox.auth.server import PendingAuthorization, SandboxAuth, current_auth

# What a URI may contain (RFC 3986 characters, no spaces or quotes): anything else is refused
# before authlib sees it, as it would echo the value into an error description.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[!#-\[\]-~]*")

STYLE = {
    "color_background": "#f5f7fa",
    "color_error": "#b00020",
    "color_highlight": "#1f6feb",
    "color_modal_backdrop": "rgba(0, 0, 0, 0.4)",
    "color_success": "#2e7d32",
    "color_text": "#1b1f23",
    "dim_border_radius": "6px",
    "dim_font_size": "14px",
    "dim_spacing_size": "16px",
    "font_family_body": "system-ui, sans-serif",
    "font_family_heading": "system-ui, sans-serif",
}


# The authorization endpoints, under the path of the issuer; SMART discovery, under the path of
# the FHIR base (both paths come from the configuration, given at registration).
authorization = Blueprint("sandbox_auth", __name__)
smart_discovery = Blueprint("sandbox_smart_discovery", __name__)


def init_auth(app: Flask, config: AuthConfig) -> SandboxAuth:
    """Start the authorization server for ``config`` on ``app`` and register its routes."""
    auth = SandboxAuth(config)
    auth.init_app(app)
    app.register_blueprint(authorization, url_prefix=config.issuer_path)
    app.register_blueprint(smart_discovery, url_prefix=config.fhir_path)
    return auth


@smart_discovery.get("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    """Serve the SMART configuration (App Launch 2.x, "Conformance")."""
    auth = current_auth()
    return _public(jsonify(discovery.smart_configuration(auth.config, auth.key.alg)))


@authorization.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    """Serve the OpenID Provider metadata."""
    auth = current_auth()
    return _public(jsonify(discovery.openid_configuration(auth.config, auth.key.alg)))


@authorization.get("/jwks")
def jwks() -> Response:
    """Serve the id_token signing key as a JWK Set."""
    return _public(jsonify(current_auth().key.jwks()))


@authorization.get("/smart-style.json")
def smart_style() -> Response:
    """Serve the style the sandbox EHR offers apps."""
    return _public(jsonify(STYLE))


@authorization.post("/launch")
def launch() -> ResponseReturnValue:
    """Create a launch value for the context the EHR page sends."""
    auth = current_auth()
    try:
        context = LaunchContext.from_json(request.get_json(silent=True))
    except LaunchRequestError as error:
        return {"error": "invalid_request", "error_description": str(error)}, 400
    value = auth.create_launch(context)
    answer = {"launch": value, "iss": auth.config.fhir_base, "expires_in": auth.config.launch_ttl}
    return answer, 201


@authorization.route("/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    """Check an authorization request; ask the user, or answer at once when nothing is asked."""
    auth = current_auth()
    redirect_uri = request.values.get("redirect_uri")
    if redirect_uri is not None and not _URI.fullmatch(redirect_uri):
        return _error_page("The redirect_uri is not a valid URI.", 400)
    try:
        transaction, pending = auth.hold_authorization_request()
    except OAuth2Error as error:
        if error.redirect_uri:
            redirect: Response = auth.server.handle_error_response(None, error)
            return redirect
        message = f"{error.error}: {error.get_error_description() or 'request refused'}"
        return _error_page(message, error.status_code)
    if auth.config.auto_approve and not pending.needs_patient:
        return _decide(auth, transaction, approved=True, patient=None)
    return _consent_page(auth.config, pending, transaction)


@authorization.post("/consent")
def consent() -> ResponseReturnValue:
    """Take the user's decision (and patient choice) on a held request."""
    auth = current_auth()
    transaction = request.form.get("transaction", "")
    pending = auth.pending(transaction)
    if pending is None:
        return _expired_page()
    approved = request.form.get("decision") == "approve"
    patient = request.form.get("patient")
    if approved and pending.needs_patient:
        try:
            offered = {choice.id for choice in auth.config.patients()}
        except PatientListError:
            return _patients_unavailable_page()
        if patient not in offered:
            return _consent_page(
                auth.config, pending, transaction, "Choose a patient from the list.", 400
            )
    return _decide(auth, transaction, approved, patient)


@authorization.post("/token")
def token() -> Response:
    """Answer the token endpoint (code and refresh grants)."""
    auth = current_auth()
    try:
        response: Response = auth.server.create_token_response()
    except OAuth2Error as error:  # raised before authlib's own handling (e.g. plain http)
        response = auth.server.handle_error_response(None, error)
    return _public(response)


def _decide(
    auth: SandboxAuth, transaction: str, approved: bool, patient: str | None
) -> ResponseReturnValue:
    response = auth.decide(transaction, approved, patient)
    return _expired_page() if response is None else response


def _consent_page(
    config: AuthConfig,
    pending: PendingAuthorization,
    transaction: str,
    problem: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    context: dict[str, Any] = {
        "client_name": pending.client_name,
        "scopes": [(token, describe_scope(token)) for token in scope_tokens(pending.scope)],
        "authorization": pending.authorization,
        "transaction": transaction,
        "action": url_for("sandbox_auth.consent"),
        "problem": problem,
    }
    if not pending.needs_patient:
        return render_template("sandbox/auth_consent.html", **context), status
    try:
        patients = list(config.patients())
    except PatientListError:
        return _patients_unavailable_page()
    return render_template("sandbox/auth_patient_picker.html", patients=patients, **context), status


def _public(response: Response) -> Response:
    # Browser-based SMART apps read discovery and call the token endpoint across origins.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _error_page(message: str, status: int, hint: str | None = None) -> ResponseReturnValue:
    hint = hint or "Check the app's registration (client_id, redirect_uri) and launch it again."
    page = render_template("sandbox/auth_error.html", message=message, hint=hint)
    return page, status


def _expired_page() -> ResponseReturnValue:
    return _error_page(
        "This authorization request was already answered or has expired.",
        400,
        "Go back to the app and launch it again.",
    )


def _patients_unavailable_page() -> ResponseReturnValue:
    return _error_page(
        "The patient list cannot be read right now.",
        503,
        "Check that the sandbox FHIR server is running, then launch the app again.",
    )
