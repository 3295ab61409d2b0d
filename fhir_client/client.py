"""The one FHIR R4 REST client: read, search (following ``next``), create, transaction, delete.

Every answer is checked before a caller sees it: strict JSON, the resource
type that was asked for, and for searches a well-formed searchset read to its end
(``fhir_profiles.searchset``). Anything else raises a ``FhirError``, never an empty result. An
optional ``deadline`` (a ``time.monotonic()`` value) bounds everything one client does: requests,
retry waits and the reading of answers.

Latency is round trips: a search asks for large pages (``_count``, ``page_size``; the server may
give fewer and page with ``next``, which is followed as given), and independent interactions run
at once with :meth:`FhirClient.concurrently`, a few at a time, each on its own connections.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar, cast
from urllib.parse import urljoin, urlsplit

import orjson
import requests

from fhir_client import strict_json
from fhir_client.errors import (
    FhirError,
    FhirMalformedAnswer,
    FhirPagingRefused,
    FhirUnavailable,
    error_for_status,
)
from fhir_profiles.searchset import (
    MalformedSearchset,
    check_all_read,
    include_targets,
    read_searchset_page,
)
from fhir_profiles.syntax import is_fhir_id, is_resource_type

FHIR_JSON = "application/fhir+json"
RETRYABLE_STATUSES = frozenset({429, 503})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024
_CODE = re.compile(r"[a-z][a-z\-]{0,39}")
# Entries a search asks for per page: one page holds most patients' records of one type, so a
# long chart costs few sequential round trips (servers cap ``_count`` at their own maximum).
PAGE_SIZE = 1000
# Interactions one client runs at once: every query of a CDS hook or of the app's review,
# without letting one page open an unbounded number of connections to the FHIR server.
MAX_CONCURRENT = 6

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

Json = dict[str, Any]
SearchParams = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True, slots=True)
class _Answer:
    """An HTTP answer read in full (within the size limit and the deadline)."""

    status: int
    headers: Mapping[str, str]
    content: bytes


class FhirClient:
    """Talk to one FHIR server: JSON in and out, bearer token, timeouts, safe retries.

    A ``session`` given is this server's: the environment's proxy and TLS settings are read
    from it once here, and it stops reading them per request (``_take_environment``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        max_pages: int = 50,
        page_size: int = PAGE_SIZE,
        max_retry_wait: float = 10.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("FHIR base URL must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._environment = _take_environment(self.base_url, self._session)
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_pages = max_pages
        self._page_size = page_size
        self._max_retry_wait = max_retry_wait
        self._max_body_bytes = max_body_bytes
        self._deadline = deadline
        self._sleep = sleep

    def __repr__(self) -> str:
        # The token stays out of reprs, which end up in logs and tracebacks.
        return f"FhirClient({self.base_url!r})"

    def read(self, resource_type: str, resource_id: str) -> Json:
        """Read one resource by type and id; anything but that resource is an error."""
        what = f"read {resource_type}"
        url = f"{self._type_url(resource_type)}/{_checked_id(resource_id)}"
        value = self._json(self._send("GET", url, what=what), what)
        if value["resourceType"] != resource_type or value.get("id") != resource_id:
            raise FhirMalformedAnswer(200, None, f"{what}: the answer is another resource")
        return value

    def search(self, resource_type: str, params: SearchParams | None = None) -> list[Json]:
        """Run a search and return every entry's resource (matches and includes), all pages.

        Pages of ``page_size`` entries are asked for unless ``params`` names a ``_count``.
        Raises FhirMalformedAnswer unless every page is a well-formed searchset of
        ``resource_type`` (or of a type ``_include`` asked for) and ``total`` was read in full.
        """
        what = f"search {resource_type}"
        included = include_targets(_values(params, "_include"))
        url = self._type_url(resource_type)
        query: SearchParams | None = {"_count": str(self._page_size), **(params or {})}
        resources: list[Json] = []
        matches, total = 0, None
        seen: set[str] = set()
        for page_number in range(self._max_pages):
            answer = self._send("GET", url, what=what, params=query)
            try:
                page = read_searchset_page(
                    self._json(answer, what), resource_type, included=included
                )
                total = page.total if page_number == 0 else total
                matches += page.matches
                resources.extend(cast(Sequence[Json], page.resources))
                if page.next_url is None:
                    check_all_read(total, matches)
                    return resources
            except MalformedSearchset as exc:
                raise FhirMalformedAnswer(answer.status, None, f"{what}: {exc}") from exc
            url, query = self._same_server(page.next_url, what), None
            if url in seen:
                raise FhirPagingRefused(None, None, f"{what}: the next link loops back")
            seen.add(url)
        raise FhirPagingRefused(
            None, None, f"{what}: more than {self._max_pages} pages; not read to the end"
        )

    def concurrently(
        self, calls: Mapping[K, Callable[[FhirClient], T]], *, late: Callable[[K], T]
    ) -> dict[K, T]:
        """Run ``calls`` at once (at most ``MAX_CONCURRENT`` at a time); return each one's result.

        Each call gets a client like this one (server, token, limits, deadline) on an HTTP
        session of its own, closed when the call ends. With a deadline, a call unfinished at the
        deadline gives ``late(key)`` and is not waited for (its own deadline ends it). An
        exception a call raises is raised here, the first in the order of ``calls``.
        """
        if not calls:
            return {}
        executor = ThreadPoolExecutor(
            max_workers=min(len(calls), MAX_CONCURRENT), thread_name_prefix="fhir"
        )
        futures = {key: executor.submit(self._on_own_session, call) for key, call in calls.items()}
        try:
            timeout = None if self._deadline is None else max(0.0, self._remaining())
            done, _late = wait(futures.values(), timeout=timeout)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        return {
            key: future.result() if future in done else late(key) for key, future in futures.items()
        }

    def _on_own_session(self, call: Callable[[FhirClient], T]) -> T:
        with requests.Session() as session:
            session.trust_env = False  # this client's ``_environment`` goes with every request
            client = copy.copy(self)
            client._session = session
            return call(client)

    def create(self, resource: Json, *, if_none_exist: str | None = None) -> Json:
        """Create a resource; with ``if_none_exist`` (a search query), only if none matches."""
        resource_type = str(resource.get("resourceType", ""))
        what = f"create {resource_type}"
        headers = {"Prefer": "return=representation"}
        if if_none_exist is not None:
            headers["If-None-Exist"] = if_none_exist
        answer = self._send(
            "POST", self._type_url(resource_type), what=what, body=resource, headers=headers
        )
        if answer.content:
            return self._json(answer, what)
        # A server may answer with no body: the Location header still names what was created.
        return _from_location(resource_type, answer.headers.get("Location", ""))

    def transaction(self, bundle: Json) -> Json:
        """Post a transaction Bundle: every entry succeeds or none does."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("a transaction needs a Bundle of type 'transaction'")
        answer = self._send(
            "POST",
            self.base_url,
            what="transaction",
            body=bundle,
            headers={"Prefer": "return=representation"},
        )
        value = self._json(answer, "transaction")
        if value["resourceType"] != "Bundle" or value.get("type") != "transaction-response":
            raise FhirMalformedAnswer(
                answer.status, None, "transaction: the answer is not a transaction-response"
            )
        return value

    def delete(self, resource_type: str, resource_id: str) -> None:
        """Delete one resource by type and id."""
        url = f"{self._type_url(resource_type)}/{_checked_id(resource_id)}"
        self._send("DELETE", url, what=f"delete {resource_type}")

    def capabilities(self) -> Json:
        """Return the server's CapabilityStatement."""
        what = "capabilities"
        return self._json(self._send("GET", f"{self.base_url}/metadata", what=what), what)

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
    ) -> _Answer:
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
                    timeout=self._request_timeout(what),
                    # A redirect could carry the token to another host.
                    allow_redirects=False,
                    stream=True,
                    **self._environment,
                )
            except requests.Timeout as exc:
                # A slow server is not retried: callers such as the CDS service have a deadline.
                raise FhirUnavailable(None, None, f"{what}: no answer in time") from exc
            except requests.ConnectionError as exc:
                delay = self._backoff(attempt)
                if last or delay >= self._remaining():
                    raise FhirUnavailable(None, None, f"{what}: server unreachable") from exc
                self._sleep(delay)
                continue
            except requests.RequestException as exc:  # a cut-off or unreadable answer
                raise FhirUnavailable(None, None, f"{what}: answer cut off") from exc
            if response.status_code in RETRYABLE_STATUSES and not last:
                delay = self._retry_delay(response, attempt)
                if delay < self._remaining():
                    response.close()
                    self._sleep(delay)
                    continue
            answer = self._read(response, what)
            if answer.status >= 300:
                raise _error(answer, what)
            return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _read(self, response: requests.Response, what: str) -> _Answer:
        """Read the body within the size limit and the deadline; a cut-off body is no answer."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise FhirMalformedAnswer(
                        response.status_code,
                        None,
                        f"{what}: answer larger than {self._max_body_bytes} bytes",
                    )
                if self._remaining() <= 0:
                    raise FhirUnavailable(None, None, f"{what}: answer not read in time")
                chunks.append(chunk)
        except requests.Timeout as exc:
            raise FhirUnavailable(None, None, f"{what}: answer not read in time") from exc
        except requests.RequestException as exc:  # a connection reset or a cut-off body
            raise FhirUnavailable(None, None, f"{what}: answer cut off") from exc
        finally:
            response.close()
        return _Answer(response.status_code, response.headers, b"".join(chunks))

    def _remaining(self) -> float:
        if self._deadline is None:
            return float("inf")
        return self._deadline - time.monotonic()

    def _request_timeout(self, what: str) -> float:
        remaining = self._remaining()
        if remaining <= 0:
            raise FhirUnavailable(None, None, f"{what}: no time left to ask")
        return min(self._timeout, remaining)

    def _backoff(self, attempt: int) -> float:
        return float(min(0.5 * 2**attempt, self._max_retry_wait))

    def _retry_delay(self, response: requests.Response, attempt: int) -> float:
        seconds = retry_after_seconds(response.headers.get("Retry-After"), now=time.time())
        if seconds is None:
            return self._backoff(attempt)
        return min(seconds, self._max_retry_wait)

    def _type_url(self, resource_type: str) -> str:
        if not is_resource_type(resource_type):
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

    def _json(self, answer: _Answer, what: str) -> Json:
        try:
            value = strict_json.loads(answer.content)
        except strict_json.InvalidJson as exc:
            raise FhirMalformedAnswer(answer.status, None, f"{what}: {exc}") from exc
        if not isinstance(value, dict) or not is_resource_type(value.get("resourceType")):
            raise FhirMalformedAnswer(answer.status, None, f"{what}: answer is not a resource")
        return value


def _take_environment(base_url: str, session: requests.Session) -> dict[str, Any]:
    """Return the proxies and TLS settings the environment gives requests to ``base_url``
    (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...), read once, and stop
    ``session`` reading the environment itself.

    requests would walk the environment on every request (a fifth of a small search's time),
    and with a ``.netrc`` entry for the server's host it replaces the ``Authorization`` header,
    bearer token and all, with that entry's password. Every request goes to this one server
    (paging links that leave it are refused), so what the environment says for ``base_url``
    holds for all of them. A session that did not trust the environment (the sandbox's, on
    loopback) gets nothing from it.
    """
    if not session.trust_env:
        return {}
    found = session.merge_environment_settings(base_url, {}, None, None, None)
    session.trust_env = False
    return {name: found[name] for name in ("proxies", "verify", "cert")}


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


def _error(answer: _Answer, what: str) -> FhirError:
    outcome = _operation_outcome(answer.content)
    issue = ""
    issues = outcome.get("issue") if outcome else None
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        first = issues[0]
        issue = f" ({_word(first.get('severity'))}: {_word(first.get('code'))})"
    return error_for_status(answer.status, outcome, f"{what}: HTTP {answer.status}{issue}")


def _word(value: object) -> str:
    # Severity and code are FHIR codes; anything else is not echoed into a message.
    return value if isinstance(value, str) and _CODE.fullmatch(value) else "?"


def _operation_outcome(content: bytes) -> dict[str, Any] | None:
    try:
        value = strict_json.loads(content)
    except strict_json.InvalidJson:
        return None
    if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
        return value
    return None


def _values(params: SearchParams | None, name: str) -> tuple[str, ...]:
    value = (params or {}).get(name, ())
    return (value,) if isinstance(value, str) else tuple(value)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _checked_id(resource_id: str) -> str:
    if not is_fhir_id(resource_id):
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
