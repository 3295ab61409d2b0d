"""The FHIR proxy: the sandbox's token-checking front door to the FHIR server behind it (SEKMET).

Every request needs a live access token from the sandbox authorization server, whose scopes are
enforced (proxy_access.py) before and after the call. Absolute URLs in answers (Bundle links,
``fullUrl``, ``Location``) are rewritten from the server's base to the proxy's, so paging stays on
the proxy. Only a fixed set of headers passes either way; bodies have a size limit; calls have a
timeout. ``/metadata`` is public and advertises the SMART endpoints.

The proxy forwards raw HTTP (status, body, headers pass through), which is not what the FHIR
client is for; the reads it makes of its own accord (before an update or delete) use FhirClient.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import requests
from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from fhir_client import FhirClient, FhirError, FhirNotFound
from sandbox.auth import AuthConfig, TokenInfo, current_auth, introspect
from sandbox.proxy_access import (
    AccessDenied,
    BadFhirRequest,
    Operation,
    bundle_operations,
    check_after,
    check_before,
    check_existing,
    parse_operation,
)
from sandbox.settings import SandboxSettings
from sandbox.state import current_sandbox

FHIR_JSON = "application/fhir+json"
# Request headers a FHIR client legitimately sends; Authorization, cookies, Host and
# forwarding headers never reach the server behind the proxy.
FORWARDED_REQUEST_HEADERS = (
    "If-Match",
    "If-None-Match",
    "If-None-Exist",
    "If-Modified-Since",
    "Prefer",
)
RETURNED_HEADERS = ("ETag", "Last-Modified", "Location", "Content-Location")
_URL_HEADERS = ("Location", "Content-Location")
SMART_SECURITY_SERVICE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR",
        }
    ],
    "text": "OAuth2 using SMART-on-FHIR profile (see .well-known/smart-configuration)",
}
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

log = logging.getLogger("ldn.sandbox.proxy")


class ProxyError(Exception):
    """A request the proxy answers itself, as an OperationOutcome."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """Render the error as a FHIR OperationOutcome."""
        return outcome_response(self.status, self.code, self.message, self.headers)


def outcome_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """Return an OperationOutcome response with one error issue."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return Response(orjson.dumps(outcome), status, headers=headers, content_type=FHIR_JSON)


