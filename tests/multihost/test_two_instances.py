"""Two instances, one state: what one host did, the other knows (README "Running on several
hosts"). Every call here crosses real HTTP to real gunicorn workers."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from joserfc import jwt

from tests.cds_hooks.support import SIGN, hook_body, oxycodone_prefetch
from tests.multihost.conftest import ADMIN_TOKEN, CDS_ISSUER, Instances

pytestmark = pytest.mark.integration

HOOK = f"/cds-services/{SIGN}"
FEEDBACK = f"{HOOK}/feedback"
COOKIE = "ldn_session"


def _client() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # loopback only
    return session


def _jwt(instances: Instances, path: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": CDS_ISSUER,
        "aud": instances.public + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": instances.cds_key.kid}
    token = jwt.encode(header, claims, instances.cds_key, algorithms=["ES384"])
    return {"Authorization": f"Bearer {token}"}


def _hook(base: str, headers: dict[str, str]) -> requests.Response:
    body = hook_body(prefetch=oxycodone_prefetch())
    return _client().post(base + HOOK, json=body, headers=headers, timeout=30)


def _export(base: str) -> list[dict[str, Any]]:
    response = _client().get(
        f"{base}/cds-services/admin/feedback",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()["feedback"]
    return rows


def test_a_client_jwt_used_at_a_is_refused_at_b(instances: Instances) -> None:
    headers = _jwt(instances, HOOK)
    first = _hook(instances.a, headers)
    assert first.status_code == 200
    assert [card["indicator"] for card in first.json()["cards"]] == ["critical"]
    # Replayed at the other host, then at each worker of both: refused every time.
    for base in (instances.b, instances.b, instances.a, instances.a):
        assert _hook(base, headers).status_code == 401


def test_feedback_on_a_card_from_a_is_accepted_at_b_and_exported_from_either(
    instances: Instances,
) -> None:
    card = _hook(instances.a, _jwt(instances, HOOK)).json()["cards"][0]
    suggestion = card["suggestions"][0]["uuid"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": suggestion}],
                "outcomeTimestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        ]
    }
    answer = _client().post(
        instances.b + FEEDBACK, json=feedback, headers=_jwt(instances, FEEDBACK), timeout=30
    )
    assert answer.status_code == 200
    assert answer.json() == {"received": 1}
    for base in (instances.a, instances.b):
        rows = [row for row in _export(base) if row["card_uuid"] == card["uuid"]]
        assert len(rows) == 1
        # Joined with the card A issued: B's database is A's.
        assert rows[0]["indicator"] == "critical"
        assert rows[0]["summary"] == card["summary"]
        assert rows[0]["accepted_suggestions"] == [suggestion]


def _session_cookie(response: requests.Response) -> str | None:
    for header in response.raw.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE:
            return rest.split(";", 1)[0]
    return None


def _get(url: str, cookie: str | None) -> requests.Response:
    # The session cookie is Secure: requests would not send it over plain http, a browser
    # behind the load balancer's TLS would. Send it by hand.
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    return _client().get(url, headers=headers, allow_redirects=False, timeout=30)


def _on(base: str, url: str) -> str:
    """Send ``url`` (an address on the public host) to the instance at ``base`` instead."""
    target = urlsplit(base)
    parts = urlsplit(url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


def _field(page: str, pattern: str) -> str:
    found = re.search(pattern, page)
    assert found is not None, pattern
    return found.group(1)


def test_a_smart_launch_crosses_hosts_and_a_save_through_b_is_seen_by_a(
    instances: Instances,
) -> None:
    patient = instances.patient_ids["fibromyalgia-no-opioids"]
    launch = _client().post(
        instances.fhir_base.replace("/fhir", "/auth/launch"), json={"patient": patient}, timeout=30
    )
    assert launch.status_code == 201
    # /launch served by A: the pending launch goes into the shared session store.
    started = _get(
        f"{instances.a}/launch?iss={instances.fhir_base}&launch={launch.json()['launch']}", None
    )
    assert started.status_code == 302
    cookie = _session_cookie(started)
    assert cookie
    # The EHR's authorization server approves and sends the browser back to the public address.
    authorized = _get(started.headers["Location"], None)
    assert authorized.status_code == 302
    assert authorized.headers["Location"].startswith(f"{instances.public}/callback?")
    # The load balancer hands the callback to B.
    completed = _get(_on(instances.b, authorized.headers["Location"]), cookie)
    assert completed.status_code == 302, completed.text
    cookie = _session_cookie(completed) or cookie
    review_path = completed.headers["Location"]
    launch_id = _field(review_path, r"launch_id=([^&]+)")
    review = _get(_on(instances.b, instances.public + review_path), cookie)
    assert review.status_code == 200
    assert 'data-status="safe-to-start"' in review.text
    # The plan form and the save, both through B.
    plan = _get(f"{instances.b}/plan?launch_id={launch_id}", cookie)
    assert plan.status_code == 200
    form = {
        "csrf_token": _field(plan.text, r'name="csrf_token" value="([^"]+)"'),
        "plan_id": _field(plan.text, r'name="plan_id" value="([^"]+)"'),
        # The plans in effect the page showed (other tests may have saved some for this
        # patient on the shared server): the save revises what the clinician saw.
        "revises": _field(plan.text, r'name="revises" value="([^"]*)"'),
        "start": _field(plan.text, r'name="start" value="([^"]+)"'),
        "interval": "14",
        "target": _field(plan.text, r'<option value="([^"]+)" selected>[^<]*mg'),
    }
    saved = _client().post(
        f"{instances.b}/plan/save?launch_id={launch_id}",
        data=form,
        headers={"Cookie": f"{COOKIE}={cookie}"},
        allow_redirects=False,
        timeout=60,
    )
    assert saved.status_code == 303, saved.text
    # A sees the launch B completed and the plan B saved.
    plans = _get(f"{instances.a}/plans?launch_id={launch_id}", cookie)
    assert plans.status_code == 200
    assert form["plan_id"] in plans.text
    shown = _get(
        f"{instances.a}/plan/saved?launch_id={launch_id}&plan_id={form['plan_id']}", cookie
    )
    assert shown.status_code == 200
