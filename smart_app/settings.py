"""The SMART app's settings: defaults, and one frozen, checked view of ``app.config``.

Every setting comes from ``app.config`` (environment ``LDN_<NAME>``, JSON-parsed). ``init_app``
checks them once, at start-up: a malformed setting stops the app with a message naming it, never
at a clinician's first launch. Views read them through :func:`app_settings`, nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from limits import RateLimitItem, parse

from clinical.knowledge import Knowledge, site_knowledge
from smart_app.registrations import ClientRegistration, load_registrations

EXTENSION = "smart_app"

DEFAULTS: dict[str, Any] = {
    # FHIR base URL (iss) -> the client registration made with that EHR (the launch allowlist).
    "SMART_ISSUERS": {},
    # The FHIR server a standalone launch (no iss, no launch) connects to.
    "SMART_DEFAULT_ISS": None,
    # The callback URL registered with the EHRs; unset means this app's own /callback.
    "SMART_REDIRECT_URI": None,
    # Seconds one HTTP request to an EHR (discovery, token, FHIR) may take.
    "SMART_HTTP_TIMEOUT": 10.0,
    # All FHIR requests behind one page (reads, or a save and its read-back) share this.
    "SMART_FHIR_DEADLINE_SECONDS": 8.0,
    # Launches per client address (a discovery fetch and a session each); see docs/smart-app.md.
    "SMART_LAUNCH_RATE_LIMIT": "60/minute",
    # Where rate-limit counters live: "memory://" (per worker) or a shared "redis://host:port".
    "RATE_LIMIT_STORAGE_URI": "memory://",
    # The EHR origins allowed to embed the app (CSP frame-ancestors).
    "SMART_FRAME_ANCESTORS": "'self'",
    # The session file folder; unset means "sessions" in the instance folder.
    "SESSION_DIR": None,
    # A shared Redis session store (several hosts); unset means the file store.
    "SESSION_REDIS_URL": None,
    "SESSION_HOURS": 12,
    "SESSION_FILE_LIMIT": 10_000,
}

# CSP source expressions for frame-ancestors: a keyword, or an http(s) origin (a leading
# "*." wildcard host is allowed). Anything else could smuggle more directives into the header.
_KEYWORDS = frozenset({"'self'", "'none'"})
_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?")


class ConfigError(ValueError):
    """A setting of the SMART app is malformed; the message names the setting."""


@dataclass(frozen=True, slots=True)
class AppSettings:
    """The checked settings of the SMART app.

    ``today`` is the day the pages reason about: code (never the environment) may pin another
    (``TODAY``), and the CDS settings read the same setting, so the card and the app judge the
    same day. ``knowledge`` holds the site's washout windows, read where the card reads them.
    """

    registrations: Mapping[str, ClientRegistration]
    default_iss: str | None
    redirect_uri: str | None
    http_timeout_seconds: float
    fhir_deadline_seconds: float
    launch_rate_limit: RateLimitItem
    rate_limit_storage_uri: str
    frame_ancestors: str
    session_dir: str | None
    session_redis_url: str | None
    session_hours: float
    session_file_limit: int
    today: Callable[[], date]
    knowledge: Knowledge

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AppSettings:
        """Check the SMART app's settings in ``config``; raise ConfigError naming a bad one."""
        try:
            registrations = load_registrations(_get(config, "SMART_ISSUERS"))
            knowledge = site_knowledge(config)
            ancestors = frame_ancestors(_get(config, "SMART_FRAME_ANCESTORS"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        today = config.get("TODAY", date.today)
        if not callable(today):
            raise ConfigError(f"TODAY must be a function returning the date, got {today!r}")
        return cls(
            registrations=registrations,
            default_iss=_optional_text(config, "SMART_DEFAULT_ISS"),
            redirect_uri=_optional_url(config, "SMART_REDIRECT_URI"),
            http_timeout_seconds=_positive(config, "SMART_HTTP_TIMEOUT"),
            fhir_deadline_seconds=_positive(config, "SMART_FHIR_DEADLINE_SECONDS"),
            launch_rate_limit=_rate(config, "SMART_LAUNCH_RATE_LIMIT"),
            rate_limit_storage_uri=_text(config, "RATE_LIMIT_STORAGE_URI"),
            frame_ancestors=ancestors,
            session_dir=_optional_text(config, "SESSION_DIR"),
            session_redis_url=_optional_text(config, "SESSION_REDIS_URL"),
            session_hours=_positive(config, "SESSION_HOURS"),
            session_file_limit=_whole(config, "SESSION_FILE_LIMIT"),
            today=today,
            knowledge=knowledge,
        )


def app_settings() -> AppSettings:
    """Return the settings of the app handling the current request (checked at start-up)."""
    settings: AppSettings = current_app.extensions[EXTENSION]
    return settings


def frame_ancestors(configured: str | Iterable[str] | None) -> str:
    """Return the ``frame-ancestors`` sources for ``SMART_FRAME_ANCESTORS``; ValueError if bad."""
    if configured is None:
        return "'self'"
    entries = configured.split() if isinstance(configured, str) else list(configured)
    for entry in entries:
        if not isinstance(entry, str) or not (
            entry in _KEYWORDS or _ORIGIN.fullmatch(entry.rstrip("/"))
        ):
            raise ValueError(
                f"SMART_FRAME_ANCESTORS: {entry!r} is not 'self', 'none' or an http(s) origin "
                "such as https://ehr.example.org"
            )
    if not entries:
        raise ValueError("SMART_FRAME_ANCESTORS is empty: use 'none' to forbid embedding")
    return " ".join(entry.rstrip("/") for entry in entries)


def _get(config: Mapping[str, Any], name: str) -> Any:
    return config.get(name, DEFAULTS[name])


def _positive(config: Mapping[str, Any], name: str) -> float:
    value = _get(config, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{name} must be a number greater than 0, got {value!r}")
    return float(value)


def _whole(config: Mapping[str, Any], name: str) -> int:
    value = _get(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _text(config: Mapping[str, Any], name: str) -> str:
    value = _get(config, name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _optional_text(config: Mapping[str, Any], name: str) -> str | None:
    return None if _get(config, name) in (None, "") else _text(config, name)


def _optional_url(config: Mapping[str, Any], name: str) -> str | None:
    value = _optional_text(config, name)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} must be an absolute http(s) URL, got {value!r}")
    return value


def _rate(config: Mapping[str, Any], name: str) -> RateLimitItem:
    value = _get(config, name)
    try:
        return parse(value)
    except (ValueError, TypeError):
        raise ConfigError(f'{name} must be a rate such as "60/minute", got {value!r}') from None
