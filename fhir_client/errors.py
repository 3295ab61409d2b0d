"""Typed failures of a FHIR HTTP interaction, each carrying the server's OperationOutcome.

Messages name the interaction and the HTTP status only: never the token, the query string or a
resource id, because callers log them and those may identify a patient.
"""

from __future__ import annotations

from typing import Any


class FhirError(Exception):
    """A FHIR interaction failed; ``status`` is None when no HTTP answer was obtained."""

    def __init__(self, status: int | None, outcome: dict[str, Any] | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


class FhirNotFound(FhirError):
    """The resource does not exist, or no longer does (404, 410)."""


class FhirUnauthorized(FhirError):
    """The server did not accept the bearer token (401)."""


class FhirForbidden(FhirError):
    """The token is valid but does not allow this interaction (403)."""


class FhirServerError(FhirError):
    """The server failed (5xx), including after retries of a 503."""


class FhirUnavailable(FhirError):
    """No answer: the server could not be reached or did not answer in time."""


class FhirMalformedAnswer(FhirError):
    """The server answered, but not with FHIR as asked: bad or ambiguous JSON, another resource
    than the one read, or a search answer that is not a well-formed searchset read in full."""


class FhirPagingRefused(FhirError):
    """A search was not followed to its end: too many pages, or a ``next`` link off the server."""


_BY_STATUS: dict[int, type[FhirError]] = {
    401: FhirUnauthorized,
    403: FhirForbidden,
    404: FhirNotFound,
    410: FhirNotFound,
}


def error_for_status(status: int, outcome: dict[str, Any] | None, message: str) -> FhirError:
    """Return the typed error for an HTTP error status."""
    if status >= 500:
        return FhirServerError(status, outcome, message)
    return _BY_STATUS.get(status, FhirError)(status, outcome, message)
