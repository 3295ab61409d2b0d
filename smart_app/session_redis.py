"""Sessions in Redis, for several machines behind one address (``SESSION_REDIS_URL``).

Imported only when configured, so that the ``redis`` client stays an optional dependency.
"""

from __future__ import annotations

from flask import Flask
from flask_session.redis import RedisSessionInterface
from redis import Redis

from smart_app.session import PartitionedCookie


class PartitionedRedisSessions(PartitionedCookie, RedisSessionInterface):
    """Sessions in Redis, with a partitioned cookie."""


def redis_sessions(app: Flask, url: str) -> PartitionedRedisSessions:
    """Return the session interface for the Redis server at ``url`` (connects lazily)."""
    return PartitionedRedisSessions(app, client=Redis.from_url(url), key_prefix="ldn:")
