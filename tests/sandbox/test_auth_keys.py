"""The signing key: generated at start or read from a PEM file; id_tokens verify against JWKS."""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from sandbox.auth.keys import SigningKeyError, load_signing_key
from tests.sandbox.auth_testkit import AuthSandbox


def test_by_default_a_fresh_rs256_key_signs_id_tokens() -> None:
    first, second = AuthSandbox.build(signing_alg="RS256"), AuthSandbox.build(signing_alg="RS256")
    token = first.ehr_tokens()
    assert first.id_token_claims(token)["aud"] == "public-app"
    (key,) = first.http.get("/auth/jwks").get_json()["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    other = second.http.get("/auth/jwks").get_json()["keys"][0]
    assert other["kid"] != key["kid"], "each server start has its own key"


def test_the_key_can_come_from_a_pem_file(tmp_path: Path) -> None:
    # A test fixture key, generated for this test run only.
    key = RSAKey.generate_key(2048)
    pem = tmp_path / "test-only-signing-key.pem"
    pem.write_bytes(key.as_pem(private=True))

    sandbox = AuthSandbox.build(signing_alg="RS256", signing_key_file=str(pem))

    published = sandbox.http.get("/auth/jwks").get_json()["keys"][0]
    assert published["kid"] == key.thumbprint()
    assert sandbox.id_token_claims(sandbox.ehr_tokens())["sub"] == "Practitioner/dr-1"


def test_a_public_key_file_is_refused(tmp_path: Path) -> None:
    pem = tmp_path / "public.pem"
    pem.write_bytes(RSAKey.generate_key(2048).as_pem(private=False))
    with pytest.raises(SigningKeyError, match="public key"):
        load_signing_key("RS256", str(pem))


def test_a_missing_or_wrong_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signing_key("ES384", str(tmp_path / "absent.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signing_key("ES384", str(garbage))
