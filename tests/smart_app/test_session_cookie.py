"""The session cookie, byte for byte: what the browser in the EHR's iframe receives.

Inside another site's iframe, browsers keep only a ``SameSite=None; Secure; Partitioned``
cookie. Flask-Session 0.8 cannot write ``Partitioned`` (pallets-eco/flask-session#273), so
``smart_app.session.PartitionedCookie`` adds it to the header Flask-Session wrote. These tests
pin both headers exactly: if a Flask-Session release writes the cookie differently (or starts
writing ``Partitioned`` itself), they fail and the mixin must be revisited.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cachelib.file import FileSystemCache
from flask import Flask, session
from flask_session.cachelib import CacheLibSessionInterface

from ldn_safety.app import create_app

APP = "https://app.example.test"
SESSION_ID = r"[A-Za-z0-9_-]{43}"
EXPIRES = r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"
SET = rf"ldn_session={SESSION_ID}; Expires={EXPIRES}; Secure; HttpOnly; Path=/; SameSite=None"
DELETE = "ldn_session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"


def _cookies(app: Flask) -> tuple[str, str]:
    """Return the Set-Cookie header of a request that sets the session, then of one that ends it."""

    @app.get("/cookie-test-set")
    def set_session() -> str:
        session["x"] = 1
        return "ok"

    @app.get("/cookie-test-clear")
    def clear_session() -> str:
        session.clear()
        return "bye"

    browser = app.test_client()
    written = browser.get(f"{APP}/cookie-test-set").headers.getlist("Set-Cookie")
    deleted = browser.get(f"{APP}/cookie-test-clear").headers.getlist("Set-Cookie")
    assert len(written) == 1
    assert len(deleted) == 1
    return written[0], deleted[0]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SERVER_NAME": "app.example.test",
            "PREFERRED_URL_SCHEME": "https",
            "SESSION_DIR": str(tmp_path / "sessions"),
        }
    )


def test_the_app_writes_a_partitioned_cross_site_cookie(app: Flask) -> None:
    written, deleted = _cookies(app)
    assert re.fullmatch(rf"{SET}; Partitioned", written), written
    assert deleted == f"{DELETE}; Secure; SameSite=None; Partitioned"


def test_flask_session_still_writes_the_cookie_as_the_mixin_expects(
    app: Flask, tmp_path: Path
) -> None:
    # The same settings through Flask-Session alone: what PartitionedCookie builds on.
    app.session_interface = CacheLibSessionInterface(
        client=FileSystemCache(str(tmp_path / "plain"), mode=0o600), key_prefix="ldn:"
    )
    written, deleted = _cookies(app)
    assert re.fullmatch(SET, written), written
    assert deleted == DELETE
