"""Feedback: checked, stored durably with the card it is about, and read back by an admin."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey

from cds_hooks.commands import feedback_group
from cds_hooks.errors import InvalidRequest
from cds_hooks.feedback import parse_feedback
from tests.cds_hooks.cds_schema import cards_problems
from tests.cds_hooks.support import (
    ADMIN_TOKEN,
    INLINE_ISSUER,
    PATIENT_ID,
    SELECT,
    SIGN,
    Signer,
    base_config,
    bearer,
    hook_body,
    make_app,
    oxycodone_prefetch,
)

HOOK_PATH = f"/cds-services/{SIGN}"
FEEDBACK_PATH = f"{HOOK_PATH}/feedback"


@pytest.fixture
def config(tmp_path: Path, inline_key: ECKey, database_url: str) -> dict[str, Any]:
    """The test app's configuration, its store on SQLite and on PostgreSQL in turn."""
    return {**base_config(tmp_path, inline_key), "DATABASE_URL": database_url}


def _now(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat(timespec="seconds").replace("+00:00", "Z")


def _issue_card(
    client: FlaskClient, sign: Signer, path: str = HOOK_PATH, **signing: Any
) -> dict[str, Any]:
    hook = "order-select" if path.endswith(SELECT) else "order-sign"
    response = client.post(
        path,
        json=hook_body(hook, prefetch=oxycodone_prefetch()),
        headers=bearer(sign(path, **signing)),
    )
    assert response.status_code == 200
    assert cards_problems(response.get_json()) == []
    card: dict[str, Any] = response.get_json()["cards"][0]
    return card


def _override(card: dict[str, Any]) -> dict[str, Any]:
    reason = card["overrideReasons"][1]
    return {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"system": reason["system"], "code": reason["code"]},
                    "userComment": "Stopped oxycodone three weeks ago; record out of date.",
                },
                "outcomeTimestamp": _now(),
            }
        ]
    }


def _admin_export(app: Flask) -> list[dict[str, Any]]:
    response = app.test_client().get(
        "/cds-services/admin/feedback", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.get_json()["feedback"]
    return rows


def test_feedback_survives_a_restart_joined_with_its_card(
    config: dict[str, Any], sign: Signer
) -> None:
    first = make_app(config)
    try:
        client = first.test_client()
        card = _issue_card(client, sign)
        response = client.post(
            FEEDBACK_PATH, json=_override(card), headers=bearer(sign(FEEDBACK_PATH))
        )
        assert response.status_code == 200
        assert response.get_json() == {"received": 1}
        accepted = {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                    "outcomeTimestamp": _now(timedelta(seconds=1)),
                }
            ]
        }
        response = client.post(FEEDBACK_PATH, json=accepted, headers=bearer(sign(FEEDBACK_PATH)))
        assert response.status_code == 200
    finally:
        first.extensions["cds_hooks"].store.close()

    second = make_app(config)  # a new process on the same database file
    try:
        rows = _admin_export(second)
    finally:
        second.extensions["cds_hooks"].store.close()
    assert [row["outcome"] for row in rows] == ["overridden", "accepted"]
    overridden, accepted_row = rows
    assert overridden["card_uuid"] == card["uuid"]
    assert overridden["override_code"] == "patient-not-taking"
    assert overridden["user_comment"].startswith("Stopped oxycodone")
    assert overridden["indicator"] == "critical"
    assert overridden["summary"] == card["summary"]
    sent = _override(card)["feedback"][0]["outcomeTimestamp"]
    assert overridden["outcome_timestamp"][:16] == sent[:16]
    assert overridden["client_issuer"] == "https://ehr.example.test"
    # The patient is stored only as a keyed pseudonym.
    assert PATIENT_ID not in json.dumps(rows)
    assert len(overridden["patient_pseudonym"]) == 64
    assert accepted_row["accepted_suggestions"] == [card["suggestions"][0]["uuid"]]


def test_feedback_needs_a_token_for_the_feedback_url(client: FlaskClient, sign: Signer) -> None:
    body = _override(_issue_card(client, sign))
    assert client.post(FEEDBACK_PATH, json=body).status_code == 401
    # A token minted for the service itself is not one for its feedback endpoint.
    response = client.post(FEEDBACK_PATH, json=body, headers=bearer(sign(HOOK_PATH)))
    assert response.status_code == 401
    assert (
        client.post(FEEDBACK_PATH, json=body, headers=bearer(sign(FEEDBACK_PATH))).status_code
        == 200
    )


