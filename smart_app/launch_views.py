"""The SMART app's launch endpoints: ``/launch`` (EHR or standalone) and ``/callback``."""

from __future__ import annotations

import logging
import math
import time

from flask import Blueprint, Flask, current_app, redirect, request, url_for
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.wrappers import Response as BaseResponse

from smart_app import launch as smart
from smart_app.card_context import landing_page
from smart_app.errors import TooManyLaunches
from smart_app.registrations import registration_for
from smart_app.session import remember_pending, start_launch, take_pending
from smart_app.settings import AppSettings, app_settings

bp = Blueprint("launch", __name__)
log = logging.getLogger("ldn.smart_app")
LAUNCH_LIMITER = "smart_app_launch_limiter"


def init_launch_limiter(app: Flask, settings: AppSettings) -> None:
    """Give ``app`` the counter of launches per client address (``SMART_LAUNCH_RATE_LIMIT``)."""
    storage = storage_from_string(settings.rate_limit_storage_uri)
    app.extensions[LAUNCH_LIMITER] = MovingWindowRateLimiter(storage)


@bp.get("/launch")
def launch() -> BaseResponse:
    """Start a launch: EHR launch (``iss`` and ``launch``) or standalone (``iss`` or default)."""
    settings = app_settings()
    launch_value = request.args.get("launch") or None
    iss = request.args.get("iss")
    if not iss and launch_value is None:
        iss = settings.default_iss
    registration = registration_for(settings.registrations, iss)
    # Only an allowlisted iss within this client's rate gets a discovery fetch and a session.
    _within_launch_rate()
    config = smart.discover(
        registration.iss, settings.registrations, timeout=settings.http_timeout_seconds
    )
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
    settings = app_settings()
    pending = take_pending(request.args.get("state"))
    ctx = smart.complete(
        pending, request.args, settings.registrations, timeout=settings.http_timeout_seconds
    )
    launch_id = start_launch(ctx)
    log.info("launch completed", extra={"event": "smart_launch_completed"})
    return redirect(url_for(landing_page(ctx.app_context), launch_id=launch_id))


def _within_launch_rate() -> None:
    """Count a launch for this client address; raise TooManyLaunches (429) past the rate."""
    limiter: MovingWindowRateLimiter = current_app.extensions[LAUNCH_LIMITER]
    rate = app_settings().launch_rate_limit
    client = request.remote_addr or "unknown"
    if not limiter.hit(rate, "smart-launch", client):
        reset = limiter.get_window_stats(rate, "smart-launch", client).reset_time
        raise TooManyLaunches(max(1, math.ceil(reset - time.time())))


def _redirect_uri() -> str:
    return app_settings().redirect_uri or url_for("smart_app.launch.callback", _external=True)
