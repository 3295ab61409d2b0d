"""Why the app could not go on, told to the clinician: what happened and what to do next.

One hierarchy for the whole app, the launch (``/launch``, ``/callback``) and the pages after it:
every error carries the HTTP status, a title, an explanation and the next step, and one error
handler (registered on the app's blueprint in ``smart_app.init_app``) renders any ``AppError`` as
``error.html``. None ever holds a token, and explanations never contain FHIR text: FHIR failures
are described by interaction and status. Anything else that escapes a view is shown as
``PageUnavailable``, its details kept for the log.
"""

from __future__ import annotations

import logging

from flask import render_template
from werkzeug.exceptions import HTTPException

log = logging.getLogger("ldn.smart_app")


class AppError(Exception):
    """The app could not go on; ``title``, ``explanation`` and ``next_step`` are shown as is."""

    status = 400
    title = "This page could not be shown"
    next_step = "Go back to the opioid review, or open the app again from the patient's chart."

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation

    def headers(self) -> dict[str, str]:
        """Return the HTTP headers the error page is sent with."""
        return {}


# -- the launch ------------------------------------------------------------------------------
class MissingIssuer(AppError):
    """The launch request named no FHIR server (``iss``) and no default is configured."""

    title = "The app was opened without an EHR"
    next_step = (
        "Open the app from the patient's chart in your EHR, which tells the app which "
        "record system to connect to."
    )


class UnknownIssuer(AppError):
    """The ``iss`` is not on the allowlist: nothing was fetched from it."""

    status = 403
    title = "This EHR is not set up for the app"
    next_step = (
        "Ask your EHR administrator to register this record system with the app "
        "(SMART_ISSUERS). If you did not expect to see this, do not go on: the link may "
        "not come from your EHR."
    )


class DiscoveryFailed(AppError):
    """The EHR's ``.well-known/smart-configuration`` could not be read or is unusable."""

    status = 502
    title = "The EHR's sign-in service could not be reached"
    next_step = "Try again in a minute. If it keeps happening, tell your EHR support desk."


class AuthorizationDenied(AppError):
    """The authorization server sent the user back with an OAuth ``error``."""

    status = 403
    title = "The EHR did not authorize the app"
    next_step = (
        "Open the app again from the chart and approve the access it asks for. If your "
        "organisation does not allow this app, contact your EHR administrator."
    )

    def __init__(self, error: str, description: str | None = None) -> None:
        explanation = f"The EHR answered '{error}'."
        if description:
            explanation += f" It said: {description[:300]}"
        super().__init__(explanation)
        self.error = error
        self.description = description


class StateMismatch(AppError):
    """The callback's ``state`` is unknown here, used already, or from another browser."""

    title = "This sign-in link is not valid here"
    next_step = (
        "Open the app again from the patient's chart. Sign-in links work once, in the browser "
        "that started them."
    )


class TokenExchangeFailed(AppError):
    """The token endpoint refused the code or failed."""

    status = 502
    title = "The EHR did not complete the sign-in"
    next_step = (
        "Open the app again from the patient's chart. If it keeps happening, tell your EHR "
        "support desk."
    )


class InvalidIdToken(AppError):
    """The id_token failed validation (signature, issuer, audience, expiry or nonce)."""

    status = 502
    title = "The EHR's identity statement could not be verified"
    next_step = (
        "Do not go on. Open the app again from the chart; if it happens again, tell your EHR "
        "support desk, because the sign-in could have been tampered with."
    )


class LaunchExpired(AppError):
    """This browser has no live launch: the session ended or the tokens can no longer be renewed."""

    status = 401
    title = "Your session with the EHR has ended"
    next_step = "Open the app again from the patient's chart."


class TooManyLaunches(AppError):
    """This client started more launches than ``SMART_LAUNCH_RATE_LIMIT`` allows."""

    status = 429
    title = "Too many sign-ins from this computer"
    next_step = "Wait a minute, then open the app again from the patient's chart."

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"The app was opened too often in a short time; try again in {retry_after} s."
        )
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Say when a launch from this client will be counted again."""
        return {"Retry-After": str(self.retry_after)}


# -- the pages after launch ------------------------------------------------------------------


class NoPatient(AppError):
    """The launch carries no patient, so there is no chart to review."""

    title = "No patient was selected"
    next_step = "Open the app from a patient's chart, or pick a patient when the EHR asks."


class ChartUnreadable(AppError):
    """The patient's medications could not be read: the review cannot say anything about opioids."""

    status = 502
    title = "The patient's medication list could not be read"
    next_step = (
        "Do not take this as 'no opioids': nothing could be checked. Try again in a minute; if it "
        "keeps happening, check the patient's medications in the EHR and tell your support desk."
    )


class BadLaunchContext(AppError):
    """The EHR's launch context names a patient or encounter by something that is not an id."""

    title = "The EHR sent a patient or encounter the app cannot use"
    next_step = (
        "Open the app again from the patient's chart. If it keeps happening, tell your EHR "
        "support desk: the launch named the patient in a way FHIR does not allow."
    )


class PageUnavailable(AppError):
    """Something behind the page failed unexpectedly (the session store, for example)."""

    status = 503
    title = "The app could not finish this page"
    next_step = (
        "Nothing was saved to the chart by this step. Use your browser's Back button to return "
        "to your entries, then try again in a minute; if it keeps happening, tell your support "
        "desk."
    )


class CsrfRejected(AppError):
    """A POST came without this session's CSRF token (a forged or stale form)."""

    title = "The form could not be accepted"
    next_step = (
        "Go back, reload the page and submit the form again. If you did not submit a form, "
        "close this window: the request may not have come from this app."
    )


class BadPlanLink(AppError):
    """A link to a plan (handout or saved plan) holds values that do not make a plan."""

    title = "This plan link is not valid"
    next_step = "Go back to the titration plan, check the values and open the link again."


class PlanNotFound(AppError):
    """No saved plan with this identifier is on the patient's chart."""

    status = 404
    title = "The plan was not found on the chart"
    next_step = (
        "Open the list of saved plans. If you have just saved it, wait a moment and reload: the "
        "EHR may take a little while to show it."
    )


class PlanNotPrintable(AppError):
    """A saved plan's steps are not a schedule of the protocol, so no handout can be made."""

    status = 422
    title = "No handout can be printed for this plan"
    next_step = (
        "Open the saved plan to see its steps as recorded, or make a new plan in the app and "
        "print its handout."
    )


def error_page(error: AppError) -> tuple[str, int, dict[str, str]]:
    """Render an app error as a page that says what happened and what to do next."""
    log.warning(
        "app error: %s",
        type(error).__name__,
        extra={"event": "smart_app_error", "status": error.status},
    )
    return render_template("smart_app/error.html", error=error), error.status, error.headers()


def unexpected_error_page(error: Exception) -> tuple[str, int] | HTTPException:
    """Render any other failure (a session store that cannot be read...) as a designed page."""
    if isinstance(error, HTTPException):
        return error
    # The JSON log keeps the exception's type and frames, never its message (PHI, tokens).
    log.error(
        "page failed unexpectedly: %s",
        type(error).__name__,
        exc_info=error,
        extra={"event": "smart_page_unexpected", "status": PageUnavailable.status},
    )
    page = PageUnavailable("The app met an error it did not expect while preparing this page.")
    return render_template("smart_app/error.html", error=page), page.status
