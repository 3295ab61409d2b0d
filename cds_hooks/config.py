"""The CDS service's settings: defaults, and one frozen, checked view of ``app.config``.

Every setting comes from ``app.config`` (environment ``LDN_<NAME>``, JSON-parsed). A malformed
setting stops the app at start-up with a message naming it, never at the first clinical call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from limits import RateLimitItem, parse

from clinical.knowledge import Knowledge, site_knowledge

DEFAULTS: dict[str, Any] = {
    # issuer -> {"jwks_url": ...} and/or {"jwks": {...}} (inline wins: a pinned copy, never
    # fetched), optionally "jku": [other JWK Set URLs a token may name; jwks_url always may]
    "CDS_TRUSTED_CLIENTS": {},
    # Development only: accept calls without a client JWT. Logged loudly at start and per call.
    "CDS_INSECURE_DEV_NO_JWT": False,
    # The spec lets discovery carry a JWT like every call; an EHR that cannot sign it needs False.
    "CDS_DISCOVERY_REQUIRES_JWT": True,
    "CDS_JWT_LEEWAY_SECONDS": 60,
    "CDS_JWKS_TTL_SECONDS": 300,
    "CDS_JWKS_TIMEOUT_SECONDS": 2.0,
    # An unknown kid refreshes the JWK Set, but not more often than this (a forged token
    # naming a random kid must not turn the service into a JWKS fetch loop).
    "CDS_JWKS_MIN_REFRESH_SECONDS": 10.0,
    # Base URLs of FHIR servers the service may call with the token the EHR hands it.
    "CDS_ALLOWED_FHIR_SERVERS": [],
    # Hard deadline for all FHIR reads of one hook call together (the spec asks for ~500 ms).
    "CDS_FHIR_DEADLINE_SECONDS": 3.0,
    # A 10,000-record prefetch is about 11 MB; parsed, a body takes ~19x its size in memory.
    "CDS_MAX_BODY_BYTES": 32 * 1024 * 1024,
    # Browser-based CDS clients allowed to call the service ("*" for any origin).
    "CDS_CORS_ORIGINS": [],
    # Feedback calls allowed per client (JWT issuer), in the limits library's notation.
    "CDS_FEEDBACK_RATE_LIMIT": "600/minute",
    # Where rate-limit counters live: "memory://" (per worker process) or a shared
    # "redis://host:port" when several workers or hosts must share one budget.
    "RATE_LIMIT_STORAGE_URI": "memory://",
    # Bearer token for GET /cds-services/admin/feedback; unset disables the endpoint.
    "CDS_ADMIN_TOKEN": None,
    # The SMART app's launch URL for card links; unset means PUBLIC_BASE_URL + "/launch".
    "CDS_SMART_LAUNCH_URL": None,
    # Where a card's source label links to; unset means the public base URL.
    "CDS_SOURCE_URL": None,
    # Key for pseudonymising patient ids in the card store; unset means SECRET_KEY.
    "CDS_PSEUDONYM_KEY": None,
    # The URL the service is reached at from outside (the JWT audience is built from it).
    "PUBLIC_BASE_URL": None,
    # Any SQLAlchemy URL; unset means an SQLite file in the instance folder.
    "DATABASE_URL": None,
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the setting."""


@dataclass(frozen=True, slots=True)
class TrustedClient:
    """One CDS client (EHR) allowed to call: its issuer and where its keys come from.

    ``jwks`` is an inline JWK Set: a pinned copy of the keys at the URLs the client names in a
    ``jku`` header, so with it nothing is ever fetched. ``allowed_jku`` lists the other URLs a
    token's ``jku`` may name; the configured ``jwks_url`` is always one of them.
    """

    issuer: str
    jwks_url: str | None
    jwks: Mapping[str, Any] | None
    allowed_jku: tuple[str, ...] = ()

    def jku_allowed(self, url: object) -> bool:
        """Say whether a token's ``jku`` header may name ``url`` for this issuer."""
        return isinstance(url, str) and (url == self.jwks_url or url in self.allowed_jku)


@dataclass(frozen=True, slots=True)
class CdsSettings:
    """The checked settings of the CDS service."""

    trusted_clients: Mapping[str, TrustedClient]
    insecure_no_jwt: bool
    discovery_requires_jwt: bool
    jwt_leeway_seconds: int
    jwks_ttl_seconds: float
    jwks_timeout_seconds: float
    jwks_min_refresh_seconds: float
    allowed_fhir_servers: tuple[str, ...]
    fhir_deadline_seconds: float
    max_body_bytes: int
    cors_origins: tuple[str, ...]
    admin_token: str | None
    public_base_url: str | None
    smart_launch_url: str | None
    source_url: str | None
    pseudonym_key: str | None
    feedback_rate_limit: RateLimitItem
    rate_limit_storage_uri: str
    # The clinical knowledge with the site's windows (``clinical.knowledge.site_knowledge``).
    knowledge: Knowledge
    # The day the checks reason about (``TODAY``: code may pin another, never the environment);
    # the SMART app reads the same setting, so the card and the app judge the same day.
    today: Callable[[], date]

    def fhir_server_allowed(self, url: str) -> bool:
        """Say whether ``url`` is one of the allowlisted FHIR base URLs (trailing slash ignored)."""
        return url.rstrip("/") in self.allowed_fhir_servers


