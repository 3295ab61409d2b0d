"""Which EHRs the app may launch from, and how it authenticates to each (``SMART_ISSUERS``).

``SMART_ISSUERS`` maps each allowed FHIR base URL (``iss``) to the client registration made with
that EHR. A launch naming any other ``iss`` is refused before anything is fetched: the launch URL
is attacker-controlled, and discovery would otherwise fetch whatever URL it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc.jwk import ECKey, RSAKey

from smart_app.errors import MissingIssuer, UnknownIssuer

AuthMethod = Literal["public", "client_secret_basic", "private_key_jwt"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("public", "client_secret_basic", "private_key_jwt")
SigningKey = RSAKey | ECKey


@dataclass(frozen=True)
class ClientRegistration:
    """The app's registration with one EHR: client id, authentication, optional scope list."""

    iss: str
    client_id: str
    auth: AuthMethod = "public"
    client_secret: str | None = field(default=None, repr=False)
    private_key: SigningKey | None = field(default=None, repr=False)
    scopes: tuple[str, ...] | None = None

    @property
    def signing_alg(self) -> str:
        """Return the client-assertion algorithm SMART allows for this key (RS384 or ES384)."""
        return "RS384" if isinstance(self.private_key, RSAKey) else "ES384"


def normalize_iss(iss: str) -> str:
    """Return ``iss`` as compared against the allowlist (no trailing slash)."""
    return iss.strip().rstrip("/")


def load_registrations(raw: Mapping[str, Any] | str | None) -> dict[str, ClientRegistration]:
    """Parse ``SMART_ISSUERS`` (a mapping or its JSON text); raise ValueError naming the problem."""
    if raw is None:
        return {}
    entries = orjson.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(entries, Mapping):
        raise ValueError("SMART_ISSUERS must map each FHIR base URL to a client registration")
    return {normalize_iss(iss): _registration(normalize_iss(iss), e) for iss, e in entries.items()}


def registration_for(
    registrations: Mapping[str, ClientRegistration], iss: str | None
) -> ClientRegistration:
    """Return the registration for an allowlisted ``iss``, or raise the launch error."""
    if not iss or not iss.strip():
        raise MissingIssuer("The launch did not say which EHR record system to connect to.")
    registration = registrations.get(normalize_iss(iss))
    if registration is None:
        raise UnknownIssuer("The launch named a record system that this app is not set up for.")
    return registration


def _registration(iss: str, entry: Any) -> ClientRegistration:
    where = f"SMART_ISSUERS[{iss!r}]"
    if not iss.startswith(("https://", "http://")):
        raise ValueError(f"{where}: the key must be the FHIR base URL")
    if not isinstance(entry, Mapping) or not entry.get("client_id"):
        raise ValueError(f"{where}: client_id is required")
    auth = entry.get("auth", "public")
    if auth not in AUTH_METHODS:
        raise ValueError(f"{where}: auth must be one of {', '.join(AUTH_METHODS)}")
    secret = entry.get("client_secret")
    if auth == "client_secret_basic" and not secret:
        raise ValueError(f"{where}: client_secret_basic needs client_secret")
    key = _private_key(where, entry) if auth == "private_key_jwt" else None
    scopes = entry.get("scopes")
    if scopes is not None and not isinstance(scopes, str):
        raise ValueError(f"{where}: scopes must be a space-separated string")
    return ClientRegistration(
        iss=iss,
        client_id=str(entry["client_id"]),
        auth=cast(AuthMethod, auth),
        client_secret=secret,
        private_key=key,
        scopes=tuple(scopes.split()) if scopes else None,
    )


def _private_key(where: str, entry: Mapping[str, Any]) -> SigningKey:
    """Load the private key from ``jwk`` (inline) or ``private_key_path`` (JWK JSON or PEM)."""
    if "jwk" in entry:
        data: Any = entry["jwk"]
    elif "private_key_path" in entry:
        text = Path(entry["private_key_path"]).read_text(encoding="utf-8")
        data = orjson.loads(text) if text.lstrip().startswith("{") else text
    else:
        raise ValueError(f"{where}: private_key_jwt needs jwk or private_key_path")
    key = _import_key(where, data)
    if not key.is_private:
        raise ValueError(f"{where}: the key is a public key; the app needs its private key")
    if isinstance(key, ECKey) and key.curve_name != "P-384":
        raise ValueError(f"{where}: an EC key must be on P-384 (ES384)")
    if not key.kid:
        # RFC 7638 thumbprint: what the EHR sees when the public key is registered without a kid.
        key.ensure_kid()
    return key


def _import_key(where: str, data: Any) -> SigningKey:
    if isinstance(data, Mapping):
        kty = data.get("kty")
        if kty == "RSA":
            return RSAKey.import_key(dict(data))
        if kty == "EC":
            return ECKey.import_key(dict(data))
        raise ValueError(f"{where}: the JWK must be an RSA or EC key")
    pem = load_pem_private_key(str(data).encode(), password=None)
    if isinstance(pem, rsa.RSAPrivateKey):
        return RSAKey.import_key(pem)
    if isinstance(pem, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(pem)
    raise ValueError(f"{where}: the PEM key must be an RSA or EC private key")
