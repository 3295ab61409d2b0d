"""SMART_ISSUERS: the issuer allowlist and each client registration, validated at start-up."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey, RSAKey

from smart_app.errors import MissingIssuer, UnknownIssuer
from smart_app.registrations import load_registrations, registration_for

ISS = "https://ehr.example.test/fhir"


def test_json_text_is_accepted_and_trailing_slashes_ignored() -> None:
    registrations = load_registrations(json.dumps({ISS + "/": {"client_id": "app"}}))
    registration = registration_for(registrations, ISS + "/")
    assert (registration.iss, registration.client_id, registration.auth) == (ISS, "app", "public")


def test_lookups_refuse_unknown_and_missing_issuers() -> None:
    registrations = load_registrations({ISS: {"client_id": "app"}})
    with pytest.raises(UnknownIssuer):
        registration_for(registrations, "https://ehr.example.test/fhir2")
    with pytest.raises(MissingIssuer):
        registration_for(registrations, None)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({}, "client_id is required"),
        ({"client_id": "a", "auth": "client_secret_post"}, "auth must be one of"),
        ({"client_id": "a", "auth": "client_secret_basic"}, "needs client_secret"),
        ({"client_id": "a", "auth": "private_key_jwt"}, "needs jwk or private_key_path"),
        ({"client_id": "a", "scopes": ["x"]}, "space-separated"),
        (
            {
                "client_id": "a",
                "auth": "private_key_jwt",
                "jwk": RSAKey.generate_key(2048).as_dict(private=False),
            },
            "public key",
        ),
        (
            {
                "client_id": "a",
                "auth": "private_key_jwt",
                "jwk": ECKey.generate_key("P-256").as_dict(private=True),
            },
            "P-384",
        ),
    ],
)
def test_configuration_mistakes_are_named(entry, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        load_registrations({ISS: entry})


def test_the_key_must_be_a_fhir_base_url() -> None:
    with pytest.raises(ValueError, match="FHIR base URL"):
        load_registrations({"ehr": {"client_id": "a"}})


def test_a_secret_stays_out_of_reprs() -> None:
    registrations = load_registrations(
        {ISS: {"client_id": "a", "auth": "client_secret_basic", "client_secret": "s3cr3t"}}
    )
    assert "s3cr3t" not in repr(registrations)


@pytest.mark.parametrize("form", ["pem", "jwk-file"])
def test_private_keys_load_from_a_file(tmp_path, form) -> None:
    key = ECKey.generate_key("P-384")
    path = tmp_path / "key"
    if form == "pem":
        path.write_bytes(key.as_pem(private=True))
    else:
        path.write_text(json.dumps(key.as_dict(private=True)))
    registrations = load_registrations(
        {ISS: {"client_id": "a", "auth": "private_key_jwt", "private_key_path": str(path)}}
    )
    loaded = registrations[ISS]
    assert loaded.signing_alg == "ES384"
    # Without a kid in the file, the RFC 7638 thumbprint names the key.
    assert loaded.private_key is not None
    assert loaded.private_key.kid == key.thumbprint()