def _absolute_url(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a URL string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an absolute http(s) URL, got {value!r}")
    return value


def _optional_url(config: Mapping[str, Any], name: str) -> str | None:
    value = config.get(name)
    return None if value in (None, "") else _absolute_url(name, value).rstrip("/")


def _number(config: Mapping[str, Any], name: str) -> float:
    value = config.get(name, DEFAULTS[name])
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _flag(config: Mapping[str, Any], name: str) -> bool:
    value = config.get(name, DEFAULTS[name])
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return value


def _url_list(config: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = config.get(name, DEFAULTS[name])
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a JSON list of URLs")
    return tuple(_absolute_url(name, item).rstrip("/") for item in value)


def _rate(config: Mapping[str, Any], name: str) -> RateLimitItem:
    value = config.get(name, DEFAULTS[name])
    try:
        return parse(value)
    except (ValueError, TypeError):
        raise ConfigError(f'{name} must be a rate such as "600/minute", got {value!r}') from None


def _trusted_clients(value: object) -> dict[str, TrustedClient]:
    name = "CDS_TRUSTED_CLIENTS"
    if not isinstance(value, Mapping):
        raise ConfigError(f'{name} must map each issuer to {{"jwks_url": ...}} or {{"jwks": ...}}')
    clients = {}
    for issuer, entry in value.items():
        # Both given: the inline set is a pinned copy of the keys at jwks_url (never fetched).
        if not isinstance(entry, Mapping) or not ("jwks_url" in entry or "jwks" in entry):
            raise ConfigError(f"{name}[{issuer!r}] needs jwks_url, jwks, or both")
        jwks = entry.get("jwks")
        if jwks is not None and not (
            isinstance(jwks, Mapping) and isinstance(jwks.get("keys"), list)
        ):
            raise ConfigError(f'{name}[{issuer!r}].jwks must be a JWK Set {{"keys": [...]}}')
        if jwks is not None:
            try:
                KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{name}[{issuer!r}].jwks is not a usable JWK Set") from exc
        jwks_url = entry.get("jwks_url")
        clients[issuer] = TrustedClient(
            issuer=issuer,
            jwks_url=None if jwks_url is None else _absolute_url(f"{name}[{issuer!r}]", jwks_url),
            jwks=jwks,
            allowed_jku=tuple(
                _absolute_url(f"{name}[{issuer!r}].jku", url) for url in entry.get("jku", [])
            ),
        )
    return clients


def load_settings(config: Mapping[str, Any]) -> CdsSettings:
    """Check the CDS settings in ``config`` and return them; raise ConfigError naming a bad one."""
    cors = config.get("CDS_CORS_ORIGINS", DEFAULTS["CDS_CORS_ORIGINS"])
    if cors == "*":
        cors = ["*"]
    if not isinstance(cors, list | tuple) or not all(isinstance(o, str) for o in cors):
        raise ConfigError('CDS_CORS_ORIGINS must be a JSON list of origins, or "*"')
    admin_token = config.get("CDS_ADMIN_TOKEN")
    if admin_token is not None and (not isinstance(admin_token, str) or len(admin_token) < 16):
        raise ConfigError("CDS_ADMIN_TOKEN must be a string of at least 16 characters")
    pseudonym_key = config.get("CDS_PSEUDONYM_KEY") or config.get("SECRET_KEY")
    max_body = _number(config, "CDS_MAX_BODY_BYTES")
    try:
        # A site window that would clear a patient too early stops the service here.
        knowledge = site_knowledge(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    today = config.get("TODAY", date.today)
    if not callable(today):
        raise ConfigError(f"TODAY must be a function returning the date, got {today!r}")
    return CdsSettings(
        trusted_clients=_trusted_clients(
            config.get("CDS_TRUSTED_CLIENTS", DEFAULTS["CDS_TRUSTED_CLIENTS"])
        ),
        insecure_no_jwt=_flag(config, "CDS_INSECURE_DEV_NO_JWT"),
        discovery_requires_jwt=_flag(config, "CDS_DISCOVERY_REQUIRES_JWT"),
        jwt_leeway_seconds=int(_number(config, "CDS_JWT_LEEWAY_SECONDS")),
        jwks_ttl_seconds=_number(config, "CDS_JWKS_TTL_SECONDS"),
        jwks_timeout_seconds=_number(config, "CDS_JWKS_TIMEOUT_SECONDS"),
        jwks_min_refresh_seconds=_number(config, "CDS_JWKS_MIN_REFRESH_SECONDS"),
        allowed_fhir_servers=_url_list(config, "CDS_ALLOWED_FHIR_SERVERS"),
        fhir_deadline_seconds=_number(config, "CDS_FHIR_DEADLINE_SECONDS"),
        max_body_bytes=int(max_body),
        cors_origins=tuple(o.rstrip("/") for o in cors),
        admin_token=admin_token,
        public_base_url=_optional_url(config, "PUBLIC_BASE_URL"),
        smart_launch_url=_optional_url(config, "CDS_SMART_LAUNCH_URL"),
        source_url=_optional_url(config, "CDS_SOURCE_URL"),
        pseudonym_key=pseudonym_key if isinstance(pseudonym_key, str) else None,
        feedback_rate_limit=_rate(config, "CDS_FEEDBACK_RATE_LIMIT"),
        rate_limit_storage_uri=str(config.get("RATE_LIMIT_STORAGE_URI", "memory://")),
        knowledge=knowledge,
        today=today,
    )
