"""Fixtures for the CDS Hooks service: a test app with its own SQLite file, real ES384 and RS384
client keys made at test time, a signer of real JWTs, and the FHIR server and JWKS endpoints
mocked at the transport with ``responses``. ``database_url`` runs a store test twice: on an
SQLite file and on a real PostgreSQL database, both migrated to the head revision.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from cds_hooks import schema
from cds_hooks.store import store_engine
from tests.cds_hooks.support import BASE, ISSUER, JWKS_URL, Signer, base_config, make_app


@pytest.fixture(scope="session")
def es_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "ehr-es384"})


@pytest.fixture(scope="session")
def rs_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "ehr-rs384"})


@pytest.fixture(scope="session")
def inline_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "other-es384"})


@pytest.fixture(scope="session")
def public_jwks(es_key: ECKey, rs_key: RSAKey) -> dict[str, Any]:
    return KeySet([es_key, rs_key]).as_dict(private=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of an empty store database at the head revision, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = store_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def config(tmp_path: Path, inline_key: ECKey) -> dict[str, Any]:
    return base_config(tmp_path, inline_key)


@pytest.fixture
def app(config: dict[str, Any]) -> Iterator[Flask]:
    app = make_app(config)
    yield app
    app.extensions["cds_hooks"].store.close()


@pytest.fixture
def mocked(public_jwks: dict[str, Any]) -> Iterator[responses.RequestsMock]:
    """Mock every outbound HTTP call; the client's JWKS is served at JWKS_URL."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json=public_jwks)
        yield mock


@pytest.fixture
def sign(es_key: ECKey, mocked: responses.RequestsMock) -> Signer:
    """Return ``sign(path, key=..., header=..., **claims)``: a real JWT for ``BASE + path``.

    A claim given as ``None`` is left out; ``header`` entries given as ``None`` are left out.
    """

    def signer(
        path: str, *, key: Any = None, header: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        key = key or es_key
        now = int(time.time())
        alg = "ES384" if key.key_type == "EC" else "RS384"
        full_header = {"alg": alg, "typ": "JWT", "kid": key.kid, **(header or {})}
        payload = {
            "iss": ISSUER,
            "aud": BASE + path,
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        return jwt.encode(
            {k: v for k, v in full_header.items() if v is not None},
            {k: v for k, v in payload.items() if v is not None},
            key,
            algorithms=[full_header["alg"]],
        )

    return signer
