"""The sandbox's own signing key: signs id_tokens, published as a JWKS (OpenID Connect Core §10.1).

The key is generated when the server starts, or read from a PEM file named in the configuration.
No private key is ever kept in the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

# The algorithms the sandbox can sign id_tokens with, and the key each needs.
_KEY_TYPES: dict[str, type[RSAKey] | type[ECKey]] = {"RS256": RSAKey, "ES384": ECKey}
_GENERATORS: dict[str, Callable[[], RSAKey | ECKey]] = {
    "RS256": lambda: RSAKey.generate_key(2048),
    "ES384": lambda: ECKey.generate_key("P-384"),
}
SIGNING_ALGORITHMS = tuple(_KEY_TYPES)


class SigningKeyError(ValueError):
    """The configured signing key cannot be used."""


@dataclass(frozen=True)
class SigningKey:
    """A private key with its algorithm and key id."""

    key: RSAKey | ECKey
    alg: str

    @property
    def kid(self) -> str:
        """Return the key id (the RFC 7638 thumbprint)."""
        return self.key.thumbprint()

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign ``claims`` as a compact JWT with this key."""
        header = {"alg": self.alg, "kid": self.kid}
        return jwt.encode(header, claims, self.key, algorithms=[self.alg])

    def jwks(self) -> dict[str, Any]:
        """Return the public half as a JWK Set."""
        public = self.key.as_dict(private=False, kid=self.kid, alg=self.alg, use="sig")
        return {"keys": [public]}


def load_signing_key(alg: str, pem_file: str | None = None) -> SigningKey:
    """Read the signing key from ``pem_file``, or generate a fresh one when no file is given."""
    key_type = _KEY_TYPES.get(alg)
    if key_type is None:
        raise SigningKeyError(f"signing algorithm must be one of {SIGNING_ALGORITHMS}")
    if pem_file is None:
        return SigningKey(_GENERATORS[alg](), alg)
    kind = key_type.key_type
    try:
        key = key_type.import_key(Path(pem_file).read_bytes())
    except (OSError, JoseError, ValueError) as error:
        raise SigningKeyError(f"cannot read a private {kind} key from {pem_file}") from error
    if not key.is_private:
        raise SigningKeyError(f"{pem_file} holds a public key; the sandbox needs a private key")
    return SigningKey(key, alg)
