"""Server-side sessions for the SMART app: tokens stay on the server, the browser holds an id.

Flask-Session 0.8 stores the session in a cachelib ``FileSystemCache`` under the instance folder
(one machine, any number of workers) or in Redis when ``SESSION_REDIS_URL`` is set (several
machines). The app runs in an EHR iframe on another site, where browsers block third-party
cookies; only a ``SameSite=None; Secure; Partitioned`` cookie (CHIPS) survives there.

Both stores are bounded: a session holding no completed launch (a launch begun and never
finished) lives minutes, not the session's hours, and the file store keeps at most
``SESSION_FILE_LIMIT`` files, dropping the soonest to expire first, in batches.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from cachelib.file import FileSystemCache
from flask import Flask, Response, current_app, session
from flask.sessions import SessionInterface
from flask_session.base import ServerSideSession, ServerSideSessionInterface
from flask_session.cachelib import CacheLibSessionInterface

from smart_app.errors import LaunchExpired
from smart_app.launch import LaunchContext, PendingLaunch
from smart_app.settings import AppSettings

PENDING_KEY = "smart_pending"
LAUNCHES_KEY = "smart_launches"
# Enough for a few tabs started in parallel; older entries are dropped first.
MAX_PENDING = 5
MAX_LAUNCHES = 5
# How long a session lives until a launch completes in it: time enough to sign in at the EHR.
UNFINISHED_LIFETIME = timedelta(minutes=30)
# Past the file limit, the store drops down to this share of it at once, so that a flood of
# unfinished launches costs one scan of the folder per thousands of writes, not one per write.
FILE_LOW_WATER = 0.8


class UnfinishedLaunchesExpireSoon:
    """Mix into a Flask-Session interface: keep a session without a completed launch briefly.

    Anyone can open ``/launch``; only a launch that came back from the EHR's authorization
    server earns the full session lifetime.
    """

    def _upsert_session(
        self, session_lifetime: timedelta, session: ServerSideSession, store_id: str
    ) -> None:
        if not session.get(LAUNCHES_KEY):
            session_lifetime = min(session_lifetime, UNFINISHED_LIFETIME)
        super()._upsert_session(session_lifetime, session, store_id)  # type: ignore[misc]


class BoundedFileSystemCache(FileSystemCache):
    """cachelib's file cache, pruned in batches once over its limit.

    cachelib prunes one file at a time: once full, every write reads every file of the folder
    (10,000 files: ~40x slower writes). Here a prune removes the expired files, then the ones
    soonest to expire (unfinished launches first) down to ``low_water`` files.
    """

    def __init__(self, cache_dir: str, *, threshold: int, low_water: int, mode: int) -> None:
        super().__init__(cache_dir, threshold=threshold, mode=mode)
        self._low_water = low_water

    def _prune(self) -> None:
        if not self._over_threshold():
            return
        self._remove_expired(time.time())
        if not self._over_threshold():
            return
        limit = self._threshold
        self._threshold = self._low_water  # _remove_older stops once under _threshold
        try:
            self._remove_older()
        finally:
            self._threshold = limit


class PartitionedCookie:
    """Mix into a Flask-Session interface: add ``Partitioned`` to the session cookie.

    Flask 3.1 supports ``SESSION_COOKIE_PARTITIONED`` but Flask-Session 0.8 (the latest) does
    not pass it on (pallets-eco/flask-session#273, open), and ``after_request`` handlers run
    before the session is saved, so the attribute is added here, right after Flask-Session wrote
    the cookie (set or delete). ``tests/smart_app/test_session_cookie.py`` pins Flask-Session's
    exact ``Set-Cookie`` output, so a release that writes the cookie differently fails there.
    """

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        super().save_session(app, session, response)  # type: ignore[misc]
        interface: SessionInterface = self  # type: ignore[assignment]
        if not interface.get_cookie_partitioned(app):
            return
        prefix = f"{interface.get_cookie_name(app)}="
        cookies = response.headers.getlist("Set-Cookie")
        response.headers.remove("Set-Cookie")
        for cookie in cookies:
            if cookie.startswith(prefix):
                cookie = _with_attributes(cookie, interface.get_cookie_samesite(app))
            response.headers.add("Set-Cookie", cookie)


class PartitionedCacheLibSessions(
    PartitionedCookie, UnfinishedLaunchesExpireSoon, CacheLibSessionInterface
):
    """Sessions in a cachelib store, with a partitioned cookie."""


def init_sessions(app: Flask, settings: AppSettings) -> None:
    """Install server-side sessions and the cookie attributes an embedded app needs."""
    # Not defaults but requirements: without them the session is lost inside the EHR's iframe.
    app.config.update(
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_PARTITIONED=True,
    )
    if app.config["SESSION_COOKIE_NAME"] == "session":
        # Cookies ignore ports: a distinct name keeps a sandbox EHR on the same host apart.
        app.config["SESSION_COOKIE_NAME"] = "ldn_session"
    app.permanent_session_lifetime = timedelta(hours=settings.session_hours)
    if settings.session_redis_url:
        from smart_app.session_redis import redis_sessions  # the redis client is optional

        app.session_interface = redis_sessions(app, settings.session_redis_url)
        return
    limit = settings.session_file_limit
    store = BoundedFileSystemCache(
        _session_dir(app, settings),
        threshold=limit,
        low_water=int(limit * FILE_LOW_WATER),
        mode=0o600,
    )
    app.session_interface = PartitionedCacheLibSessions(client=store, key_prefix="ldn:")


def session_store_problem(app: Flask, settings: AppSettings) -> tuple[str, str | None]:
    """Name the session store ("redis" or "session files") and say why it is unusable, or None."""
    interface = app.session_interface
    if settings.session_redis_url:
        from smart_app.session_redis import redis_problem

        return "redis", redis_problem(interface)
    if not os.access(_session_dir(app, settings), os.W_OK):
        return "session files", "folder not writable"
    return "session files", None


def remember_pending(pending: PendingLaunch) -> None:
    """Keep a launch begun in this browser until its callback comes back."""
    pending_launches = _bounded(session.get(PENDING_KEY, {}), MAX_PENDING - 1)
    pending_launches[pending.state] = pending.to_dict()
    session[PENDING_KEY] = pending_launches


def take_pending(state: str | None) -> PendingLaunch | None:
    """Remove and return the launch this browser began under ``state``: each works once."""
    pending_launches = dict(session.get(PENDING_KEY, {}))
    data = pending_launches.pop(state, None) if state else None
    session[PENDING_KEY] = pending_launches
    return PendingLaunch.from_dict(data) if data else None


def start_launch(ctx: LaunchContext) -> str:
    """Give the browser a new session id (login) and keep the launch; return its id."""
    _interface().regenerate(session)
    launch_id = secrets.token_urlsafe(16)
    launches = _bounded(session.get(LAUNCHES_KEY, {}), MAX_LAUNCHES - 1)
    launches[launch_id] = ctx.to_dict()
    session[LAUNCHES_KEY] = launches
    return launch_id


def load_launch(launch_id: str | None) -> LaunchContext:
    """Return the launch this browser completed under ``launch_id``, or raise LaunchExpired."""
    data = session.get(LAUNCHES_KEY, {}).get(launch_id) if launch_id else None
    if data is None:
        raise LaunchExpired("This browser has no open session with the EHR for this page.")
    return LaunchContext.from_dict(data)


def save_launch(launch_id: str, ctx: LaunchContext) -> None:
    """Replace a launch kept in this session (after its token was refreshed)."""
    launches = dict(session.get(LAUNCHES_KEY, {}))
    launches[launch_id] = ctx.to_dict()
    session[LAUNCHES_KEY] = launches


def _interface() -> ServerSideSessionInterface:
    interface = current_app.session_interface
    if not isinstance(interface, ServerSideSessionInterface):
        raise RuntimeError("init_sessions(app) was not called")
    return interface


def _session_dir(app: Flask, settings: AppSettings) -> str:
    return settings.session_dir or str(Path(app.instance_path) / "sessions")


def _bounded(entries: dict[str, Any], keep: int) -> dict[str, Any]:
    """Return a copy holding only the newest ``keep`` entries (dicts keep insertion order)."""
    return dict(list(entries.items())[-keep:]) if keep > 0 else {}


def _with_attributes(cookie: str, samesite: str | None) -> str:
    # A Partitioned cookie must also be Secure, and in a cross-site frame a cookie without
    # SameSite=None is refused, its deletion too: Flask-Session's delete omits all three.
    names = {part.split("=")[0].strip().lower() for part in cookie.split(";")[1:]}
    if "secure" not in names:
        cookie += "; Secure"
    if samesite and "samesite" not in names:
        cookie += f"; SameSite={samesite}"
    if "partitioned" not in names:
        cookie += "; Partitioned"
    return cookie
