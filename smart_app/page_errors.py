"""Why a page after launch could not be shown, told to the clinician (rendered by error.html).

Each error carries the HTTP status, a title, an explanation and the next step, the same contract
as ``smart_app.errors.LaunchError``, so one template renders both. None ever holds a token, and
explanations never contain FHIR text: FHIR failures are described by interaction and status.
"""

from __future__ import annotations


class PageError(Exception):
    """A page could not be shown; ``title``, ``explanation`` and ``next_step`` are shown as is."""

    status = 400
    title = "This page could not be shown"
    next_step = "Go back to the opioid review, or open the app again from the patient's chart."

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


class NoPatient(PageError):
    """The launch carries no patient, so there is no chart to review."""

    title = "No patient was selected"
    next_step = "Open the app from a patient's chart, or pick a patient when the EHR asks."


class ChartUnreadable(PageError):
    """The patient's medications could not be read: the review cannot say anything about opioids."""

    status = 502
    title = "The patient's medication list could not be read"
    next_step = (
        "Do not take this as 'no opioids': nothing could be checked. Try again in a minute; if it "
        "keeps happening, check the patient's medications in the EHR and tell your support desk."
    )


class BadLaunchContext(PageError):
    """The EHR's launch context names a patient or encounter by something that is not an id."""

    title = "The EHR sent a patient or encounter the app cannot use"
    next_step = (
        "Open the app again from the patient's chart. If it keeps happening, tell your EHR "
        "support desk: the launch named the patient in a way FHIR does not allow."
    )


class PageUnavailable(PageError):
    """Something behind the page failed unexpectedly (the session store, for example)."""

    status = 503
    title = "The app could not finish this page"
    next_step = (
        "Nothing was saved to the chart by this step. Use your browser's Back button to return "
        "to your entries, then try again in a minute; if it keeps happening, tell your support "
        "desk."
    )


class CsrfRejected(PageError):
    """A POST came without this session's CSRF token (a forged or stale form)."""

    title = "The form could not be accepted"
    next_step = (
        "Go back, reload the page and submit the form again. If you did not submit a form, "
        "close this window: the request may not have come from this app."
    )


class BadPlanLink(PageError):
    """A link to a plan (handout or saved plan) holds values that do not make a plan."""

    title = "This plan link is not valid"
    next_step = "Go back to the titration plan, check the values and open the link again."


class PlanNotFound(PageError):
    """No saved plan with this identifier is on the patient's chart."""

    status = 404
    title = "The plan was not found on the chart"
    next_step = (
        "Open the list of saved plans. If you have just saved it, wait a moment and reload: the "
        "EHR may take a little while to show it."
    )


class PlanNotPrintable(PageError):
    """A saved plan's steps are not a schedule of the protocol, so no handout can be made."""

    status = 422
    title = "No handout can be printed for this plan"
    next_step = (
        "Open the saved plan to see its steps as recorded, or make a new plan in the app and "
        "print its handout."
    )
