"""Server-side sessions: where they are stored (files, a real Redis), the cookie's attributes,
pending launches, a launch moving between hosts, and the store's bounds."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session

from ldn_safety.app import create_app
from smart_app.launch import LaunchContext, PendingLaunch, SmartConfiguration
from smart_app.session import (
    MAX_PENDING,
    UNFINISHED_LIFETIME,
    PartitionedCacheLibSessions,
    load_launch,
    remember_pending,
    start_launch,
    take_pending,
)
from smart_app.session_redis import PartitionedRedisSessions

APP = "https://app.example.test"


def pending(state: str) -> PendingLaunch:
    config = SmartConfiguration(
        iss="https://ehr.example.test/fhir",
        authorization_endpoint="https://ehr.example.test/a",
        token_endpoint="https://ehr.example.test/t",
        capabilities=("permission-v2",),
    )
    return PendingLaunch(
        state=state,
        code_verifier="v" * 64,
        nonce="n",
        redirect_uri=f"{APP}/callback",
        requested_scopes=("launch", "openid"),
        config=config,
    )


def test_sessions_are_files_under_the_configured_directory(app: Flask, tmp_path) -> None:
    assert isinstance(app.session_interface, PartitionedCacheLibSessions)
    with app.test_request_context(f"{APP}/"):
        remember_pending(pending("s1"))
        response = app.make_response("ok")
        app.session_interface.save_session(app, session, response)  # type: ignore[arg-type]
    assert any((tmp_path / "sessions").iterdir())


def test_redis_is_used_when_configured(tmp_path) -> None:
    app = create_app({"SESSION_REDIS_URL": "redis://127.0.0.1:6399/3"})
    interface = app.session_interface
    assert isinstance(interface, PartitionedRedisSessions)
    kwargs = interface.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6399, 3)


def test_pending_launches_round_trip_once(app: Flask) -> None:
    with app.test_request_context(f"{APP}/"):
        remember_pending(pending("s1"))
        assert take_pending("s1") == pending("s1")
        assert take_pending("s1") is None
        assert take_pending(None) is None


def test_only_the_newest_pending_launches_are_kept(app: Flask) -> None:
    with app.test_request_context(f"{APP}/"):
        for n in range(MAX_PENDING + 2):
            remember_pending(pending(f"s{n}"))
        assert take_pending("s0") is None
        assert take_pending(f"s{MAX_PENDING + 1}") is not None
        assert len(session["smart_pending"]) == MAX_PENDING - 1


def test_a_cleared_session_is_deleted_with_a_partitioned_cookie(app: Flask) -> None:
    @app.get("/test-logout")
    def logout() -> str:
        session.clear()
        return "bye"

    browser = app.test_client()
    with browser.session_transaction() as data:
        data["x"] = 1
    response = browser.get(f"{APP}/test-logout")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("ldn_session="))
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert "max-age=0" in attributes
    assert {"secure", "partitioned"} <= attributes


def launched(patient: str = "p1") -> LaunchContext:
    return LaunchContext(
        iss="https://ehr.example.test/fhir",
        client_id="c",
        token_endpoint="https://ehr.example.test/t",
        access_token="a" * 20,
        refresh_token=None,
        expires_at=None,
        requested_scopes=("launch",),
        granted_scopes=("launch",),
        patient=patient,
        encounter=None,
        fhir_context=(),
        need_patient_banner=False,
        smart_style_url=None,
        fhir_user=None,
    )


@pytest.fixture(params=["files", "redis"])
def store_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Session settings for the file store, then for a real Redis server."""
    if request.param == "files":
        return {"SESSION_DIR": str(tmp_path / "shared-sessions")}
    return {"SESSION_REDIS_URL": request.getfixturevalue("redis_url")}


def _host(config: dict[str, Any]) -> Flask:
    return create_app({"TESTING": True, "SECRET_KEY": "s" * 32, **config})


def _save(app: Flask, cookie: str | None, change: Callable[[], Any]) -> tuple[str, Any]:
    """Run ``change`` in a request carrying ``cookie``; return the new cookie and its result."""
    headers = {"Cookie": f"ldn_session={cookie}"} if cookie else {}
    with app.test_request_context(f"{APP}/", headers=headers):
        app.preprocess_request()
        result = change()
        response = app.process_response(app.make_response("ok"))
    set_cookie = next(c for c in response.headers.getlist("Set-Cookie") if "ldn_session=" in c)
    return set_cookie.split(";")[0].split("=", 1)[1], result


def _seconds_to_live(app: Flask, cookie: str) -> float:
    interface = app.session_interface
    key = interface.key_prefix + cookie
    if isinstance(interface, PartitionedRedisSessions):
        return float(interface.client.ttl(key))
    path = interface.cache._get_filename(key)
    with open(path, "rb") as stored:
        expires = struct.unpack("I", stored.read(4))[0]
    return expires - time.time()


def test_a_launch_begun_on_one_host_completes_on_another(store_config: dict[str, Any]) -> None:
    first, second = _host(store_config), _host(store_config)
    cookie, _ = _save(first, None, lambda: remember_pending(pending("s1")))
    _, taken = _save(second, cookie, lambda: take_pending("s1"))
    assert taken == pending("s1")
    cookie, launch_id = _save(second, cookie, lambda: start_launch(launched()))
    _, seen = _save(first, cookie, lambda: load_launch(launch_id))
    assert seen.patient == "p1"


def test_an_unfinished_launch_is_kept_minutes_a_completed_one_hours(
    store_config: dict[str, Any],
) -> None:
    app = _host(store_config)
    cookie, _ = _save(app, None, lambda: remember_pending(pending("s1")))
    assert 0 < _seconds_to_live(app, cookie) <= UNFINISHED_LIFETIME.total_seconds()
    cookie, _ = _save(app, cookie, lambda: start_launch(launched()))
    assert _seconds_to_live(app, cookie) > 11 * 3600


def test_a_flood_of_unfinished_launches_keeps_the_file_store_bounded_and_cheap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 100
    app = _host({"SESSION_DIR": str(tmp_path / "s"), "SESSION_FILE_LIMIT": limit})
    clinician, launch_id = _save(app, None, lambda: start_launch(launched("clinician")))
    scans = 0
    real_listdir = os.listdir

    def counting_listdir(path: str) -> list[str]:
        nonlocal scans
        scans += 1
        return real_listdir(path)

    monkeypatch.setattr("cachelib.file.os.listdir", counting_listdir)
    writes = 5 * limit
    for n in range(writes):
        _save(app, None, lambda n=n: remember_pending(pending(f"flood-{n}")))
        assert len(real_listdir(tmp_path / "s")) <= limit + 2  # + cachelib's count file
    # cachelib alone reads the whole folder on every write past the limit (400 scans here).
    assert scans <= writes // 10
    # The clinician's session outlived the flood: it expires last, so it is dropped last.
    _, seen = _save(app, clinician, lambda: load_launch(launch_id))
    assert seen.patient == "clinician"
