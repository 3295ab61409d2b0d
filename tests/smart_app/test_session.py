"""Server-side sessions: where they are stored, the cookie's attributes, pending launches."""

from __future__ import annotations

from flask import Flask, session

from ldn_safety.app import create_app
from smart_app.launch import PendingLaunch, SmartConfiguration
from smart_app.session import (
    MAX_PENDING,
    PartitionedCacheLibSessions,
    remember_pending,
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
