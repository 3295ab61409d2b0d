"""What the sandbox EHR needs to know: where it lives, its FHIR server, and the product it calls.

``SandboxSettings`` is the sandbox's one settings object: built once before the app, checked
as it is built (a bad value stops the start with a message naming the setting), frozen, and
read by every part of the sandbox app through ``sandbox.state.current_sandbox().settings``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import ECKey

from sandbox.auth.models import USER_REFERENCE, Client, ClientConfigError
from sandbox.loader import SAMPLE_PRACTITIONER

# The client id the sandbox's authorization server records for tokens it hands the CDS service.
CDS_SERVICE_CLIENT_ID = "ldn-cds-service"


class SandboxSettingsError(ValueError):
    """A sandbox setting is not usable; the message names it."""


@dataclass(frozen=True)
class SandboxSettings:
    """The sandbox EHR's settings.

    ``public_base`` is where browsers and the product reach the sandbox (the EHR pages, the FHIR
    proxy at ``/fhir`` and the authorization server at ``/auth`` all live there);
    ``fhir_upstream`` is the FHIR server behind the proxy (SEKMET on loopback);
    ``app_launch_url`` and ``cds_services_url`` are the product's SMART launch URL and CDS
    Hooks discovery URL. ``clients`` are SMART client registrations (RFC 7591 names), checked
    into ``registered_clients``.
    """

    public_base: str
    fhir_upstream: str
    app_launch_url: str
    cds_services_url: str
    clients: tuple[Mapping[str, Any], ...] = ()
    user: str = SAMPLE_PRACTITIONER
    auto_approve: bool = True
    cds_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-384"))
    upstream_timeout: float = 30.0
    cds_timeout: float = 10.0
    max_body_bytes: int = 16 * 1024 * 1024
    registered_clients: tuple[Client, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("public_base", "fhir_upstream", "app_launch_url", "cds_services_url"):
            object.__setattr__(self, name, _url(name, getattr(self, name)))
        object.__setattr__(self, "registered_clients", _clients(self.clients))
        if not isinstance(self.user, str) or not USER_REFERENCE.fullmatch(self.user):
            raise SandboxSettingsError(
                f"user must be a reference such as Practitioner/123, not {self.user!r}"
            )
        if not isinstance(self.auto_approve, bool):
            raise SandboxSettingsError("auto_approve must be true or false")
        if (
            not isinstance(self.cds_key, ECKey)
            or self.cds_key.curve_name != "P-384"
            or not self.cds_key.is_private
        ):
            raise SandboxSettingsError("cds_key must be a private P-384 key (ES384)")
        for name in ("upstream_timeout", "cds_timeout", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SandboxSettingsError(f"{name} must be a positive number, not {value!r}")
        if not isinstance(self.max_body_bytes, int):
            raise SandboxSettingsError("max_body_bytes must be a whole number of bytes")

    @property
    def fhir_base(self) -> str:
        """Return the FHIR proxy's public base URL (the SMART ``iss`` and ``aud``)."""
        return f"{self.public_base}/fhir"

    @property
    def auth_issuer(self) -> str:
        """Return the authorization server's base URL."""
        return f"{self.public_base}/auth"

    @property
    def cds_issuer(self) -> str:
        """Return the ``iss`` of the JWTs the sandbox signs for CDS calls."""
        return self.public_base

    @property
    def cds_jwks_url(self) -> str:
        """Return where the CDS client's public key is published."""
        return f"{self.public_base}/ehr/.well-known/jwks.json"


def _url(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise SandboxSettingsError(f"{name} must be an absolute http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise SandboxSettingsError(f"{name} must be an absolute http(s) URL, not {value!r}")
    return value.rstrip("/")


def _clients(registrations: object) -> tuple[Client, ...]:
    if not isinstance(registrations, tuple | list) or not all(
        isinstance(entry, Mapping) for entry in registrations
    ):
        raise SandboxSettingsError("clients must be a list of client registrations")
    try:
        return tuple(Client.from_dict(entry) for entry in registrations)
    except ClientConfigError as error:
        raise SandboxSettingsError(f"clients: {error}") from None
