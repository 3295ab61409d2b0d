"""The sandbox EHR's pages: patient list, chart, the app in an iframe, and LDN prescribing.

Prescribing fires ``order-select`` when a naltrexone order is drafted and ``order-sign`` on
"Sign"; each call carries the prefetch the service asks for (read here from the EHR's own FHIR
server), ``fhirServer`` (the proxy) with a patient-scoped read token, and a signed client JWT.
Cards are rendered server-side; accepting a suggestion applies its actions to the drafts, and
every decision is sent back as feedback. A card's smart link launches the app for the patient
with the link's ``appContext`` bound to the launch, in a new tab: that launch asks the app for
its patient banner (``need_patient_banner``), which the launch in the EHR's frame does not.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from fhir_client import FhirNotFound
from sandbox import ehr_chart
from sandbox.auth import LaunchContext, PatientListError, create_launch, current_auth
from sandbox.auth.launch import app_context_fits
from sandbox.auth.store import ExpiringMap
from sandbox.card_markdown import render_detail
from sandbox.cards import Card
from sandbox.cds_client import CdsCallFailed, feedback_item, hook_request
from sandbox.order_drafts import CHOICES_BY_KEY, ORDER_CHOICES, draft_order, reference
from sandbox.order_session import SESSION_TTL, HookAnswer, OrderSession
from sandbox.settings import CDS_SERVICE_CLIENT_ID
from sandbox.state import current_sandbox

CDS_SCOPE = "patient/*.rs"
CDS_ACCESS_SECONDS = 300
COMMENT_LIMIT = 1000
UNAVAILABLE = "The EHR's FHIR server is not answering. Check that it is running, then reload."

log = logging.getLogger("ldn.sandbox.ehr")


# The EHR's pages, mounted at ``/ehr``.
ehr = Blueprint("ehr", __name__)


@ehr.get("/")
def patients() -> ResponseReturnValue:
    """List the patients on the EHR's FHIR server."""
    try:
        listed = ehr_chart.patient_list(current_sandbox().fhir)
    except PatientListError:
        abort(503, UNAVAILABLE)
    return render_template("sandbox/ehr_patients.html", patients=listed)


@ehr.get("/patients/<patient_id>")
def patient(patient_id: str) -> ResponseReturnValue:
    """Show one patient's chart."""
    return render_template("sandbox/ehr_chart.html", chart=ehr_chart.chart(_chart_data(patient_id)))


@ehr.get("/patients/<patient_id>/app")
def app_frame(patient_id: str) -> ResponseReturnValue:
    """Show the chart's banner with the SMART app launched in a frame."""
    data = _chart_data(patient_id)
    return render_template(
        "sandbox/ehr_app_frame.html",
        chart=ehr_chart.chart(data),
        app_url=_launch_url(current_sandbox().settings.app_launch_url, patient_id, in_frame=True),
    )


@ehr.get("/patients/<patient_id>/orders/new")
def new_order(patient_id: str) -> ResponseReturnValue:
    """Offer the naltrexone products to draft."""
    data = _chart_data(patient_id)
    return render_template(
        "sandbox/ehr_order_new.html", chart=ehr_chart.chart(data), choices=ORDER_CHOICES
    )


@ehr.post("/patients/<patient_id>/orders")
def draft(patient_id: str) -> ResponseReturnValue:
    """Draft the chosen product and fire ``order-select``."""
    choice = CHOICES_BY_KEY.get(request.form.get("product", ""))
    if choice is None:
        abort(400, "Choose one of the naltrexone products.")
    _chart_data(patient_id)
    user = current_sandbox().settings.user
    session = OrderSession(patient_id, (draft_order(choice, patient_id, user),))
    return _save(session.with_answer(_fire("order-select", session)))


@ehr.get("/orders/<session_id>")
def order(session_id: str) -> ResponseReturnValue:
    """Show a prescribing session: its drafts, the cards, the decisions."""
    session = _order_session(session_id)
    data = _chart_data(session.patient_id)
    return render_template(
        "sandbox/ehr_order.html",
        session=session,
        chart=ehr_chart.chart(data),
        detail=render_detail,
        choices=CHOICES_BY_KEY,
    )