def test_invalid_feedback_is_400_and_nothing_is_stored(
    client: FlaskClient, app: Flask, sign: Signer
) -> None:
    body = {
        "feedback": [
            {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": _now()},
            {"card": str(uuid.uuid4()), "outcome": "dismissed", "outcomeTimestamp": _now()},
        ]
    }
    response = client.post(FEEDBACK_PATH, json=body, headers=bearer(sign(FEEDBACK_PATH)))
    assert response.status_code == 400
    assert response.get_json()["path"] == "feedback[1].outcome"
    assert _admin_export(app) == []


OK_ITEM = {
    "card": "0b7a3c1e-5d4f-4a8b-9c2d-1e3f5a7b9c0d",
    "outcome": "overridden",
    "outcomeTimestamp": "2026-11-25T10:00:00Z",
}

BAD_FEEDBACK = [
    ("not an object", [], "(body)"),
    ("no feedback array", {}, "feedback"),
    ("empty feedback array", {"feedback": []}, "feedback"),
    ("item not an object", {"feedback": ["x"]}, "feedback[0]"),
    ("card missing", {"feedback": [{**OK_ITEM, "card": None}]}, "feedback[0].card"),
    ("outcome unknown", {"feedback": [{**OK_ITEM, "outcome": "ignored"}]}, "feedback[0].outcome"),
    (
        "accepted without suggestions",
        {"feedback": [{**OK_ITEM, "outcome": "accepted"}]},
        "feedback[0].acceptedSuggestions",
    ),
    (
        "accepted suggestion without id",
        {"feedback": [{**OK_ITEM, "outcome": "accepted", "acceptedSuggestions": [{}]}]},
        "feedback[0].acceptedSuggestions[0].id",
    ),
    ("card id not a UUID", {"feedback": [{**OK_ITEM, "card": "card-1"}]}, "feedback[0].card"),
    (
        "suggestion id not a UUID",
        {"feedback": [{**OK_ITEM, "outcome": "accepted", "acceptedSuggestions": [{"id": "s"}]}]},
        "feedback[0].acceptedSuggestions[0].id",
    ),
    (
        "comment of 2,001 characters",
        {"feedback": [{**OK_ITEM, "overrideReason": {"userComment": "x" * 2001}}]},
        "feedback[0].overrideReason.userComment",
    ),
    (
        "override code of 501 characters",
        {
            "feedback": [
                {**OK_ITEM, "overrideReason": {"reason": {"system": "s", "code": "c" * 501}}}
            ]
        },
        "feedback[0].overrideReason.reason.code",
    ),
    ("51 items", {"feedback": [OK_ITEM] * 51}, "feedback"),
    (
        "override reason without code",
        {"feedback": [{**OK_ITEM, "overrideReason": {"reason": {"system": "s"}}}]},
        "feedback[0].overrideReason.reason.code",
    ),
    (
        "timestamp not ISO",
        {"feedback": [{**OK_ITEM, "outcomeTimestamp": "yesterday"}]},
        "feedback[0].outcomeTimestamp",
    ),
    (
        "timestamp without zone",
        {"feedback": [{**OK_ITEM, "outcomeTimestamp": "2026-11-25T10:00:00"}]},
        "feedback[0].outcomeTimestamp",
    ),
]


@pytest.mark.parametrize(
    ("body", "path"), [c[1:] for c in BAD_FEEDBACK], ids=[c[0] for c in BAD_FEEDBACK]
)
def test_malformed_feedback_names_the_field(body: object, path: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_feedback(body)
    assert raised.value.path == path


def test_comment_alone_is_a_valid_override() -> None:
    (item,) = parse_feedback(
        {"feedback": [{**OK_ITEM, "overrideReason": {"userComment": "Discussed with patient."}}]}
    )
    assert item.override_reason is None
    assert item.user_comment == "Discussed with patient."


def test_admin_read_back_needs_the_admin_token(client: FlaskClient, sign: Signer) -> None:
    path = "/cds-services/admin/feedback"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    # A valid client JWT is not an admin token.
    assert client.get(path, headers=bearer(sign(path))).status_code == 401


def test_admin_read_back_is_off_without_a_token(tmp_path: Path, inline_key: ECKey) -> None:
    app = make_app(base_config(tmp_path, inline_key) | {"CDS_ADMIN_TOKEN": None})
    try:
        response = app.test_client().get(
            "/cds-services/admin/feedback", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 404
    finally:
        app.extensions["cds_hooks"].store.close()


def test_cli_exports_json_lines(config: dict[str, Any], sign: Signer) -> None:
    app = make_app(config)
    try:
        client = app.test_client()
        card = _issue_card(client, sign)
        client.post(FEEDBACK_PATH, json=_override(card), headers=bearer(sign(FEEDBACK_PATH)))
    finally:
        app.extensions["cds_hooks"].store.close()
    result = CliRunner().invoke(feedback_group(lambda: make_app(config)), ["export"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(line["card_uuid"], line["outcome"]) for line in lines] == [
        (card["uuid"], "overridden")
    ]


def _post_feedback(client: FlaskClient, sign: Signer, body: object, **signing: Any) -> Any:
    return client.post(FEEDBACK_PATH, json=body, headers=bearer(sign(FEEDBACK_PATH, **signing)))


def _item(card: dict[str, Any], **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {**_override(card)["feedback"][0], **changes}
    return item


def _refused_and_nothing_stored(
    client: FlaskClient, app: Flask, sign: Signer, body: object, path: str, **signing: Any
) -> None:
    response = _post_feedback(client, sign, body, **signing)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["path"] == path
    assert _admin_export(app) == []


def test_feedback_on_a_card_never_issued_is_refused(
    client: FlaskClient, app: Flask, sign: Signer
) -> None:
    card = _issue_card(client, sign)
    never = {**card, "uuid": str(uuid.uuid4())}
    body = {"feedback": [_item(card), _item(never)]}
    _refused_and_nothing_stored(client, app, sign, body, "feedback[1].card")


def test_feedback_on_the_other_services_card_is_refused(
    client: FlaskClient, app: Flask, sign: Signer
) -> None:
    card = _issue_card(client, sign, f"/cds-services/{SELECT}")
    _refused_and_nothing_stored(client, app, sign, {"feedback": [_item(card)]}, "feedback[0].card")


def test_feedback_on_another_clients_card_is_refused(
    client: FlaskClient, app: Flask, sign: Signer, inline_key: ECKey
) -> None:
    card = _issue_card(client, sign)  # issued to ISSUER
    body = {"feedback": [_item(card)]}
    # INLINE_ISSUER is a trusted client too, but the card was not issued to it.
    _refused_and_nothing_stored(
        client, app, sign, body, "feedback[0].card", key=inline_key, iss=INLINE_ISSUER
    )


def test_accepting_a_suggestion_not_on_the_card_is_refused(
    client: FlaskClient, app: Flask, sign: Signer
) -> None:
    card = _issue_card(client, sign)
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
        "outcomeTimestamp": _now(),
    }
    _refused_and_nothing_stored(
        client, app, sign, {"feedback": [item]}, "feedback[0].acceptedSuggestions[0].id"
    )


@pytest.mark.parametrize(
    "timestamp",
    ["9999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", _now(timedelta(hours=1))],
    ids=["year-9999", "before-the-card", "an-hour-ahead"],
)
def test_feedback_timed_outside_the_cards_life_is_refused(
    client: FlaskClient, app: Flask, sign: Signer, timestamp: str
) -> None:
    card = _issue_card(client, sign)
    body = {"feedback": [_item(card, outcomeTimestamp=timestamp)]}
    _refused_and_nothing_stored(client, app, sign, body, "feedback[0].outcomeTimestamp")


def test_a_huge_comment_or_item_list_is_refused(
    client: FlaskClient, app: Flask, sign: Signer
) -> None:
    card = _issue_card(client, sign)
    huge = _item(card, overrideReason={"userComment": "x" * 10_000_000})
    _refused_and_nothing_stored(
        client, app, sign, {"feedback": [huge]}, "feedback[0].overrideReason.userComment"
    )
    many = {"feedback": [_item(card)] * 100_000}
    _refused_and_nothing_stored(client, app, sign, many, "feedback")


def test_feedback_past_the_clients_rate_is_429_with_retry_after(
    tmp_path: Path, inline_key: ECKey, sign: Signer
) -> None:
    app = make_app(base_config(tmp_path, inline_key) | {"CDS_FEEDBACK_RATE_LIMIT": "3/minute"})
    try:
        client = app.test_client()
        card = _issue_card(client, sign)
        answers = [_post_feedback(client, sign, _override(card)).status_code for _ in range(3)]
        assert answers == [200, 200, 200]
        refused = _post_feedback(client, sign, _override(card))
        assert refused.status_code == 429
        assert refused.get_json()["error"] == "too-many-requests"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert len(_admin_export(app)) == 3
        # Another client has its own budget.
        other = _issue_card(client, sign, key=inline_key, iss=INLINE_ISSUER)
        answer = _post_feedback(client, sign, _override(other), key=inline_key, iss=INLINE_ISSUER)
        assert answer.status_code == 200
    finally:
        app.extensions["cds_hooks"].store.close()


def test_the_admin_read_back_pages(client: FlaskClient, app: Flask, sign: Signer) -> None:
    card = _issue_card(client, sign)
    for _ in range(5):
        assert _post_feedback(client, sign, _override(card)).status_code == 200
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url: str | None = "/cds-services/admin/feedback?limit=2"
    pages = []
    while url is not None:
        response = client.get(url.removeprefix("https://cds.example.test"), headers=admin)
        assert response.status_code == 200
        page = response.get_json()
        pages.append([row["id"] for row in page["feedback"]])
        url = page.get("next")
    assert [len(p) for p in pages] == [2, 2, 1]
    ids = [i for p in pages for i in p]
    assert ids == sorted(set(ids))
    # Without a limit, one page of at most 100.
    assert len(_admin_export(app)) == 5


@pytest.mark.parametrize("query", ["limit=1001", "limit=-1", "after=x", "limit=\u0661"])
def test_a_bad_page_parameter_is_400(client: FlaskClient, query: str) -> None:
    response = client.get(
        f"/cds-services/admin/feedback?{query}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid-request"
