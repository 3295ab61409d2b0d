"""The CDS Hooks endpoints: discovery, the two services, feedback, and the feedback read-back.

Each view authenticates the client, parses, calls one function, and answers JSON. Every error
is JSON (errors.py); an unexpected failure of a hook call is a 503 saying the check did not run,
never an empty card list, which an EHR would read as "nothing to warn about".
"""

from __future__ import annotations

import hmac
import logging
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds_hooks.check import run_check
from cds_hooks.cors import add_cors_headers
from cds_hooks.discovery import discovery_document, find_service
from cds_hooks.errors import (
    CdsError,
    CheckUnavailable,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from cds_hooks.feedback import parse_feedback
from cds_hooks.gc_pause import collector_paused
from cds_hooks.request import parse_hook_request
from cds_hooks.security import VerifiedClient
from cds_hooks.state import current_state
from cds_hooks.store import pseudonym
from fhir_client import strict_json

log = logging.getLogger("ldn.cds_hooks")

blueprint = Blueprint("cds_hooks", __name__)

_OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _route(rule: str, method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view for ``method`` and a JSON 405 for every other method on ``rule``."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        blueprint.add_url_rule(rule, view.__name__, view, methods=[method])

        def wrong_method(**_: str) -> Response:
            raise MethodNotAllowed(request.method, method)

        blueprint.add_url_rule(
            rule,
            f"{view.__name__}_wrong_method",
            wrong_method,
            methods=[m for m in _OTHER_METHODS if m != method],
            provide_automatic_options=False,
        )
        return view

    return register


@blueprint.before_request
def _limit_body() -> None:
    limit = current_state().settings.max_body_bytes
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is larger than this service accepts ({limit} bytes).")


@blueprint.after_request
def _cors(response: Response) -> Response:
    return add_cors_headers(request, response, current_state().settings.cors_origins)


@blueprint.errorhandler(CdsError)
def _cds_error(error: CdsError) -> Response:
    if isinstance(error, Unauthorized):
        # The reason category only: never the token, its claims or the issuer.
        log.info(
            "client JWT refused: %s",
            error.reason,
            extra={"event": "client-refused", "status": 401, "path": request.path},
        )
    return error.response()


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):
        return PayloadTooLarge("The body is larger than this service accepts.").response()
    response = CdsError(error.description or error.name).response()
    response.status_code = error.code or 400
    return response


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    # The exception's message may quote patient data: log its type and stack frames only.
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error(
        "unexpected %s\n%s",
        type(error).__name__,
        frames,
        extra={"event": "unexpected-error", "status": 503, "path": request.path},
    )
    return CheckUnavailable().response()


def _base_url() -> str:
    return current_state().settings.public_base_url or request.host_url.rstrip("/")


def _audience() -> str:
    return _base_url() + request.path


def _authenticate() -> VerifiedClient | None:
    """Check the client JWT (None only under the development bypass)."""
    if current_state().settings.insecure_no_jwt:
        log.warning(
            "INSECURE: client JWT not checked (CDS_INSECURE_DEV_NO_JWT is true)",
            extra={"event": "insecure-no-jwt", "path": request.path},
        )
        return None
    return current_state().verifier.verify(request.headers.get("Authorization"), _audience())


def _json_body() -> object:
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
    try:
        # Strict: a repeated key (a prefetch sent twice, an opioid first and then nothing)
        # would otherwise be read last-wins.
        return strict_json.loads(request.get_data(cache=False))
    except strict_json.InvalidJson as error:
        raise InvalidRequest(f"The body is not valid JSON: {error}.", path="(body)") from None


@_route("", "GET")
def discovery() -> dict[str, Any]:
    """Describe the services (CDS Hooks §Discovery)."""
    if current_state().settings.discovery_requires_jwt:
        _authenticate()
    return discovery_document()


@_route("/<service_id>", "POST")
def call_service(service_id: str) -> dict[str, Any]:
    """Run the naltrexone opioid-safety check for one hook call and answer its cards."""
    started = time.monotonic()
    _authenticate()
    service = find_service(service_id)
    state = current_state()
    today = current_app.config["TODAY"]()
    with collector_paused():
        hook = parse_hook_request(_json_body(), service)
        cards = run_check(hook, service, state.settings, today=today, base=_base_url())
    try:
        state.store.record_cards(
            service_id=service.id,
            hook_instance=hook.hook_instance,
            patient_pseudonym=pseudonym(state.settings.pseudonym_key, hook.patient_id),
            cards=cards,
            issued_at=datetime.now(UTC),
        )
    except SQLAlchemyError as error:
        # A warning must reach the clinician even when it cannot be recorded for feedback.
        log.error(
            "issued cards not recorded: %s",
            type(error).__name__,
            extra={"event": "cards-not-recorded", "service": service.id},
        )
    log.info(
        "hook answered",
        extra={
            "event": "hook-answered",
            "service": service.id,
            "hook": hook.hook,
            "cards": len(cards),
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return {"cards": cards}


@_route("/<service_id>/feedback", "POST")
def receive_feedback(service_id: str) -> dict[str, Any]:
    """Store what the clinician did with the cards (CDS Hooks §Feedback)."""
    client = _authenticate()
    service = find_service(service_id)
    items = parse_feedback(_json_body())
    current_state().store.record_feedback(
        service_id=service.id,
        items=items,
        client_issuer=client.issuer if client else None,
        received_at=datetime.now(UTC),
    )
    log.info(
        "feedback stored",
        extra={"event": "feedback-stored", "service": service.id, "cards": len(items)},
    )
    return {"received": len(items)}


@_route("/admin/feedback", "GET")
def export_feedback() -> dict[str, Any]:
    """Return every stored feedback item with its card (needs the admin bearer token)."""
    expected = current_state().settings.admin_token
    if expected is None:
        raise NotFound("The feedback read-back is not enabled (CDS_ADMIN_TOKEN is unset).")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("admin-token")
    return {"feedback": list(current_state().store.feedback_rows())}


@blueprint.route("/<path:unknown>", methods=[*_OTHER_METHODS])
def unknown_endpoint(unknown: str) -> Response:
    """Answer JSON 404 for any other path under the service."""
    raise NotFound("There is no such CDS Hooks endpoint.")