@ehr.post("/orders/<session_id>/sign")
def sign(session_id: str) -> ResponseReturnValue:
    """Fire ``order-sign`` on the session's drafts."""
    session = _order_session(session_id)
    if session.signed or not session.drafts:
        abort(409, "There is nothing left to sign in this session.")
    return _save(session.with_answer(_fire("order-sign", session)))


@ehr.post("/orders/<session_id>/cards/<card_uuid>/accept")
def accept(session_id: str, card_uuid: str) -> ResponseReturnValue:
    """Accept one of a card's suggestions: apply it to the drafts and send feedback."""
    session = _order_session(session_id)
    card = _open_card(session, card_uuid)
    chosen = request.form.get("suggestion")
    suggestion = next((s for s in card.suggestions if s.uuid == chosen), None)
    if suggestion is None:
        abort(400, "Choose one of the card's suggestions.")
    item = feedback_item(card, "accepted", accepted=[suggestion.uuid])
    problem = _send_feedback(session, item)
    session = session.accept(suggestion)
    note = f"Accepted: {suggestion.label}."
    notes = (note, problem) if problem else (note,)
    return _save(session.decided(card, "accepted", " ".join(notes)))


@ehr.post("/orders/<session_id>/cards/<card_uuid>/override")
def override(session_id: str, card_uuid: str) -> ResponseReturnValue:
    """Override a card with a reason (when it offers reasons) and send feedback."""
    session = _order_session(session_id)
    card = _open_card(session, card_uuid)
    code = request.form.get("reason", "")
    reason = next((r for r in card.override_reasons if r.code == code), None)
    if card.override_reasons and reason is None:
        abort(400, "Choose a reason for overriding the card.")
    comment = request.form.get("comment", "").strip()[:COMMENT_LIMIT] or None
    item = feedback_item(
        card,
        "overridden",
        override_reason=reason.coding() if reason else None,
        comment=comment,
    )
    problem = _send_feedback(session, item)
    note = f"Overridden: {card.summary} ({reason.display if reason else 'no reason'})."
    notes = (note, problem) if problem else (note,)
    return _save(session.decided(card, "overridden", " ".join(notes)))


@ehr.get("/orders/<session_id>/cards/<card_uuid>/links/<int:index>")
def smart_link(session_id: str, card_uuid: str, index: int) -> ResponseReturnValue:
    """Launch the registered SMART app from a card's link, in a new tab."""
    session = _order_session(session_id)
    card = session.answer.card(card_uuid) if session.answer else None
    if card is None or not 0 <= index < len(card.links):
        abort(404, "That link is no longer on the page.")
    link = card.links[index]
    if link.type != "smart" or _origin(link.url) != _app_origin():
        abort(400, "Only the registered SMART app can be launched from a card.")
    app_context = link.app_context
    if app_context is not None and not app_context_fits(app_context):
        # The app still opens for the patient; only the card's oversized context is lost.
        log.warning("card appContext too long, dropped", extra={"event": "app_context_dropped"})
        app_context = None
    return redirect(_launch_url(link.url, session.patient_id, app_context, in_frame=False), 303)


@ehr.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Publish the public key of the sandbox's CDS client."""
    response = jsonify(current_sandbox().key.jwks())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@ehr.get("/ehr.css")
def stylesheet() -> Response:
    """Serve the EHR's stylesheet."""
    css = render_template("sandbox/ehr.css")
    return Response(css, content_type="text/css; charset=utf-8")


@ehr.after_request
def security_headers(response: Response) -> Response:
    """Frame only the app's origin; no sniffing, no referrer, no caching."""
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        f"frame-src 'self' {_app_origin()}; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@ehr.errorhandler(HTTPException)
def page_error(error: HTTPException) -> ResponseReturnValue:
    """Show every refusal of an EHR page on the EHR's error page, with its status."""
    return render_template("sandbox/ehr_error.html", message=error.description), error.code or 500


