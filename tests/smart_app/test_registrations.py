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


LAUNCHER = "https://launch.smarthealthit.org/v/r4/sim/"
SIM = (
    "https://launch.smarthealthit.org/v/r4/sim/"
    "eyJoIjoiMSIsImIiOiI4N2EzMzlkMC04Y2FlLTQxOGUtODljNy04NjUxZTZhYWIzYzYifQ/fhir"
)


def test_a_prefix_entry_serves_each_launch_under_it_with_that_exact_issuer() -> None:
    registrations = load_registrations({LAUNCHER: {"client_id": "ldn-app", "match": "prefix"}})
    registration = registration_for(registrations, SIM)
    assert (registration.iss, registration.client_id) == (SIM, "ldn-app")
    assert registration.prefix is False  # what is returned is one FHIR base, not a pattern
    other = SIM.replace("eyJoIjoiMSIs", "eyJoIjoiMiIs")
    assert registration_for(registrations, other + "/").iss == other


@pytest.mark.parametrize(
    "iss",
    [
        "https://launch.smarthealthit.org.evil.example/v/r4/sim/abc/fhir",  # look-alike host
        "https://evil.example/launch.smarthealthit.org/v/r4/sim/abc/fhir",
        "https://launch.smarthealthit.org@evil.example/v/r4/sim/abc/fhir",  # user info
        "https://evil.example/?https://launch.smarthealthit.org/v/r4/sim/abc/fhir",
        "http://launch.smarthealthit.org/v/r4/sim/abc/fhir",  # another scheme
        "https://launch.smarthealthit.org:8443/v/r4/sim/abc/fhir",  # another port
        "https://launch.smarthealthit.org/v/r4/simulator/abc/fhir",  # not under the path
        "https://launch.smarthealthit.org/v/r4/sim/",  # the prefix itself is no FHIR base
        "https://launch.smarthealthit.org/v/r4/sim/../../auth/fhir",  # dot segments
        "https://launch.smarthealthit.org/v/r4/sim/%2e%2e/%2e%2e/x/fhir",  # encoded dots
        "https://launch.smarthealthit.org/v/r4/sim/abc%2F..%2F..%2Fx/fhir",  # encoded slash
        "https://launch.smarthealthit.org/v/r4/sim/abc/fhir?x=1",
        "https://launch.smarthealthit.org/v/r4/sim/abc/fhir#x",
        "https://launch.smarthealthit.org/v/r4/sim/a b/fhir",
        "https://launch.smarthealthit.org/v/r4/sim/a\\..\\fhir",
    ],
)
def test_a_look_alike_or_escaping_issuer_is_refused_under_a_prefix(iss: str) -> None:
    registrations = load_registrations({LAUNCHER: {"client_id": "ldn-app", "match": "prefix"}})
    with pytest.raises(UnknownIssuer):
        registration_for(registrations, iss)


def test_an_exact_entry_wins_over_a_prefix_and_a_longer_prefix_over_a_shorter() -> None:
    registrations = load_registrations(
        {
            "https://ehr.example.test/": {"client_id": "broad", "match": "prefix"},
            "https://ehr.example.test/tenants/": {"client_id": "tenants", "match": "prefix"},
            ISS: {"client_id": "exact"},
        }
    )
    assert registration_for(registrations, ISS).client_id == "exact"
    assert registration_for(registrations, "https://ehr.example.test/tenants/7/fhir").client_id == (
        "tenants"
    )
    assert registration_for(registrations, "https://ehr.example.test/r4").client_id == "broad"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("launch.smarthealthit.org", "not a host pattern"),
        ("https://*.smarthealthit.org/", "not a host pattern"),
        ("*.smarthealthit.org", "not a host pattern"),
        ("https://user@launch.smarthealthit.org/v/", "not a host pattern"),
        ("http://launch.smarthealthit.org/v/r4/sim/", "must use https"),
        ("https://launch.smarthealthit.org/v/r4/sim", "ending in '/'"),
        ("https://launch.smarthealthit.org/v/r4/sim/?a=1", "ending in '/'"),
        ("https://launch.smarthealthit.org/v/../sim/", "ending in '/'"),
    ],
)
def test_a_prefix_entry_must_be_a_url_prefix_on_one_origin(key: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        load_registrations({key: {"client_id": "a", "match": "prefix"}})


def test_a_prefix_on_loopback_may_use_http_and_match_must_be_known() -> None:
    registrations = load_registrations(
        {"http://127.0.0.1:9100/sim/": {"client_id": "a", "match": "prefix"}}
    )
    assert registration_for(registrations, "http://127.0.0.1:9100/sim/x/fhir").client_id == "a"
    with pytest.raises(UnknownIssuer):
        registration_for(registrations, "http://127.0.0.1:9101/sim/x/fhir")
    with pytest.raises(ValueError, match="match must be exact or prefix"):
        load_registrations({ISS: {"client_id": "a", "match": "glob"}})
