"""Sessions in Redis, for several machines behind one address (``SESSION_REDIS_URL``).

Imported only when configured, so that the ``redis`` client stays an optional dependency.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SessionInterface
from flask_session.redis import RedisSessionInterface
from redis import Redis, RedisError

from smart_app.session import PartitionedCookie, UnfinishedLaunchesExpireSoon


class PartitionedRedisSessions(
    PartitionedCookie, UnfinishedLaunchesExpireSoon, RedisSessionInterface
):
    """Sessions in Redis (each key with its lifetime as TTL), with a partitioned cookie."""


# Seconds a session read or write may wait on Redis: a stuck server fails a page, not a worker.
REDIS_TIMEOUT_SECONDS = 2.0


def redis_sessions(app: Flask, url: str) -> PartitionedRedisSessions:
    """Return the session interface for the Redis server at ``url`` (connects lazily)."""
    client = Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return PartitionedRedisSessions(app, client=client, key_prefix="ldn:")


def redis_problem(interface: SessionInterface) -> str | None:
    """Say why the Redis behind ``interface`` cannot be used, or None when it answers."""
    if not isinstance(interface, PartitionedRedisSessions):
        return "not the Redis session store"
    try:
        interface.client.ping()
    except RedisError as error:
        return f"unreachable ({type(error).__name__})"
    return None