def _launch_url(
    target: str, patient_id: str, app_context: str | None = None, *, in_frame: bool
) -> str:
    # Outside the EHR's frame (a card's link opens a new tab) no EHR banner names the
    # patient, so the app is asked to show its own (SMART need_patient_banner).
    settings = current_sandbox().settings
    context = LaunchContext(
        patient=patient_id,
        user=settings.user,
        need_patient_banner=not in_frame,
        app_context=app_context,
    )
    launch = create_launch(context)
    return f"{target}?{urlencode({'iss': settings.fhir_base, 'launch': launch})}"


def _fire(hook: str, session: OrderSession) -> HookAnswer:
    """Call the service for ``hook`` on the session's drafts; never raise, say what failed."""
    state = current_sandbox()
    settings = state.settings
    try:
        service = state.cds.service_for(hook)
    except CdsCallFailed as error:
        return HookAnswer(hook, "", failure=error.message)
    try:
        data = ehr_chart.prefetch(state.fhir, session.patient_id)
    except ehr_chart.ChartUnavailable:
        return HookAnswer(hook, service.id, failure="The EHR could not read this chart.")
    token, _ = current_auth().issue_access_token(
        client_id=CDS_SERVICE_CLIENT_ID,
        scope=CDS_SCOPE,
        user=settings.user,
        patient=session.patient_id,
        ttl=CDS_ACCESS_SECONDS,
    )
    body = hook_request(
        hook,
        patient_id=session.patient_id,
        user=settings.user,
        draft_orders=session.drafts,
        selections=[reference(dict(d)) for d in session.drafts],
        prefetch={k: v for k, v in data.items() if k in service.prefetch_keys},
        fhir_server=settings.fhir_base,
        fhir_authorization={
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": CDS_ACCESS_SECONDS,
            "scope": CDS_SCOPE,
            "subject": CDS_SERVICE_CLIENT_ID,
            "patient": session.patient_id,
        },
    )
    try:
        cards = state.cds.call(service.id, body)
    except CdsCallFailed as error:
        log.warning("CDS call failed", extra={"event": "cds_call_failed", "hook": hook})
        return HookAnswer(hook, service.id, failure=error.message)
    return HookAnswer(hook, service.id, tuple(cards))


def _send_feedback(session: OrderSession, item: dict[str, Any]) -> str | None:
    """Post one feedback item; return a note for the page when it could not be sent."""
    assert session.answer is not None  # a decision is always on a card of an answer
    try:
        current_sandbox().cds.feedback(session.answer.service_id, [item])
    except CdsCallFailed as error:
        return f"Feedback could not be sent to the CDS service: {error.message}"
    return None


def _sessions() -> ExpiringMap[str, OrderSession]:
    # In the sandbox's database, so that every worker of the sandbox sees every order.
    return current_auth().database.map("ehr-order")


def _order_session(session_id: str) -> OrderSession:
    session = _sessions().get(session_id)
    if session is None:
        abort(404, "This prescribing session has expired or does not exist.")
    return session


def _save(session: OrderSession) -> ResponseReturnValue:
    _sessions().put(session.id, session, SESSION_TTL)
    return redirect(url_for("ehr.order", session_id=session.id), 303)


def _open_card(session: OrderSession, card_uuid: str) -> Card:
    card = session.answer.card(card_uuid) if session.answer else None
    if card is None or card.uuid in session.decisions:
        abort(409, "That card is no longer open: the page was out of date.")
    return card


def _chart_data(patient_id: str) -> dict[str, Any]:
    """Read the patient's chart data; 404 for an unknown patient, 503 when the server fails."""
    try:
        return ehr_chart.prefetch(current_sandbox().fhir, patient_id)
    except ValueError:
        abort(404, "There is no such patient.")
    except ehr_chart.ChartUnavailable as error:
        if isinstance(error.__cause__, FhirNotFound):
            abort(404, "There is no such patient.")
        abort(503, UNAVAILABLE)


def _app_origin() -> str:
    return _origin(current_sandbox().settings.app_launch_url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
