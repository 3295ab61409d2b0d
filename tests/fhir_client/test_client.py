"""FhirClient against a mocked transport: headers, queries, paging, errors, retries."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest
import requests
from responses import matchers

from fhir_client import (
    FhirClient,
    FhirError,
    FhirForbidden,
    FhirMalformedAnswer,
    FhirNotFound,
    FhirPagingRefused,
    FhirServerError,
    FhirUnauthorized,
    FhirUnavailable,
)
from fhir_client.client import PAGE_SIZE, retry_after_seconds

BASE = "https://fhir.example.test/r4"
TOKEN = "secret-access-token-xyz"
PATIENT = {"resourceType": "Patient", "id": "p1"}


@pytest.fixture
def client(sleeps: list[float]) -> FhirClient:
    return FhirClient(BASE, token=TOKEN, timeout=3.0, sleep=sleeps.append)


def outcome(code: str, diagnostics: str = "something about patient p1") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def page(ids: list[str], next_url: str | None = None) -> dict:
    bundle: dict = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "MedicationRequest", "id": i}} for i in ids],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def test_read_sends_fhir_json_and_bearer_headers(client, http) -> None:
    http.get(
        f"{BASE}/Patient/p1",
        json=PATIENT,
        match=[
            matchers.header_matcher(
                {"Accept": "application/fhir+json", "Authorization": f"Bearer {TOKEN}"}
            )
        ],
    )
    assert client.read("Patient", "p1") == PATIENT


def test_no_authorization_header_without_token(http) -> None:
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    FhirClient(BASE).capabilities()
    assert "Authorization" not in http.calls[0].request.headers


def test_search_passes_query_parameters_including_repeats_and_asks_for_large_pages(
    client, http
) -> None:
    http.get(
        f"{BASE}/MedicationRequest",
        json=page(["a"]),
        match=[
            matchers.query_param_matcher(
                {
                    "patient": "p1",
                    "status": ["active", "on-hold"],
                    "_include": "x",
                    "_count": str(PAGE_SIZE),
                }
            )
        ],
    )
    found = client.search(
        "MedicationRequest", {"patient": "p1", "status": ["active", "on-hold"], "_include": "x"}
    )
    assert [r["id"] for r in found] == ["a"]


def test_a_page_size_the_caller_names_is_the_one_asked_for(client, http) -> None:
    http.get(
        f"{BASE}/MedicationRequest",
        json=page(["a"]),
        match=[matchers.query_param_matcher({"patient": "p1", "_count": "5"})],
    )
    assert len(client.search("MedicationRequest", {"patient": "p1", "_count": "5"})) == 1


def test_concurrent_calls_run_at_once_each_on_its_own_session(client, http) -> None:
    http.get(f"{BASE}/Patient/p1", json=PATIENT)
    # Three calls that each wait for the other two: run one after another, none would finish.
    together = threading.Barrier(3, timeout=10)
    sessions: list[object] = []

    def call(other: FhirClient) -> str:
        together.wait()
        sessions.append(other._session)
        return str(other.read("Patient", "p1")["id"])

    found = client.concurrently({n: call for n in range(3)}, late=lambda _n: "late")
    assert found == {0: "p1", 1: "p1", 2: "p1"}
    assert len({id(s) for s in sessions}) == 3
    assert client._session not in sessions
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in http.calls)


def test_a_concurrent_call_unfinished_at_the_deadline_is_late_and_not_waited_for(http) -> None:
    client = FhirClient(BASE, deadline=time.monotonic() + 0.5)
    release = threading.Event()

    def stuck(_client: FhirClient) -> str:
        release.wait(30)
        return "answered"

    try:
        found = client.concurrently(
            {"quick": lambda _c: "answered", "stuck": stuck}, late=lambda key: f"{key} late"
        )
    finally:
        release.set()
    assert found == {"quick": "answered", "stuck": "stuck late"}


def test_an_error_in_a_concurrent_call_reaches_the_caller(client) -> None:
    def broken(_client: FhirClient) -> str:
        raise FhirUnauthorized(401, None, "read Patient: HTTP 401")

    with pytest.raises(FhirUnauthorized):
        client.concurrently({"a": lambda _c: "fine", "b": broken}, late=lambda _key: "late")


def test_search_follows_next_links_across_three_pages(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json=page(["a", "b"], f"{BASE}?_getpages=1&p=2"))
    http.get(f"{BASE}?_getpages=1&p=2", json=page(["c"], f"{BASE}?_getpages=1&p=3"))
    http.get(f"{BASE}?_getpages=1&p=3", json=page(["d"]))
    found = client.search("MedicationRequest", {"patient": "p1"})
    assert [r["id"] for r in found] == ["a", "b", "c", "d"]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in http.calls)


def test_search_refuses_a_next_link_to_another_host(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json=page(["a"], "https://evil.example.test/r4?p=2"))
    with pytest.raises(FhirPagingRefused):
        client.search("MedicationRequest")
    assert len(http.calls) == 1


@pytest.mark.parametrize(
    "link",
    [
        "http://fhir.example.test/r4?p=2",  # other scheme
        "https://fhir.example.test:8443/r4?p=2",  # other port
        "https://fhir.example.test/other?p=2",  # outside the base path
        "https://fhir.example.test/r4x?p=2",  # a sibling path sharing the prefix
    ],
)
def test_search_refuses_next_links_outside_the_base(client, http, link) -> None:
    http.get(f"{BASE}/MedicationRequest", json=page(["a"], link))
    with pytest.raises(FhirPagingRefused):
        client.search("MedicationRequest")


def test_search_refuses_to_return_a_partial_result_beyond_the_page_limit(http) -> None:
    client = FhirClient(BASE, max_pages=2)
    http.get(f"{BASE}/MedicationRequest", json=page(["a"], f"{BASE}?p=2"))
    http.get(f"{BASE}?p=2", json=page(["b"], f"{BASE}?p=3"))
    with pytest.raises(FhirPagingRefused, match="more than 2 pages"):
        client.search("MedicationRequest")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, FhirError),
        (401, FhirUnauthorized),
        (403, FhirForbidden),
        (404, FhirNotFound),
        (410, FhirNotFound),
        (500, FhirServerError),
    ],
)
def test_errors_are_typed_and_carry_the_operation_outcome(client, http, status, error) -> None:
    http.get(f"{BASE}/Patient/p1", json=outcome("processing"), status=status)
    with pytest.raises(error) as caught:
        client.read("Patient", "p1")
    assert caught.value.status == status
    assert caught.value.outcome == outcome("processing")
    assert f"HTTP {status}" in str(caught.value)


def test_error_messages_hold_no_token_query_id_or_diagnostics(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json=outcome("forbidden"), status=403)
    with pytest.raises(FhirForbidden) as caught:
        client.search("MedicationRequest", {"patient": "p1"})
    message = str(caught.value)
    assert TOKEN not in message
    assert "p1" not in message
    assert "forbidden" in message
    assert TOKEN not in repr(client)


def test_error_without_outcome_body(client, http) -> None:
    http.get(f"{BASE}/Patient/p1", body="<html>gateway</html>", status=502)
    with pytest.raises(FhirServerError) as caught:
        client.read("Patient", "p1")
    assert caught.value.outcome is None


def test_retry_after_in_seconds_is_honoured_then_succeeds(client, http, sleeps) -> None:
    http.get(f"{BASE}/Patient/p1", status=429, headers={"Retry-After": "3"})
    http.get(f"{BASE}/Patient/p1", json=PATIENT)
    assert client.read("Patient", "p1") == PATIENT
    assert sleeps == [3.0]


def test_retry_after_http_date_is_honoured_and_capped(client, http, sleeps) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    http.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": later})
    http.get(f"{BASE}/Patient/p1", json=PATIENT)
    client.read("Patient", "p1")
    assert sleeps == [10.0]


def test_retries_stop_after_max_retries(client, http, sleeps) -> None:
    for _ in range(3):
        http.get(f"{BASE}/Patient/p1", status=503, json=outcome("transient"))
    with pytest.raises(FhirServerError) as caught:
        client.read("Patient", "p1")
    assert caught.value.status == 503
    assert len(sleeps) == 2


def test_post_is_never_retried(client, http, sleeps) -> None:
    http.post(f"{BASE}/CarePlan", status=503, headers={"Retry-After": "1"})
    with pytest.raises(FhirServerError):
        client.create({"resourceType": "CarePlan"})
    assert len(http.calls) == 1
    assert sleeps == []


def test_timeout_is_unavailable_and_not_retried(client, http) -> None:
    http.get(f"{BASE}/Patient/p1", body=requests.ReadTimeout("slow"))
    with pytest.raises(FhirUnavailable) as caught:
        client.read("Patient", "p1")
    assert caught.value.status is None
    assert len(http.calls) == 1


def test_connection_errors_on_get_are_retried_then_unavailable(client, http, sleeps) -> None:
    for _ in range(3):
        http.get(f"{BASE}/Patient/p1", body=requests.ConnectionError("refused"))
    with pytest.raises(FhirUnavailable, match="unreachable"):
        client.read("Patient", "p1")
    assert len(sleeps) == 2


def test_the_configured_timeout_is_passed_to_the_transport(http) -> None:
    seen: list[object] = []

    class Recording(requests.Session):
        def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(kwargs["timeout"])
            return super().request(*args, **kwargs)

    http.get(f"{BASE}/Patient/p1", json=PATIENT)
    FhirClient(BASE, session=Recording(), timeout=2.5).read("Patient", "p1")
    assert seen == [2.5]


def test_redirects_are_not_followed(client, http) -> None:
    http.get(f"{BASE}/Patient/p1", status=302, headers={"Location": "https://evil.example.test/"})
    with pytest.raises(FhirError):
        client.read("Patient", "p1")
    assert len(http.calls) == 1


def test_create_sends_the_resource_and_if_none_exist(client, http) -> None:
    plan = {"resourceType": "CarePlan", "status": "active"}
    http.post(
        f"{BASE}/CarePlan",
        json={**plan, "id": "c1"},
        status=201,
        match=[
            matchers.header_matcher(
                {"Content-Type": "application/fhir+json", "If-None-Exist": "identifier=s|1"}
            ),
            matchers.body_matcher(orjson.dumps(plan).decode()),
        ],
    )
    assert client.create(plan, if_none_exist="identifier=s|1")["id"] == "c1"


def test_create_without_a_body_reads_the_location(client, http) -> None:
    http.post(
        f"{BASE}/CarePlan", status=201, headers={"Location": f"{BASE}/CarePlan/c9/_history/1"}
    )
    assert client.create({"resourceType": "CarePlan"}) == {
        "resourceType": "CarePlan",
        "id": "c9",
        "meta": {"versionId": "1"},
    }


def test_transaction_posts_to_the_base(client, http) -> None:
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
    http.post(BASE, json=answer)
    assert client.transaction({"resourceType": "Bundle", "type": "transaction"}) == answer


def test_transaction_rejects_a_bundle_of_another_type(client) -> None:
    with pytest.raises(ValueError, match="transaction"):
        client.transaction({"resourceType": "Bundle", "type": "batch"})


def test_delete_and_not_found(client, http) -> None:
    http.delete(f"{BASE}/CarePlan/c1", status=204)
    http.delete(f"{BASE}/CarePlan/c2", status=404, json=outcome("not-found"))
    client.delete("CarePlan", "c1")
    with pytest.raises(FhirNotFound):
        client.delete("CarePlan", "c2")


@pytest.mark.parametrize(
    ("resource_type", "resource_id"),
    [("Patient", "../metadata"), ("Patient", "a/b"), ("patient", "p1"), ("../x", "p1")],
)
def test_ids_and_types_that_would_escape_the_path_are_rejected(
    client, resource_type, resource_id
) -> None:
    with pytest.raises(ValueError, match="FHIR resource"):
        client.read(resource_type, resource_id)


def test_a_non_json_success_is_an_error(client, http) -> None:
    http.get(f"{BASE}/Patient/p1", body="not json")
    with pytest.raises(FhirMalformedAnswer, match="not JSON"):
        client.read("Patient", "p1")


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="absolute"):
        FhirClient("file:///etc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (None, None),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 100.0),
    ],
)
def test_retry_after_parsing(value, expected) -> None:
    assert retry_after_seconds(value, now=0.0) == expected


def test_a_malformed_searchset_is_an_error_never_an_empty_list(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json={**page([]), "entry": "abc"})
    with pytest.raises(FhirMalformedAnswer, match="entry is not an array"):
        client.search("MedicationRequest", {"patient": "p1"})


def test_a_total_above_what_the_pages_held_is_an_error(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json={**page(["a"], f"{BASE}?p=2"), "total": 3})
    http.get(f"{BASE}?p=2", json=page(["b"]))
    with pytest.raises(FhirMalformedAnswer, match="counted 3 matching records but sent 2"):
        client.search("MedicationRequest")


def test_a_total_across_pages_is_met(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json={**page(["a"], f"{BASE}?p=2"), "total": 2})
    http.get(f"{BASE}?p=2", json=page(["b"]))
    assert [r["id"] for r in client.search("MedicationRequest")] == ["a", "b"]


def test_included_medications_are_accepted_only_when_asked_for(client, http) -> None:
    bundle = page(["a"])
    bundle["entry"].append({"resource": {"resourceType": "Medication", "id": "m"}})
    http.get(f"{BASE}/MedicationRequest", json=bundle)
    http.get(f"{BASE}/MedicationRequest", json=bundle)
    found = client.search("MedicationRequest", {"_include": "MedicationRequest:medication"})
    assert [r["resourceType"] for r in found] == ["MedicationRequest", "Medication"]
    with pytest.raises(FhirMalformedAnswer, match="holds a Medication"):
        client.search("MedicationRequest")


def test_a_next_link_looping_back_is_refused_at_once(client, http) -> None:
    http.get(f"{BASE}/MedicationRequest", json=page(["a"], f"{BASE}?p=2"))
    http.get(f"{BASE}?p=2", json=page(["b"], f"{BASE}?p=2"))
    with pytest.raises(FhirPagingRefused, match="loops back"):
        client.search("MedicationRequest")
    assert len(http.calls) == 2


def test_duplicate_json_keys_are_refused(client, http) -> None:
    # An opioid first, then an empty list: last-wins parsing would read "no records".
    opioid = orjson.dumps(page(["oxy"])["entry"]).decode()
    body = f'{{"resourceType": "Bundle", "type": "searchset", "entry": {opioid}, "entry": []}}'
    http.get(f"{BASE}/MedicationRequest", body=body)
    with pytest.raises(FhirMalformedAnswer, match="repeats the key"):
        client.search("MedicationRequest")


@pytest.mark.parametrize(
    "body",
    ['{"resourceType": "Bundle", "type": "searchset", "entry": [', '{"total": NaN}', "\xff"],
)
def test_truncated_or_non_json_bodies_are_errors(client, http, body) -> None:
    http.get(f"{BASE}/MedicationRequest", body=body)
    with pytest.raises(FhirMalformedAnswer):
        client.search("MedicationRequest")


def test_a_read_answered_with_another_resource_is_an_error(client, http) -> None:
    http.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p2"})
    http.get(f"{BASE}/Patient/p1", json={"resourceType": "Bundle", "type": "searchset"})
    for _ in range(2):
        with pytest.raises(FhirMalformedAnswer, match="another resource"):
            client.read("Patient", "p1")


@pytest.mark.parametrize("issue", ["x", [1], {"severity": "error"}, None, [{"code": 7}]])
def test_an_error_outcome_of_any_shape_is_a_typed_error(client, http, issue) -> None:
    http.get(
        f"{BASE}/Patient/p1", status=400, json={"resourceType": "OperationOutcome", "issue": issue}
    )
    with pytest.raises(FhirError, match="HTTP 400"):
        client.read("Patient", "p1")


def test_a_retry_after_past_the_deadline_is_not_waited_for(http, sleeps) -> None:
    client = FhirClient(BASE, sleep=sleeps.append, deadline=time.monotonic() + 2)
    http.get(f"{BASE}/Patient/p1", status=503, headers={"Retry-After": "5"})
    with pytest.raises(FhirServerError):
        client.read("Patient", "p1")
    assert sleeps == []


def test_nothing_is_asked_after_the_deadline(http) -> None:
    client = FhirClient(BASE, deadline=time.monotonic() - 1)
    with pytest.raises(FhirUnavailable, match="no time left"):
        client.read("Patient", "p1")


def test_an_answer_above_the_size_limit_is_an_error(http) -> None:
    http.get(f"{BASE}/MedicationRequest", json=page(["a"] * 100))
    with pytest.raises(FhirMalformedAnswer, match="larger than 1000 bytes"):
        FhirClient(BASE, max_body_bytes=1000).search("MedicationRequest")
