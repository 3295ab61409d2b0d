"""Trust the CDS Hooks Sandbox, the reference CDS client, for a try-out of the service.

The CDS Hooks Sandbox (github.com/cds-hooks/sandbox, hosted at sandbox.cds-hooks.org) signs every
call, discovery included, with one published ES384 key. Its header names that key (``kid``), says
``typ: JWT`` and always carries a ``jku``: the URL of its public JWK Set. Its claims are ``iss``
(its hosted origin, also when the client is run elsewhere), ``aud`` (the exact URL called),
``iat``, ``exp`` five minutes later, and a fresh UUID ``jti``. The public key below is the one
published at ``JWKS_URL``; the service keeps it as an inline, pinned copy, so a call from the
client never makes the service fetch anything.

Its private key is published in its repository too: anyone can sign as this issuer. Trust it
only in a deployment that holds no real patient data.
"""

from __future__ import annotations

import json
from typing import Any

ISSUER = "https://sandbox.cds-hooks.org"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"

# The JWK Set served at JWKS_URL (cds-hooks/sandbox, .well-known/jwks.json).
PUBLIC_JWKS: dict[str, Any] = {
    "keys": [
        {
            "kty": "EC",
            "use": "sig",
            "crv": "P-384",
            "kid": KID,
            "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
            "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
            "alg": "ES384",
        }
    ]
}


def trusted_client() -> dict[str, Any]:
    """Return the ``CDS_TRUSTED_CLIENTS`` entry for the client: its keys inline, its jku allowed."""
    return {"jwks": PUBLIC_JWKS, "jku": [JWKS_URL]}


def try_out_instructions(discovery_url: str, trusted: bool) -> list[str]:
    """Return the lines that tell a user how to try ``discovery_url`` in the CDS Hooks Sandbox."""
    entry = json.dumps({ISSUER: trusted_client()}, separators=(",", ":"))
    state = "trusts it already" if trusted else "needs these settings"
    return [
        f"Try the service in the CDS Hooks Sandbox (this service {state}; test data only):",
        f"  paste as CDS service discovery URL   {discovery_url}",
        f"  LDN_CDS_TRUSTED_CLIENTS='{entry}'",
        f"  LDN_CDS_CORS_ORIGINS='[\"{ISSUER}\"]'   (add the origin you run the client from)",
        "  A refused call is logged at WARNING as 'client JWT refused: <reason> (issuer ...)';",
        "  docs/cds-hooks.md, 'Trying the service in the CDS Hooks Sandbox', says what each means.",
    ]
