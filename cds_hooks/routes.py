"""The CDS Hooks endpoints: discovery, the two services, feedback, and the feedback read-back.

Each view authenticates the client, parses, calls one function, and answers JSON. Every error
is JSON (errors.py); an unexpected failure of a hook call is a 503 saying the check did not run,
never an empty card list, which an EHR would read as "nothing to warn about".
"""

from __future__ import annotations

import hmac
import logging
import math
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request
from limits import RateLimitItem
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds_hooks.check import run_check
from cds_hooks.cors import add_cors_headers
from cds_hooks.discovery import discovery_document, find_service, service_for_hook
from cds_hooks.errors import (
    CdsError,
    CheckUnavailable,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from cds_hooks.feedback import check_against_issued, parse_feedback
from cds_hooks.reminders import recall_for
from cds_hooks.request import decode_body, parse_hook_request, parse_json_body
from cds_hooks.security import VerifiedClient
from cds_hooks.state import current_state
from cds_hooks.store import STORE_TIMEOUT_SECONDS, pseudonym

log = logging.getLogger("ldn.cds_hooks")

blueprint = Blueprint("cds_hooks", __name__)

_OTHER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Parts of the store named in the outage log (docs/cds-hooks.md, "When the store fails").
CARD_STORE = "card store"
FEEDBACK_STORE = "feedback store"
# Feedback read-back page sizes.
FEEDBACK_PAGE = 100
FEEDBACK_PAGE_MAX = 1000


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


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The body is larger than this service accepts ({limit} bytes).")


@blueprint.before_request
def _limit_body() -> None:
    limit = current_state().settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    # A streamed (chunked) body has no length to check up front: read at most one byte past
    # the limit, so that a body over it is seen as such (413), not as truncated JSON (400).
    request.max_content_length = limit + 1


@blueprint.after_request
def _cors(response: Response) -> Response:
    return add_cors_headers(request, response, current_state().settings.cors_origins)


@blueprint.errorhandler(CdsError)
def _cds_error(error: CdsError) -> Response:
    if isinstance(error, Unauthorized):
        # Loud, so that a refused client is never a silent state (a client may show its own
        # "all clear" for a 401). The reason and claimed issuer only: never the token.
        log.warning(
            "client JWT refused: %s (issuer %s); the reasons: docs/cds-hooks.md",
            error.reason,
            error.issuer or "not given",
            extra={
                "event": "client-refused",
                "status": 401,
                "path": request.path,
                "reason": error.reason,
                "issuer": error.issuer,
            },
        )
    return error.response()


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    if isinstance(error, RequestEntityTooLarge):
        return _too_large(current_state().settings.max_body_bytes).response()
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


def _within_rate(rate: RateLimitItem, *keys: str) -> None:
    """Count one call against ``rate`` for ``keys``; raise TooManyRequests (429) past it."""
    limiter = current_state().limiter
    if not limiter.hit(rate, *keys):
        reset = limiter.get_window_stats(rate, *keys).reset_time
        raise TooManyRequests(max(1, math.ceil(reset - time.time())))


def _json_body() -> object:
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
    raw = request.get_data(cache=False)
    limit = current_state().settings.max_body_bytes
    if len(raw) > limit:
        raise _too_large(limit)
    text = decode_body(raw)
    del raw  # the bytes go before the parse builds its objects: a body is never held twice
    return parse_json_body(text)


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
    client = _authenticate()
    service = find_service(service_id)
    state = current_state()
    today = state.settings.today()
    now = datetime.now(UTC)
    hook = parse_hook_request(_json_body(), service)
    patient = pseudonym(state.settings.pseudonym_key, hook.patient_id)
    recall = (
        recall_for(
            state.store,
            select_service_id=service_for_hook("order-select").id,
            patient_pseudonym=patient,
            client_issuer=client.issuer if client else None,
            now=now,
            on_failure=lambda error: state.outages.failed(
                CARD_STORE, error, "overrides cannot be recalled: order-sign shows full cards"
            ),
        )
        if service.hook == "order-sign"
        else None
    )
    issued = run_check(hook, service, state.settings, today=today, base=_base_url(), recall=recall)
    cards = [entry.card for entry in issued]
    # What the queued write needs, and nothing more (never the parsed prefetch).
    hook_instance, issuer = hook.hook_instance, client.issuer if client else None

    def stored(failure: SQLAlchemyError | None) -> None:
        if failure is None:
            state.outages.succeeded(CARD_STORE)
        else:
            # A warning must reach the clinician even when it cannot be recorded for feedback.
            state.outages.failed(CARD_STORE, failure, "cards are answered but not recorded")

    # Recorded behind the answer: the clinician does not wait on the database's commit.
    state.store.record_cards_behind(
        service_id=service.id,
        hook_instance=hook_instance,
        patient_pseudonym=patient,
        cards=issued,
        issued_at=now,
        client_issuer=issuer,
        on_stored=stored,
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
    state = current_state()
    issuer = client.issuer if client else None
    _within_rate(state.settings.feedback_rate_limit, "cds-feedback", issuer or "(no client JWT)")
    items = parse_feedback(_json_body())
    now = datetime.now(UTC)
    # The cards this process issued are written (or have failed) before feedback is read.
    if not state.store.behind.flush(STORE_TIMEOUT_SECONDS):
        raise StoreUnavailable(
            "The feedback was not stored (the service's database is slow to answer): send it again."
        )
    if CARD_STORE in state.outages.failing():
        # Cards issued while the store was failing were not recorded: feedback about them can
        # neither be checked nor kept now. The client is told to send it again later.
        raise StoreUnavailable(
            "The feedback was not stored (the service's database is unavailable): send it again."
        )
    try:
        check_against_issued(
            items,
            state.store.issued([item.card for item in items]),
            service_id=service.id,
            client_issuer=issuer,
            now=now,
        )
        state.store.record_feedback(
            service_id=service.id, items=items, client_issuer=issuer, received_at=now
        )
    except SQLAlchemyError as error:
        # Nothing of the call was stored (one transaction): the client is told to send it again.
        state.outages.failed(FEEDBACK_STORE, error, "feedback is refused with 503")
        raise StoreUnavailable(
            "The feedback was not stored (the service's database is unavailable): send it again."
        ) from None
    state.outages.succeeded(FEEDBACK_STORE)
    log.info(
        "feedback stored",
        extra={"event": "feedback-stored", "service": service.id, "cards": len(items)},
    )
    return {"received": len(items)}


def _page_parameter(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) > maximum:
        raise InvalidRequest(f"{name} must be a whole number from 0 to {maximum}", path=name)
    return int(raw)


@_route("/admin/feedback", "GET")
def export_feedback() -> dict[str, Any]:
    """Return stored feedback items with their cards, a page at a time (admin bearer token).

    ``?after=<id>&limit=<n>``: the items with ``id`` above ``after``, oldest first, at most
    ``limit`` (100 by default, 1,000 at most); ``next`` is the URL of the following page.
    """
    expected = current_state().settings.admin_token
    if expected is None:
        raise NotFound("The feedback read-back is not enabled (CDS_ADMIN_TOKEN is unset).")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("admin-token")
    after = _page_parameter("after", 0, 2**62)
    limit = _page_parameter("limit", FEEDBACK_PAGE, FEEDBACK_PAGE_MAX) or FEEDBACK_PAGE
    try:
        rows = list(current_state().store.feedback_rows(after=after, limit=limit))
    except SQLAlchemyError:
        raise StoreUnavailable(
            "The feedback cannot be read now (the service's database is unavailable)."
        ) from None
    page: dict[str, Any] = {"feedback": rows}
    if len(rows) == limit:
        page["next"] = f"{_base_url()}{request.path}?after={rows[-1]['id']}&limit={limit}"
    return page


@blueprint.route("/<path:unknown>", methods=[*_OTHER_METHODS])
def unknown_endpoint(unknown: str) -> Response:
    """Answer JSON 404 for any other path under the service."""
    raise NotFound("There is no such CDS Hooks endpoint.")
