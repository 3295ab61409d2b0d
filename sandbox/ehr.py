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

from fhir_client import FhirClient, FhirNotFound
from sandbox import chart as charts
from sandbox.auth import LaunchContext, PatientListError, create_launch, current_auth
from sandbox.auth.launch import app_context_fits
from sandbox.auth.store import ExpiringMap
from sandbox.card_markdown import render_detail
from sandbox.cards import Card
from sandbox.cds_client import CdsCallFailed, CdsClient, ClientKey, feedback_item, hook_request
from sandbox.ordering import SESSION_TTL, HookAnswer, OrderSession
from sandbox.orders import CHOICES_BY_KEY, ORDER_CHOICES, draft_order, reference
from sandbox.settings import CDS_SERVICE_CLIENT_ID, SandboxSettings

CDS_SCOPE = "patient/*.rs"
CDS_ACCESS_SECONDS = 300
COMMENT_LIMIT = 1000

log = logging.getLogger("ldn.sandbox.ehr")


def create_ehr_blueprint(
    settings: SandboxSettings, fhir: FhirClient, cds: CdsClient, key: ClientKey
) -> Blueprint:
    """Build the EHR pages' blueprint (mounted at ``/ehr``)."""
    blueprint = Blueprint("ehr", __name__, url_prefix="/ehr")
    app_origin = _origin(settings.app_launch_url)

    def launch_url(
        target: str, patient_id: str, app_context: str | None = None, *, in_frame: bool
    ) -> str:
        # Outside the EHR's frame (a card's link opens a new tab) no EHR banner names the
        # patient, so the app is asked to show its own (SMART need_patient_banner).
        context = LaunchContext(
            patient=patient_id,
            user=settings.user,
            need_patient_banner=not in_frame,
            app_context=app_context,
        )
        launch = create_launch(context)
        return f"{target}?{urlencode({'iss': settings.fhir_base, 'launch': launch})}"

    def fire(hook: str, session: OrderSession) -> HookAnswer:
        """Call the service for ``hook`` on the session's drafts; never raise, say what failed."""
        try:
            service = cds.service_for(hook)
        except CdsCallFailed as error:
            return HookAnswer(hook, "", failure=error.message)
        try:
            data = charts.prefetch(fhir, session.patient_id)
        except charts.ChartUnavailable:
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
            cards = cds.call(service.id, body)
        except CdsCallFailed as error:
            log.warning("CDS call failed", extra={"event": "cds_call_failed", "hook": hook})
            return HookAnswer(hook, service.id, failure=error.message)
        return HookAnswer(hook, service.id, tuple(cards))

    def send_feedback(session: OrderSession, item: dict[str, Any]) -> str | None:
        """Post one feedback item; return a note for the page when it could not be sent."""
        assert session.answer is not None  # a decision is always on a card of an answer
        try:
            cds.feedback(session.answer.service_id, [item])
        except CdsCallFailed as error:
            return f"Feedback could not be sent to the CDS service: {error.message}"
        return None

    def sessions() -> ExpiringMap[str, OrderSession]:
        # In the sandbox's database, so that every worker of the sandbox sees every order.
        return current_auth().database.map("ehr-order")

    def order_session(session_id: str) -> OrderSession:
        session = sessions().get(session_id)
        if session is None:
            abort(404, "This prescribing session has expired or does not exist.")
        return session

    def save(session: OrderSession) -> ResponseReturnValue:
        sessions().put(session.id, session, SESSION_TTL)
        return redirect(url_for("ehr.order", session_id=session.id), 303)

    def card_of(session: OrderSession, card_uuid: str) -> Card:
        card = session.answer.card(card_uuid) if session.answer else None
        if card is None or card.uuid in session.decisions:
            abort(409, "That card is no longer open: the page was out of date.")
        return card

    @blueprint.get("/")
    def patients() -> ResponseReturnValue:
        try:
            listed = charts.patient_list(fhir)
        except PatientListError:
            return _unavailable()
        return render_template("sandbox/ehr_patients.html", patients=listed)

    @blueprint.get("/patients/<patient_id>")
    def patient(patient_id: str) -> ResponseReturnValue:
        data = _prefetch(fhir, patient_id)
        if data is None:
            return _unavailable()
        return render_template("sandbox/ehr_chart.html", chart=charts.chart(data))

    @blueprint.get("/patients/<patient_id>/app")
    def app_frame(patient_id: str) -> ResponseReturnValue:
        data = _prefetch(fhir, patient_id)
        if data is None:
            return _unavailable()
        return render_template(
            "sandbox/ehr_app_frame.html",
            chart=charts.chart(data),
            app_url=launch_url(settings.app_launch_url, patient_id, in_frame=True),
        )

    @blueprint.get("/patients/<patient_id>/orders/new")
    def new_order(patient_id: str) -> ResponseReturnValue:
        data = _prefetch(fhir, patient_id)
        if data is None:
            return _unavailable()
        return render_template(
            "sandbox/ehr_order_new.html", chart=charts.chart(data), choices=ORDER_CHOICES
        )

    @blueprint.post("/patients/<patient_id>/orders")
    def draft(patient_id: str) -> ResponseReturnValue:
        choice = CHOICES_BY_KEY.get(request.form.get("product", ""))
        if choice is None:
            abort(400, "Choose one of the naltrexone products.")
        if _prefetch(fhir, patient_id) is None:
            return _unavailable()
        session = OrderSession(patient_id, (draft_order(choice, patient_id, settings.user),))
        return save(session.with_answer(fire("order-select", session)))

    @blueprint.get("/orders/<session_id>")
    def order(session_id: str) -> ResponseReturnValue:
        session = order_session(session_id)
        data = _prefetch(fhir, session.patient_id)
        if data is None:
            return _unavailable()
        return render_template(
            "sandbox/ehr_order.html",
            session=session,
            chart=charts.chart(data),
            detail=render_detail,
            choices=CHOICES_BY_KEY,
        )

    @blueprint.post("/orders/<session_id>/sign")
    def sign(session_id: str) -> ResponseReturnValue:
        session = order_session(session_id)
        if session.signed or not session.drafts:
            abort(409, "There is nothing left to sign in this session.")
        return save(session.with_answer(fire("order-sign", session)))

    @blueprint.post("/orders/<session_id>/cards/<card_uuid>/accept")
    def accept(session_id: str, card_uuid: str) -> ResponseReturnValue:
        session = order_session(session_id)
        card = card_of(session, card_uuid)
        chosen = request.form.get("suggestion")
        suggestion = next((s for s in card.suggestions if s.uuid == chosen), None)
        if suggestion is None:
            abort(400, "Choose one of the card's suggestions.")
        item = feedback_item(card, "accepted", accepted=[suggestion.uuid])
        problem = send_feedback(session, item)
        session = session.accept(suggestion)
        note = f"Accepted: {suggestion.label}."
        notes = (note, problem) if problem else (note,)
        return save(session.decided(card, "accepted", " ".join(notes)))

    @blueprint.post("/orders/<session_id>/cards/<card_uuid>/override")
    def override(session_id: str, card_uuid: str) -> ResponseReturnValue:
        session = order_session(session_id)
        card = card_of(session, card_uuid)
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
        problem = send_feedback(session, item)
        note = f"Overridden: {card.summary} ({reason.display if reason else 'no reason'})."
        notes = (note, problem) if problem else (note,)
        return save(session.decided(card, "overridden", " ".join(notes)))

    @blueprint.get("/orders/<session_id>/cards/<card_uuid>/links/<int:index>")
    def smart_link(session_id: str, card_uuid: str, index: int) -> ResponseReturnValue:
        session = order_session(session_id)
        card = session.answer.card(card_uuid) if session.answer else None
        if card is None or not 0 <= index < len(card.links):
            abort(404, "That link is no longer on the page.")
        link = card.links[index]
        if link.type != "smart" or _origin(link.url) != app_origin:
            abort(400, "Only the registered SMART app can be launched from a card.")
        app_context = link.app_context
        if app_context is not None and not app_context_fits(app_context):
            # The app still opens for the patient; only the card's oversized context is lost.
            log.warning("card appContext too long, dropped", extra={"event": "app_context_dropped"})
            app_context = None
        return redirect(launch_url(link.url, session.patient_id, app_context, in_frame=False), 303)

    @blueprint.get("/.well-known/jwks.json")
    def jwks() -> Response:
        response = jsonify(key.jwks())
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    @blueprint.get("/ehr.css")
    def stylesheet() -> Response:
        css = render_template("sandbox/ehr.css")
        return Response(css, content_type="text/css; charset=utf-8")

    @blueprint.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            f"frame-src 'self' {app_origin}; base-uri 'none'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @blueprint.errorhandler(400)
    @blueprint.errorhandler(404)
    @blueprint.errorhandler(409)
    def page_error(error: Any) -> ResponseReturnValue:
        return render_template("sandbox/ehr_error.html", message=error.description), error.code

    return blueprint


def _prefetch(fhir: FhirClient, patient_id: str) -> dict[str, Any] | None:
    """Read the patient's chart data; 404 for an unknown patient, None when the server fails."""
    try:
        return charts.prefetch(fhir, patient_id)
    except ValueError:
        abort(404, "There is no such patient.")
    except charts.ChartUnavailable as error:
        if isinstance(error.__cause__, FhirNotFound):
            abort(404, "There is no such patient.")
        return None


def _unavailable() -> ResponseReturnValue:
    page = render_template(
        "sandbox/ehr_error.html",
        message="The EHR's FHIR server is not answering. Check that it is running, then reload.",
    )
    return page, 503


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
