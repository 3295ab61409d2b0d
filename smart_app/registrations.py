"""Which EHRs the app may launch from, and how it authenticates to each (``SMART_ISSUERS``).

``SMART_ISSUERS`` maps each allowed FHIR base URL (``iss``) to the client registration made with
that EHR. A launch naming any other ``iss`` is refused before anything is fetched: the launch URL
is attacker-controlled, and discovery would otherwise fetch whatever URL it names.

Some public sandboxes mint a new FHIR base per launch (the SMART Health IT launcher's
``https://launch.smarthealthit.org/v/r4/sim/<encoded>/fhir``). For them an entry may be declared a
URL prefix (``"match": "prefix"``): an https URL (http on loopback only) with a path ending in
``/``, no wildcard and no host pattern. A launch ``iss`` matches it only on the very same origin
(scheme, host and port) with a path under the prefix, and with no user info, query, fragment,
dot segment or encoded dot or slash; the registration then serves that exact ``iss``. An exact
entry wins over a prefix, and a longer prefix over a shorter one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import SplitResult, urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc.jwk import ECKey, RSAKey

from smart_app.errors import MissingIssuer, UnknownIssuer

AuthMethod = Literal["public", "client_secret_basic", "private_key_jwt"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("public", "client_secret_basic", "private_key_jwt")
MATCHES = ("exact", "prefix")
SigningKey = RSAKey | ECKey
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"https": 443, "http": 80}
# In a launch iss under a prefix: dot segments and encoded dots, slashes or backslashes could
# walk out of the prefix once a server decodes them; none has a place in a FHIR base URL.
_ESCAPES = re.compile(r"%2e|%2f|%5c|\\", re.IGNORECASE)


@dataclass(frozen=True)
class ClientRegistration:
    """The app's registration with one EHR: client id, authentication, optional scope list."""

    iss: str
    client_id: str
    auth: AuthMethod = "public"
    client_secret: str | None = field(default=None, repr=False)
    private_key: SigningKey | None = field(default=None, repr=False)
    scopes: tuple[str, ...] | None = None
    prefix: bool = False  # ``iss`` is a declared URL prefix, not one FHIR base

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
    loaded = {}
    for iss, entry in entries.items():
        match = entry.get("match", "exact") if isinstance(entry, Mapping) else "exact"
        if match not in MATCHES:
            raise ValueError(f"SMART_ISSUERS[{iss!r}]: match must be exact or prefix")
        key = _prefix_key(iss) if match == "prefix" else normalize_iss(iss)
        loaded[key] = replace(_registration(key, entry), prefix=match == "prefix")
    return loaded


def registration_for(
    registrations: Mapping[str, ClientRegistration], iss: str | None
) -> ClientRegistration:
    """Return the registration for an allowlisted ``iss``, or raise the launch error."""
    if not iss or not iss.strip():
        raise MissingIssuer("The launch did not say which EHR record system to connect to.")
    exact = registrations.get(normalize_iss(iss))
    if exact is not None and not exact.prefix:
        return exact
    prefixes = sorted(
        (r for r in registrations.values() if r.prefix), key=lambda r: len(r.iss), reverse=True
    )
    for registration in prefixes:
        if _under(registration.iss, iss.strip()):
            return replace(registration, iss=normalize_iss(iss), prefix=False)
    raise UnknownIssuer("The launch named a record system that this app is not set up for.")


def _origin(parts: SplitResult) -> tuple[str, str, int] | None:
    """Return (scheme, host, port) with the default port made explicit; None if unusable."""
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    if scheme not in _DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return scheme, parts.hostname.lower(), port


def _prefix_key(iss: str) -> str:
    """Check a declared prefix entry and return it as written (trailing slash kept)."""
    where = f"SMART_ISSUERS[{iss!r}]"
    key = iss.strip()
    parts = urlsplit(key)
    origin = _origin(parts)
    if origin is None or "*" in key or "@" in parts.netloc:
        raise ValueError(
            f"{where}: a prefix must be a full http(s) URL on one origin, not a host pattern"
        )
    if origin[0] != "https" and origin[1] not in LOOPBACK_HOSTS:
        raise ValueError(f"{where}: a prefix must use https (http only on loopback)")
    if parts.query or parts.fragment or not parts.path.endswith("/") or _escapes(parts.path):
        raise ValueError(
            f"{where}: a prefix is a path ending in '/' (no query, fragment or dot segment), "
            "e.g. https://launch.smarthealthit.org/v/r4/sim/"
        )
    return key


def _escapes(path: str) -> bool:
    segments = path.split("/")
    return bool(_ESCAPES.search(path)) or "." in segments or ".." in segments


def _under(prefix: str, iss: str) -> bool:
    """Tell whether ``iss`` is a URL on the prefix's own origin with its path under the prefix."""
    declared, launched = urlsplit(prefix), urlsplit(iss)
    origin = _origin(launched)
    if origin is None or origin != _origin(declared):
        return False
    if "@" in launched.netloc or launched.query or launched.fragment or "?" in iss or "#" in iss:
        return False
    if any(ord(char) < 0x21 or char == "\\" for char in iss) or _escapes(launched.path):
        return False
    path = launched.path.rstrip("/")
    return path.startswith(declared.path) and len(path) > len(declared.path)


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