class Upstream:
    """The FHIR server behind the proxy, and how its URLs map to the proxy's."""

    def __init__(self, settings: SandboxSettings, session: requests.Session) -> None:
        self.base = settings.fhir_upstream
        self.public = settings.fhir_base
        self.timeout = settings.upstream_timeout
        self.session = session

    def send(self, method: str, path: str, query: str, body: bytes | None) -> requests.Response:
        """Forward one request; raise ProxyError when the server cannot be reached."""
        headers = {"Accept": FHIR_JSON}
        headers.update(
            {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
        )
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
        url = f"{self.base}/{path}" if path else self.base
        try:
            return self.session.request(
                method,
                f"{url}?{query}" if query else url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            raise ProxyError(504, "timeout", "The FHIR server did not answer in time.") from None
        except requests.RequestException:
            raise ProxyError(
                503, "transient", "The FHIR server is not reachable; try again shortly."
            ) from None

    def client(self) -> FhirClient:
        """Return a FHIR client of the server behind the proxy (no token: it is loopback-only)."""
        return FhirClient(self.base, session=self.session, timeout=self.timeout, max_retries=0)

    def public_url(self, url: str) -> str:
        """Map one of the server's absolute URLs onto the proxy's base."""
        if url == self.base or url.startswith(f"{self.base}/") or url.startswith(f"{self.base}?"):
            return self.public + url[len(self.base) :]
        return url

    def rewrite(self, resource: dict[str, Any]) -> None:
        """Rewrite the server's absolute URLs in an answer, in place (Bundles recursively)."""
        kind = resource.get("resourceType")
        if kind == "CapabilityStatement":
            implementation = resource.get("implementation")
            if isinstance(implementation, dict) and isinstance(implementation.get("url"), str):
                implementation["url"] = self.public
        if kind != "Bundle":
            return
        for link in resource.get("link", []):
            if isinstance(link.get("url"), str):
                link["url"] = self.public_url(link["url"])
        for entry in resource.get("entry", []):
            if isinstance(entry.get("fullUrl"), str):
                entry["fullUrl"] = self.public_url(entry["fullUrl"])
            answer = entry.get("response")
            if isinstance(answer, dict) and isinstance(answer.get("location"), str):
                answer["location"] = self.public_url(answer["location"])
            if isinstance(entry.get("resource"), dict):
                self.rewrite(entry["resource"])


# Mounted at the path of the sandbox's FHIR base (``/fhir``).
proxy = Blueprint("fhir_proxy", __name__)


@proxy.after_request
def cors(response: Response) -> Response:
    """Let browser-based SMART apps call FHIR across origins with a bearer token (no cookies)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = ", ".join(RETURNED_HEADERS)
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        response.headers["Access-Control-Allow-Headers"] = ", ".join(
            ("Authorization", "Content-Type", *FORWARDED_REQUEST_HEADERS)
        )
    return response


@proxy.get("/metadata")
def metadata() -> Response:
    """Relay the server's CapabilityStatement, advertising the SMART endpoints (no token)."""
    upstream = _upstream()
    answer = upstream.send("GET", "metadata", "", None)
    body = _json_answer(answer)
    if answer.status_code == 200 and body.get("resourceType") == "CapabilityStatement":
        _advertise_smart(body, current_auth().config)
    upstream.rewrite(body)
    return _relay(answer, body, upstream)


@proxy.route("", methods=["GET", "POST"])
def system() -> Response:
    """Relay a batch or transaction, checking every entry before and after."""
    token = _token()
    if request.method == "GET":
        raise ProxyError(400, "not-supported", "Searching the whole system is not supported.")
    upstream = _upstream()
    bundle = _json_body()
    operations = bundle_operations(bundle)
    for operation in operations:
        _check_before_call(token, operation, upstream)
    answer = upstream.send("POST", "", _query(), orjson.dumps(bundle))
    body = _json_answer(answer)
    entries = body.get("entry", []) if body.get("resourceType") == "Bundle" else []
    for operation, entry in zip(operations, entries, strict=False):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            check_after(token, operation, entry["resource"])
    upstream.rewrite(body)
    return _relay(answer, body, upstream)


@proxy.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def resource(rest: str) -> Response:
    """Relay one interaction on a type or a resource, checked before and after."""
    token = _token()
    upstream = _upstream()
    segments = rest.split("/")
    params = tuple(request.args.items(multi=True))
    search_post = request.method == "POST" and segments[1:] == ["_search"]
    if search_post:
        params += tuple(request.form.items(multi=True))
    body = _json_body() if request.method in ("POST", "PUT") and not search_post else None
    operation = parse_operation(request.method, segments, params, body)
    _check_before_call(token, operation, upstream)
    if search_post:
        # Forwarded as a GET: the form parameters travel in the query, checked above.
        answer = upstream.send("GET", operation.path, urlencode(params), None)
    else:
        payload = orjson.dumps(body) if body is not None else None
        answer = upstream.send(
            request.method, _upstream_path(segments, operation), _query(), payload
        )
    content = _json_answer(answer) if answer.content else None
    if content is not None and answer.status_code < 300:
        check_after(token, operation, content)
    if content is not None:
        upstream.rewrite(content)
    return _relay(answer, content, upstream)


@proxy.errorhandler(ProxyError)
def proxy_error(error: ProxyError) -> Response:
    """Answer a request the proxy refuses itself."""
    return error.response()


@proxy.errorhandler(AccessDenied)
def access_denied(error: AccessDenied) -> Response:
    """Answer 403 when the token's scopes do not allow the request."""
    log.info("FHIR request refused by scope", extra={"event": "proxy_forbidden", "status": 403})
    return outcome_response(403, "forbidden", str(error))


@proxy.errorhandler(BadFhirRequest)
def bad_request(error: BadFhirRequest) -> Response:
    """Answer 400 for a request the proxy does not understand."""
    return outcome_response(400, "invalid", str(error))


@proxy.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    """Answer Flask's own refusals (e.g. a body over the limit) as OperationOutcomes."""
    code = "too-costly" if error.code == 413 else "processing"
    return outcome_response(error.code or 400, code, error.description or error.name)


def _upstream() -> Upstream:
    state = current_sandbox()
    return Upstream(state.settings, state.session)


def _token() -> TokenInfo:
    """Return what the request's bearer token grants, or raise 401 (RFC 6750 §3)."""
    realm = 'Bearer realm="sandbox FHIR"'
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ProxyError(401, "login", "An access token is required.", {"WWW-Authenticate": realm})
    info = introspect(value.strip())
    if info is None:
        raise ProxyError(
            401,
            "login",
            "The access token is unknown, expired or revoked.",
            {"WWW-Authenticate": f'{realm}, error="invalid_token"'},
        )
    return info


def _check_before_call(token: TokenInfo, operation: Operation, upstream: Upstream) -> None:
    """Check the operation, reading what an update or delete would change first."""
    check_before(token, operation)
    if operation.interaction not in ("u", "d"):
        return
    client = upstream.client()
    try:
        if operation.conditional:
            criteria: dict[str, list[str]] = {}
            for name, value in operation.params:
                criteria.setdefault(name, []).append(value)
            existing = client.search(operation.resource_type, criteria)
        else:
            assert operation.resource_id is not None  # not conditional: it has an id
            existing = [client.read(operation.resource_type, operation.resource_id)]
    except FhirNotFound:
        existing = []
    except FhirError:
        raise ProxyError(
            503, "transient", "The FHIR server could not be asked what the change would touch."
        ) from None
    check_existing(token, operation, existing)


def _json_body() -> dict[str, Any]:
    if request.mimetype not in (FHIR_JSON, "application/json"):
        raise ProxyError(415, "not-supported", "Send the body as application/fhir+json.")
    try:
        body = orjson.loads(request.get_data())
    except orjson.JSONDecodeError:
        raise ProxyError(400, "structure", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProxyError(400, "structure", "The body must be a FHIR resource (a JSON object).")
    return body


def _json_answer(answer: requests.Response) -> dict[str, Any]:
    """Parse the server's answer; an answer that is not FHIR JSON cannot be checked: 502."""
    try:
        body = orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or "resourceType" not in body:
        raise ProxyError(502, "exception", "The FHIR server's answer was not FHIR JSON.")
    return body


def _relay(answer: requests.Response, body: dict[str, Any] | None, upstream: Upstream) -> Response:
    headers = {}
    for name in RETURNED_HEADERS:
        if name in answer.headers:
            value = answer.headers[name]
            headers[name] = upstream.public_url(value) if name in _URL_HEADERS else value
    content = orjson.dumps(body) if body is not None else b""
    return Response(content, answer.status_code, headers=headers, content_type=FHIR_JSON)


def _query() -> str:
    """Return the request's query string as sent, refusing formats other than JSON."""
    try:
        query = request.query_string.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyError(400, "invalid", "The query string must be percent-encoded.") from None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "_format" and "json" not in value:
            raise ProxyError(406, "not-supported", "This proxy serves FHIR JSON only.")
    return query


def _upstream_path(segments: Sequence[str], operation: Operation) -> str:
    """Rebuild the path from checked parts (a vread keeps its checked version id)."""
    if operation.history and len(segments) == 4:
        return f"{operation.path}/{segments[3]}"
    return operation.path


def _advertise_smart(statement: dict[str, Any], auth: AuthConfig) -> None:
    """Add the SMART security service and OAuth endpoints to ``rest[0].security``."""
    rest = statement.get("rest")
    if not isinstance(rest, list) or not rest or not isinstance(rest[0], dict):
        return
    security = rest[0].setdefault("security", {})
    security["service"] = [SMART_SECURITY_SERVICE]
    security["extension"] = [
        {
            "url": OAUTH_URIS,
            "extension": [
                {"url": "authorize", "valueUri": auth.endpoint("authorize")},
                {"url": "token", "valueUri": auth.endpoint("token")},
            ],
        }
    ]
