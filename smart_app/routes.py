"""The SMART app's launch endpoints: ``/launch`` (EHR or standalone) and ``/callback``."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from smart_app import launch as smart
from smart_app.card_context import landing_page
from smart_app.errors import LaunchError, TooManyLaunches
from smart_app.registrations import ClientRegistration, registration_for
from smart_app.session import remember_pending, start_launch, take_pending

bp = Blueprint("smart_app", __name__, static_folder="static", static_url_path="/app-static")
log = logging.getLogger("ldn.smart_app")


@bp.get("/launch")
def launch() -> BaseResponse:
    """Start a launch: EHR launch (``iss`` and ``launch``) or standalone (``iss`` or default)."""
    launch_value = request.args.get("launch") or None
    iss = request.args.get("iss")
    if not iss and launch_value is None:
        iss = current_app.config["SMART_DEFAULT_ISS"]
    registration = registration_for(registrations(), iss)
    # Only an allowlisted iss within this client's rate gets a discovery fetch and a session.
    _within_launch_rate()
    config = smart.discover(registration.iss, registrations(), timeout=_timeout())
    authorize_url, pending = smart.begin(
        config, registration, redirect_uri=_redirect_uri(), launch=launch_value
    )
    remember_pending(pending)
    log.info("launch started", extra={"event": "smart_launch_started"})
    return redirect(authorize_url)


@bp.get("/callback")
def callback() -> BaseResponse:
    """Finish a launch: check the answer, exchange the code, then open the page it is for.

    That is the opioid review, or the evidence summary when a card's evidence link launched it.
    """
    pending = take_pending(request.args.get("state"))
    ctx = smart.complete(pending, request.args, registrations(), timeout=_timeout())
    launch_id = start_launch(ctx)
    log.info("launch completed", extra={"event": "smart_launch_completed"})
    return redirect(url_for(landing_page(ctx.app_context), launch_id=launch_id))


@bp.after_request
def no_store(response: Response) -> Response:
    """Keep launch pages out of caches, and the callback's code out of Referer headers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.errorhandler(LaunchError)
def launch_error(error: LaunchError) -> tuple[str, int, dict[str, str]]:
    """Render a launch failure as a page that says what happened and what to do next."""
    log.warning(
        "launch failed: %s",
        type(error).__name__,
        extra={"event": "smart_launch_failed", "status": error.status},
    )
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyLaunches) else {}
    return render_template("smart_app/error.html", error=error), error.status, headers


def registrations() -> Mapping[str, ClientRegistration]:
    """Return the allowlisted issuers and their client registrations."""
    registered: Mapping[str, ClientRegistration] = current_app.extensions["smart_app"]
    return registered


def _within_launch_rate() -> None:
    """Count a launch for this client address; raise TooManyLaunches (429) past the rate."""
    limiter, rate = current_app.extensions["smart_app_launch_limit"]
    client = request.remote_addr or "unknown"
    if not limiter.hit(rate, "smart-launch", client):
        reset = limiter.get_window_stats(rate, "smart-launch", client).reset_time
        raise TooManyLaunches(max(1, math.ceil(reset - time.time())))


def _redirect_uri() -> str:
    configured: str | None = current_app.config["SMART_REDIRECT_URI"]
    return configured or url_for("smart_app.callback", _external=True)


def _timeout() -> float:
    return float(current_app.config["SMART_HTTP_TIMEOUT"])
