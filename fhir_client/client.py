"""The one FHIR R4 REST client: read, search (following ``next``), create, transaction, delete."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests

from fhir_client.errors import (
    FhirError,
    FhirPagingRefused,
    FhirUnavailable,
    error_for_status,
)

FHIR_JSON = "application/fhir+json"
RETRYABLE_STATUSES = frozenset({429, 503})
# FHIR R4 id and resource type syntax (http://hl7.org/fhir/R4/datatypes.html#id): anything else
# would let a caller's value escape the intended path.
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_DEFAULT_PORTS = {"http": 80, "https": 443}

Json = dict[str, Any]
SearchParams = Mapping[str, str | Sequence[str]]


class FhirClient:
    """Talk to one FHIR server: JSON in and out, bearer token, timeouts, safe retries."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        max_pages: int = 50,
        max_retry_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("FHIR base URL must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_pages = max_pages
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep

    def __repr__(self) -> str:
        # The token stays out of reprs, which end up in logs and tracebacks.
        return f"FhirClient({self.base_url!r})"

    def read(self, resource_type: str, resource_id: str) -> Json:
        """Read one resource by type and id."""
        url = f"{self._type_url(resource_type)}/{_checked_id(resource_id)}"
        return self._json(self._send("GET", url, what=f"read {resource_type}"))

    def search_bundle(self, resource_type: str, params: SearchParams | None = None) -> Json:
        """Run a search and return its first Bundle page as sent."""
        response = self._send(
            "GET", self._type_url(resource_type), what=f"search {resource_type}", params=params
        )
        return self._bundle(response, f"search {resource_type}")

    def search(self, resource_type: str, params: SearchParams | None = None) -> list[Json]:
        """Run a search and return every entry's resource (matches and includes), all pages."""
        what = f"search {resource_type}"
        bundle = self.search_bundle(resource_type, params)
        resources = _entry_resources(bundle)
        for _page in range(1, self._max_pages):
            next_url = _next_link(bundle)
            if next_url is None:
                return resources
            bundle = self._bundle(
                self._send("GET", self._same_server(next_url, what), what=what), what
            )
            resources.extend(_entry_resources(bundle))
        if _next_link(bundle) is not None:
            raise FhirPagingRefused(
                None, None, f"{what}: more than {self._max_pages} pages; not read to the end"
            )
        return resources

    def create(self, resource: Json, *, if_none_exist: str | None = None) -> Json:
        """Create a resource; with ``if_none_exist`` (a search query), only if none matches."""
        resource_type = str(resource.get("resourceType", ""))
        headers = {"Prefer": "return=representation"}
        if if_none_exist is not None:
            headers["If-None-Exist"] = if_none_exist
        response = self._send(
            "POST",
            self._type_url(resource_type),
            what=f"create {resource_type}",
            body=resource,
            headers=headers,
        )
        if response.content:
            return self._json(response)
        # A server may answer with no body: the Location header still names what was created.
        return _from_location(resource_type, response.headers.get("Location", ""))

    def transaction(self, bundle: Json) -> Json:
        """Post a transaction Bundle: every entry succeeds or none does."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("a transaction needs a Bundle of type 'transaction'")
        response = self._send(
            "POST",
            self.base_url,
            what="transaction",
            body=bundle,
            headers={"Prefer": "return=representation"},
        )
        return self._bundle(response, "transaction")

    def delete(self, resource_type: str, resource_id: str) -> None:
        """Delete one resource by type and id."""
        url = f"{self._type_url(resource_type)}/{_checked_id(resource_id)}"
        self._send("DELETE", url, what=f"delete {resource_type}")

    def capabilities(self) -> Json:
        """Return the server's CapabilityStatement."""
        return self._json(self._send("GET", f"{self.base_url}/metadata", what="capabilities"))

    # -- HTTP -----------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: SearchParams | None = None,
        body: Json | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        request_headers = {"Accept": FHIR_JSON, **(headers or {})}
        if body is not None:
            request_headers["Content-Type"] = FHIR_JSON
        if self._token:
            request_headers["Authorization"] = f"Bearer {self._token}"
        data = orjson.dumps(body) if body is not None else None
        # Only GET is safe to repeat: a retried POST could create twice.
        attempts = 1 + (self._max_retries if method == "GET" else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=request_headers,
                    timeout=self._timeout,
                    # A redirect could carry the token to another host.
                    allow_redirects=False,
                )
            except requests.Timeout as exc:
                # A slow server is not retried: callers such as the CDS service have a deadline.
                raise FhirUnavailable(None, None, f"{what}: no answer in time") from exc
            except requests.ConnectionError as exc:
                if last:
                    raise FhirUnavailable(None, None, f"{what}: server unreachable") from exc
                self._sleep(self._backoff(attempt))
                continue
            if response.status_code in RETRYABLE_STATUSES and not last:
                self._sleep(self._retry_delay(response, attempt))
                continue
            if response.status_code >= 300:
                raise _error(response, what)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        return float(min(0.5 * 2**attempt, self._max_retry_wait))

    def _retry_delay(self, response: requests.Response, attempt: int) -> float:
        seconds = retry_after_seconds(response.headers.get("Retry-After"), now=time.time())
        if seconds is None:
            return self._backoff(attempt)
        return min(seconds, self._max_retry_wait)

    def _type_url(self, resource_type: str) -> str:
        if not _TYPE.fullmatch(resource_type):
            raise ValueError(f"not a FHIR resource type: {resource_type!r}")
        return f"{self.base_url}/{resource_type}"

    def _same_server(self, link: str, what: str) -> str:
        """Resolve a paging link and refuse it unless it stays under this base URL (SSRF)."""
        absolute = urljoin(self.base_url + "/", link)
        base_path = urlsplit(self.base_url).path.rstrip("/") + "/"
        link_path = urlsplit(absolute).path.rstrip("/") + "/"
        if _origin(absolute) != _origin(self.base_url) or not link_path.startswith(base_path):
            raise FhirPagingRefused(None, None, f"{what}: next link leaves the FHIR server")
        return absolute

    def _json(self, response: requests.Response) -> Json:
        try:
            value = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise FhirError(response.status_code, None, "answer is not FHIR JSON") from exc
        if not isinstance(value, dict) or "resourceType" not in value:
            raise FhirError(response.status_code, None, "answer is not a FHIR resource")
        return value

    def _bundle(self, response: requests.Response, what: str) -> Json:
        value = self._json(response)
        if value["resourceType"] != "Bundle":
            raise FhirError(response.status_code, None, f"{what}: answer is not a Bundle")
        return value


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Return the wait a ``Retry-After`` header asks for (delay-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _error(response: requests.Response, what: str) -> FhirError:
    outcome = _operation_outcome(response.content)
    issue = ""
    if outcome and outcome.get("issue"):
        first = outcome["issue"][0]
        issue = f" ({first.get('severity', '?')}: {first.get('code', '?')})"
    return error_for_status(
        response.status_code, outcome, f"{what}: HTTP {response.status_code}{issue}"
    )


def _operation_outcome(content: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
        return value
    return None


def _entry_resources(bundle: Json) -> list[Json]:
    return [entry["resource"] for entry in bundle.get("entry", []) if "resource" in entry]


def _next_link(bundle: Json) -> str | None:
    for link in bundle.get("link", []):
        if link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _checked_id(resource_id: str) -> str:
    if not _ID.fullmatch(resource_id):
        raise ValueError("not a FHIR resource id")
    return resource_id


def _from_location(resource_type: str, location: str) -> Json:
    # Location: [base]/[type]/[id]/_history/[vid]
    parts = location.rstrip("/").split("/")
    if "_history" in parts and parts.index("_history") >= 2:
        at = parts.index("_history")
        return {
            "resourceType": parts[at - 2],
            "id": parts[at - 1],
            "meta": {"versionId": parts[-1]},
        }
    if len(parts) >= 2 and parts[-2] == resource_type:
        return {"resourceType": resource_type, "id": parts[-1]}
    raise FhirError(None, None, f"create {resource_type}: answer names no created resource")
