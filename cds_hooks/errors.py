"""The CDS service's errors: each knows its HTTP status, JSON body and headers.

Bodies are ``{"error": <stable code>, "message": <what is wrong>, "path": <field>?}``; the 412
body is a FHIR OperationOutcome, as the FHIR-facing answer to "the data could not be had".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Response, jsonify


class CdsError(Exception):
    """Base of every error the CDS blueprint answers with; renders itself as JSON."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid-request"

    def __init__(
        self, message: str, *, path: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """Return the JSON body: stable code, message, and the offending field when known."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.path is not None:
            body["path"] = self.path
        return body

    def response(self) -> Response:
        """Return the complete HTTP response for this error."""
        response = jsonify(self.body())
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


class InvalidRequest(CdsError):
    """The body is not a valid CDS Hooks request or feedback (400); ``path`` names the field."""


class Unauthorized(CdsError):
    """The client JWT is missing or not acceptable (401). The body never says why."""

    status = 401
    code = "unauthorized"

    def __init__(self, reason: str) -> None:
        # ``reason`` is a short category for the operator's log, never sent to the caller.
        super().__init__(
            "A valid client JWT is required (see the service's security documentation).",
            headers={"WWW-Authenticate": 'Bearer realm="cds-services", error="invalid_token"'},
        )
        self.reason = reason
        # The issuer the refused token claimed (unverified), for the operator's log.
        self.issuer: str | None = None


class NotFound(CdsError):
    """No such CDS service or endpoint (404)."""

    status = 404
    code = "not-found"


class MethodNotAllowed(CdsError):
    """The endpoint exists but not for this HTTP method (405)."""

    status = 405
    code = "method-not-allowed"

    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(
            f"{method} is not allowed here; use {allowed}.",
            headers={"Allow": f"{allowed}, OPTIONS"},
        )


class PayloadTooLarge(CdsError):
    """The body is larger than the configured limit (413)."""

    status = 413
    code = "payload-too-large"


class TooManyRequests(CdsError):
    """The client sent more calls of this kind than its rate limit allows (429)."""

    status = 429
    code = "too-many-requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many calls; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


class UnsupportedMediaType(CdsError):
    """The body is not sent as JSON (415)."""

    status = 415
    code = "unsupported-media-type"


class DataUnavailable(CdsError):
    """No medication data could be had at all (412, CDS Hooks §Providing FHIR Resources).

    The body is an OperationOutcome with one issue per source that could not be read.
    """

    status = 412
    code = "precondition-failed"

    def __init__(self, message: str, failures: Mapping[str, str]) -> None:
        super().__init__(message)
        self.failures = dict(failures)

    def body(self) -> dict[str, Any]:
        """Return an OperationOutcome naming each source that could not be read and why."""
        issues = [
            {"severity": "error", "code": "exception", "diagnostics": f"{source}: {reason}"}
            for source, reason in self.failures.items()
        ]
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": "incomplete", "diagnostics": self.message},
                *issues,
            ],
        }


class CheckUnavailable(CdsError):
    """The check could not run (503): never answered as an empty list of cards."""

    status = 503
    code = "check-unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The opioid-safety check could not run, so no result is available. "
            "This is not an all-clear: review the patient's opioid use before ordering naltrexone."
        )


class StoreUnavailable(CdsError):
    """The service's database cannot be read or written right now (503, with Retry-After)."""

    status = 503
    code = "store-unavailable"

    def response(self) -> Response:
        """Answer 503 and ask the client to try again in a little while."""
        response = super().response()
        response.headers["Retry-After"] = "30"
        return response
