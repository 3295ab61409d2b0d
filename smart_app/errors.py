"""Why a SMART launch stopped, told to the clinician: what happened and what to do next.

One small hierarchy; the blueprint's error handler renders any ``LaunchError`` as an HTML page
with the error's status, title, explanation and next step. Nothing here ever holds a token.
"""

from __future__ import annotations


class LaunchError(Exception):
    """A launch could not go on; ``title``, ``explanation`` and ``next_step`` are shown as is."""

    status = 400
    title = "The app could not be opened"
    next_step = "Close this window and open the app again from the patient's chart."

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


class MissingIssuer(LaunchError):
    """The launch request named no FHIR server (``iss``) and no default is configured."""

    title = "The app was opened without an EHR"
    next_step = (
        "Open the app from the patient's chart in your EHR, which tells the app which "
        "record system to connect to."
    )


class UnknownIssuer(LaunchError):
    """The ``iss`` is not on the allowlist: nothing was fetched from it."""

    status = 403
    title = "This EHR is not set up for the app"
    next_step = (
        "Ask your EHR administrator to register this record system with the app "
        "(SMART_ISSUERS). If you did not expect to see this, do not go on: the link may "
        "not come from your EHR."
    )


class DiscoveryFailed(LaunchError):
    """The EHR's ``.well-known/smart-configuration`` could not be read or is unusable."""

    status = 502
    title = "The EHR's sign-in service could not be reached"
    next_step = "Try again in a minute. If it keeps happening, tell your EHR support desk."


class AuthorizationDenied(LaunchError):
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


class StateMismatch(LaunchError):
    """The callback's ``state`` is unknown here, used already, or from another browser."""

    title = "This sign-in link is not valid here"
    next_step = (
        "Open the app again from the patient's chart. Sign-in links work once, in the browser "
        "that started them."
    )


class TokenExchangeFailed(LaunchError):
    """The token endpoint refused the code or failed."""

    status = 502
    title = "The EHR did not complete the sign-in"
    next_step = (
        "Open the app again from the patient's chart. If it keeps happening, tell your EHR "
        "support desk."
    )


class InvalidIdToken(LaunchError):
    """The id_token failed validation (signature, issuer, audience, expiry or nonce)."""

    status = 502
    title = "The EHR's identity statement could not be verified"
    next_step = (
        "Do not go on. Open the app again from the chart; if it happens again, tell your EHR "
        "support desk, because the sign-in could have been tampered with."
    )


class LaunchExpired(LaunchError):
    """This browser has no live launch: the session ended or the tokens can no longer be renewed."""

    status = 401
    title = "Your session with the EHR has ended"
    next_step = "Open the app again from the patient's chart."


class TooManyLaunches(LaunchError):
    """This client started more launches than ``SMART_LAUNCH_RATE_LIMIT`` allows."""

    status = 429
    title = "Too many sign-ins from this computer"
    next_step = "Wait a minute, then open the app again from the patient's chart."

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"The app was opened too often in a short time; try again in {retry_after} s."
        )
        self.retry_after = retry_after
