"""Configuration of the sandbox authorization server: where it lives, its clients, its policy."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sandbox.auth.keys import SIGNING_ALGORITHMS
from sandbox.auth.models import USER_REFERENCE, Client
from sandbox.auth.store import Clock


class AuthConfigError(ValueError):
    """The authorization server's configuration is not usable."""


@dataclass(frozen=True)
class PatientChoice:
    """One patient the standalone-launch picker offers."""

    id: str
    name: str
    birth_date: str | None = None
    gender: str | None = None


class PatientListError(Exception):
    """Raised by a patient source that cannot list the patients (e.g. FHIR server down)."""


PatientSource = Callable[[], Sequence[PatientChoice]]


@dataclass(frozen=True)
class AuthConfig:
    """Everything the authorization server needs (the sandbox app builds it from its settings).

    ``fhir_base`` is the FHIR proxy's base URL (``aud`` must equal it, and the SMART
    configuration is served under it). ``issuer`` is the authorization server's own base URL:
    its endpoints are ``{issuer}/authorize``, ``/token``, ``/jwks``, ``/launch``. Both must be
    the URLs clients use, on the same Flask app; the routes take their paths from them.
    """

    fhir_base: str
    issuer: str
    clients: tuple[Client, ...]
    patients: PatientSource
    default_user: str = "Practitioner/sandbox-clinician"
    signing_alg: str = "RS256"
    signing_key_file: str | None = None
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 86400
    code_ttl: int = 120
    launch_ttl: int = 300
    consent_ttl: int = 900
    auto_approve: bool = False
    standalone_need_patient_banner: bool = True
    # Where launches, consents, codes and tokens live (any SQLAlchemy URL): shared by every
    # worker process; None means an SQLite file of this server's own in a temporary folder.
    database_url: str | None = None
    now: Clock = field(default=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fhir_base", _base_url("fhir_base", self.fhir_base))
        object.__setattr__(self, "issuer", _base_url("issuer", self.issuer))
        if not USER_REFERENCE.fullmatch(self.default_user):
            raise AuthConfigError("default_user must be a reference such as Practitioner/123")
        if self.signing_alg not in SIGNING_ALGORITHMS:
            raise AuthConfigError(f"signing_alg must be one of {SIGNING_ALGORITHMS}")
        ids = [client.client_id for client in self.clients]
        if len(ids) != len(set(ids)):
            raise AuthConfigError("client_id values must be unique")

    @property
    def fhir_path(self) -> str:
        """Return the path part of ``fhir_base`` (where the FHIR proxy is mounted)."""
        return urlsplit(self.fhir_base).path

    @property
    def issuer_path(self) -> str:
        """Return the path part of ``issuer`` (where the authorization endpoints are mounted)."""
        return urlsplit(self.issuer).path

    def endpoint(self, name: str) -> str:
        """Return the absolute URL of one of the server's endpoints (``token``, ``jwks``, ...)."""
        return f"{self.issuer}/{name}"


def _base_url(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise AuthConfigError(f"{name} must be an absolute http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise AuthConfigError(f"{name} must be an absolute http(s) URL, not {value!r}")
    return value.rstrip("/")
