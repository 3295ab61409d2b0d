"""Feedback: checked, stored durably with the card it is about, and read back by an admin."""

from __future__ import annotations

import json
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
    PATIENT_ID,
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


def _issue_card(client: FlaskClient, sign: Signer) -> dict[str, Any]:
    response = client.post(
        HOOK_PATH, json=hook_body(prefetch=oxycodone_prefetch()), headers=bearer(sign(HOOK_PATH))
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
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
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
                    "outcomeTimestamp": "2026-11-25T10:05:00+00:00",
                }
            ]
        }
        client.post(FEEDBACK_PATH, json=accepted, headers=bearer(sign(FEEDBACK_PATH)))
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
    assert overridden["outcome_timestamp"] == "2026-11-25T10:00:00.000Z"
    assert overridden["client_issuer"] == "https://ehr.example.test"
    # The patient is stored only as a keyed pseudonym.
    assert PATIENT_ID not in json.dumps(rows)
    assert len(overridden["patient_pseudonym"]) == 64
    assert accepted_row["accepted_suggestions"] == [card["suggestions"][0]["uuid"]]


def test_feedback_needs_a_token_for_the_feedback_url(client: FlaskClient, sign: Signer) -> None:
    body = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z"}
        ]
    }
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
            {"card": "a", "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z"},
            {"card": "b", "outcome": "dismissed", "outcomeTimestamp": "2026-11-25T10:00:00Z"},
        ]
    }
    response = client.post(FEEDBACK_PATH, json=body, headers=bearer(sign(FEEDBACK_PATH)))
    assert response.status_code == 400
    assert response.get_json()["path"] == "feedback[1].outcome"
    assert _admin_export(app) == []


OK_ITEM = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z"}

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
