"""Reading the request body: strict JSON, duplicate keys refused, the size limit on every body."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient
from joserfc.jwk import ECKey

from cds_hooks.errors import InvalidRequest
from cds_hooks.request import decode_body, parse_json_body
from tests.cds_hooks.support import (
    PATIENT_ID,
    SIGN,
    Signer,
    base_config,
    bearer,
    hook_body,
    make_app,
    searchset,
)

HOOK_PATH = f"/cds-services/{SIGN}"
OXYCODONE = {
    "resourceType": "MedicationStatement",
    "id": "ms-oxy",
    "status": "active",
    "medicationCodeableConcept": {"text": "oxycodone 5 mg tablet"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}


def _post_raw(client: FlaskClient, sign: Signer, raw: bytes) -> Any:
    headers = {**bearer(sign(HOOK_PATH)), "Content-Type": "application/json"}
    return client.post(HOOK_PATH, data=raw, headers=headers)


def _post_chunked(client: FlaskClient, sign: Signer, raw: bytes) -> Any:
    """Post ``raw`` as a stream of unknown length, the way a WSGI server passes a chunked upload
    on (``wsgi.input_terminated``: gunicorn sets it; the server ends the stream)."""
    headers = {
        **bearer(sign(HOOK_PATH)),
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    return client.post(
        HOOK_PATH,
        input_stream=io.BytesIO(raw),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_prefetch_key_sent_twice_is_refused_not_taken_last_wins(
    client: FlaskClient, sign: Signer
) -> None:
    body = hook_body(prefetch={"medicationStatements": searchset(OXYCODONE)})
    with_opioid = orjson.dumps(body).decode()
    # The same key again, now empty: last-wins would read "no opioid" and answer an info card.
    empty = orjson.dumps(searchset()).decode()
    key = '"medicationStatements":'
    raw = with_opioid.replace(key, f"{key}{empty},{key}", 1).encode()
    assert raw.count(key.encode()) == 2
    response = _post_raw(client, sign, raw)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid-request"
    assert "medicationStatements" in response.get_json()["message"]
    # The same call without the duplicate answers the critical card.
    good = _post_raw(client, sign, with_opioid.encode())
    assert good.status_code == 200
    assert [c["indicator"] for c in good.get_json()["cards"]] == ["critical"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "b": {"c": 2, "c": 3}}',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b'{"a": "\xff"}',
        b'{"a": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b"",
    ],
    ids=[
        "duplicate",
        "nan",
        "infinity",
        "overflow",
        "lone-surrogate",
        "bad-utf8",
        "huge-int",
        "deep",
        "empty",
    ],
)
def test_what_is_not_strict_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_body(decode_body(raw))
    assert caught.value.path == "(body)"


def test_strict_json_is_read_as_sent() -> None:
    raw = '{"a": [1, 2.5, "😀", "\\ud83d\\ude00", null, true], "b": {"a": 1}}'.encode()
    assert parse_json_body(decode_body(raw)) == {
        "a": [1, 2.5, "😀", "😀", None, True],
        "b": {"a": 1},
    }


def test_a_short_value_repeated_in_a_body_is_one_object_and_reads_the_same() -> None:
    # A long chart repeats its code systems and statuses thousands of times: held once each.
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    coding = {"system": rxnorm, "code": "1049621"}
    raw = orjson.dumps({"entry": [{"coding": [coding]}, {"coding": [coding]}], "long": "x" * 64})
    parsed = parse_json_body(decode_body(raw))
    first, second = (entry["coding"][0] for entry in parsed["entry"])
    assert first == second == coding
    assert first["system"] is second["system"]
    assert first["code"] is second["code"]
    assert parsed["long"] == "x" * 64


def test_duplicate_keys_in_feedback_are_refused(client: FlaskClient, sign: Signer) -> None:
    path = f"{HOOK_PATH}/feedback"
    raw = b'{"feedback": [], "feedback": [{"card": "x"}]}'
    response = client.post(
        path, data=raw, headers={**bearer(sign(path)), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "feedback" in response.get_json()["message"]


def test_a_chunked_body_over_the_limit_is_413(
    tmp_path: Path, inline_key: ECKey, sign: Signer
) -> None:
    app = make_app(base_config(tmp_path, inline_key) | {"CDS_MAX_BODY_BYTES": 1000})
    try:
        client = app.test_client()
        over = orjson.dumps(hook_body(padding="x" * 2000))
        response = _post_chunked(client, sign, over)
        assert response.status_code == 413
        assert response.get_json()["error"] == "payload-too-large"
        # A streamed body under the limit is read in full.
        under = orjson.dumps(hook_body(drafts=[]))
        assert len(under) < 1000
        ok = _post_chunked(client, sign, under)
        assert ok.status_code == 200
        assert ok.get_json() == {"cards": []}
    finally:
        app.extensions["cds_hooks"].store.close()
