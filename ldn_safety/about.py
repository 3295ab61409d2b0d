"""The page a card's source link opens (CDS Hooks ``source.url``): what the service is.

It says what the service checks (its published services), the washout windows and titration
protocol it applies, the clinical source they come from, and the version running, all read from
the same data the checks use, so the page cannot drift from them. No patient data, no login.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, Response, render_template

from cds_hooks.discovery import discovery_document
from cds_hooks.state import current_state
from clinical.evidence import select_evidence
from fhir_profiles.evidence_render import summary_view

DISTRIBUTION = "ldn-opioid-safety"

bp = Blueprint("about", __name__)


def product_version() -> str:
    """Return the installed version of the product ("unknown" when not installed)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


@bp.get("/about")
def about() -> Response:
    """Show what the service checks, its clinical source and its version."""
    known = current_state().settings.knowledge  # the windows the card applies
    view = summary_view(select_evidence(frozenset(), known.evidence), knowledge=known)
    page = render_template(
        "about.html",
        services=discovery_document()["services"],
        view=view,
        version=product_version(),
    )
    response = Response(page, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
