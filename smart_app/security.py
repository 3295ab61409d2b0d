"""Browser-side protection for the app's pages: security headers and CSRF tokens on POST forms.

The pages run inside an EHR's iframe, so the session cookie is ``SameSite=None``: the browser
sends it on cross-site POSTs too, and only a token bound to the server-side session tells a form
the app served from a forged one. The Content-Security-Policy allows no inline script and no
inline style (styles come from the static CSS file, SVG uses presentation attributes), and
``frame-ancestors`` names the EHR origins allowed to embed the app (``SMART_FRAME_ANCESTORS``).
"""

from __future__ import annotations

import secrets

from flask import Blueprint, request, session
from werkzeug.wrappers import Response

from smart_app.errors import CsrfRejected
from smart_app.settings import app_settings

CSRF_KEY = "smart_csrf"
CSRF_FIELD = "csrf_token"
_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)


def protect(bp: Blueprint) -> None:
    """Check CSRF tokens on every POST of ``bp`` and add the security headers to its answers."""
    bp.before_request(check_csrf)
    bp.after_request(security_headers)
    bp.context_processor(lambda: {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD})


def csrf_token() -> str:
    """Return this browser session's CSRF token, creating it on first use."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def check_csrf() -> None:
    """Refuse a POST whose form does not carry this session's CSRF token."""
    if request.method != "POST":
        return
    expected = session.get(CSRF_KEY)
    sent = request.form.get(CSRF_FIELD, "")
    # Compared as bytes: compare_digest refuses non-ASCII text (TypeError, a 500), and a forged
    # form may send anything. A lone surrogate cannot be encoded and matches nothing.
    sent_bytes = sent.encode("utf-8", "replace")
    if not isinstance(expected, str) or not secrets.compare_digest(
        sent_bytes, expected.encode("utf-8", "replace")
    ):
        raise CsrfRejected(
            "The form did not come with this browser's security token, so nothing was done."
        )


def security_headers(response: Response) -> Response:
    """Add the Content-Security-Policy (with frame-ancestors) and related headers.

    The pages show patient data and the callback's URL holds an authorization code: nothing is
    cached, and no Referer header carries either to another site.
    """
    ancestors = app_settings().frame_ancestors
    response.headers["Content-Security-Policy"] = "; ".join(
        (*_POLICY, f"frame-ancestors {ancestors}")
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
