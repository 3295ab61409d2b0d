"""The client JWT check: real ES384/RS384 keys, real JWTs, and the whole rejection table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from cds_hooks.config import load_settings
from cds_hooks.errors import Unauthorized
from cds_hooks.security import ClientVerifier, JwksCache
from cds_hooks.store import CdsStore
from tests.cds_hooks.support import (
    ALT_JKU,
    BASE,
    INLINE_ISSUER,
    ISSUER,
    JWKS_URL,
    SELECT,
    SIGN,
    Signer,
    base_config,
    bearer,
    open_store,
)

AUD_PATH = f"/cds-services/{SIGN}"
AUDIENCE = BASE + AUD_PATH


@pytest.fixture
def store(database_url: str) -> Iterator[CdsStore]:
    store = CdsStore(database_url)
    yield store
    store.close()


@pytest.fixture
def verifier(tmp_path: Path, inline_key: ECKey) -> Iterator[ClientVerifier]:
    store = open_store(f"sqlite:///{tmp_path / 'jti.sqlite3'}")
    settings = load_settings(base_config(tmp_path, inline_key))
    jwks = JwksCache(ttl=300, min_refresh=0, timeout=1)

    def remember(issuer: str, jti: str, keep_until: int) -> bool:
        return store.remember_jti(issuer, jti, keep_until, now=int(time.time()))

    yield ClientVerifier(settings, jwks, remember)
    store.close()


def _refused(verifier: ClientVerifier, token: str | None, audience: str = AUDIENCE) -> str:
    header = None if token is None else f"Bearer {token}"
    with pytest.raises(Unauthorized) as raised:
        verifier.verify(header, audience)
    return raised.value.reason


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_es384_and_rs384_tokens_are_accepted(
    verifier: ClientVerifier, sign: Signer, rs_key: Any
) -> None:
    assert verifier.verify(f"Bearer {sign(AUD_PATH)}", AUDIENCE).issuer == ISSUER
    assert verifier.verify(f"Bearer {sign(AUD_PATH, key=rs_key)}", AUDIENCE).issuer == ISSUER


def test_audience_may_be_a_list_and_tenant_is_kept(verifier: ClientVerifier, sign: Signer) -> None:
    token = sign(AUD_PATH, aud=[AUDIENCE], tenant="org-7")
    assert verifier.verify(f"Bearer {token}", AUDIENCE).tenant == "org-7"


def test_inline_jwks_issuer_is_accepted(
    verifier: ClientVerifier, sign: Signer, inline_key: ECKey
) -> None:
    token = sign(AUD_PATH, key=inline_key, iss=INLINE_ISSUER)
    assert verifier.verify(f"Bearer {token}", AUDIENCE).issuer == INLINE_ISSUER


def test_allowlisted_jku_is_used(
    verifier: ClientVerifier, sign: Signer, mocked: responses.RequestsMock
) -> None:
    rotated = ECKey.generate_key("P-384", parameters={"kid": "rotated"})
    mocked.get(ALT_JKU, json=KeySet([rotated]).as_dict(private=False))
    token = sign(AUD_PATH, key=rotated, header={"jku": ALT_JKU})
    assert verifier.verify(f"Bearer {token}", AUDIENCE).issuer == ISSUER


def test_unknown_kid_refreshes_the_jwks_once(
    verifier: ClientVerifier, sign: Signer, es_key: ECKey, mocked: responses.RequestsMock
) -> None:
    assert verifier.verify(f"Bearer {sign(AUD_PATH)}", AUDIENCE)
    new_key = ECKey.generate_key("P-384", parameters={"kid": "next-key"})
    mocked.replace(responses.GET, JWKS_URL, json=KeySet([es_key, new_key]).as_dict(private=False))
    assert verifier.verify(f"Bearer {sign(AUD_PATH, key=new_key)}", AUDIENCE).issuer == ISSUER
    assert len([c for c in mocked.calls if c.request.url == JWKS_URL]) == 2


def test_unknown_kid_after_refresh_is_refused(
    verifier: ClientVerifier, sign: Signer, mocked: responses.RequestsMock
) -> None:
    stranger = ECKey.generate_key("P-384", parameters={"kid": "stranger"})
    assert _refused(verifier, sign(AUD_PATH, key=stranger)) == "unknown-kid"


def test_refresh_is_rate_limited(
    sign: Signer, es_key: ECKey, mocked: responses.RequestsMock
) -> None:
    clock = [100.0]
    cache = JwksCache(ttl=300, min_refresh=10, timeout=1, clock=lambda: clock[0])
    cache.get(JWKS_URL)
    cache.get(JWKS_URL, refresh=True)
    clock[0] += 11
    cache.get(JWKS_URL, refresh=True)
    assert len([c for c in mocked.calls if c.request.url == JWKS_URL]) == 2


def _now() -> int:
    return int(time.time())


REFUSALS = [
    (
        "alg none",
        lambda sign, keys: _unsigned(
            {"alg": "none", "typ": "JWT", "kid": "ehr-es384"},
            {"iss": ISSUER, "aud": AUDIENCE, "exp": _now() + 60, "iat": _now(), "jti": "n1"},
        ),
        "algorithm-not-allowed",
    ),
    (
        "HMAC",
        lambda sign, keys: jwt.encode(
            {"alg": "HS384", "typ": "JWT", "kid": "ehr-es384"},
            {"iss": ISSUER, "aud": AUDIENCE, "exp": _now() + 60, "iat": _now(), "jti": "h1"},
            OctKey.generate_key(384),
            algorithms=["HS384"],
        ),
        "algorithm-not-allowed",
    ),
    (
        "ES256",
        lambda sign, keys: jwt.encode(
            {"alg": "ES256", "typ": "JWT", "kid": "ehr-es384"},
            {"iss": ISSUER, "aud": AUDIENCE, "exp": _now() + 60, "iat": _now(), "jti": "e1"},
            ECKey.generate_key("P-256"),
            algorithms=["ES256"],
        ),
        "algorithm-not-allowed",
    ),
    (
        "signed by another key with our kid",
        lambda sign, keys: sign(
            AUD_PATH, key=ECKey.generate_key("P-384", parameters={"kid": "ehr-es384"})
        ),
        "rejected-bad_signature",
    ),
    (
        "unknown issuer",
        lambda sign, keys: sign(AUD_PATH, iss="https://evil.example.test"),
        "unknown-issuer",
    ),
    ("no kid", lambda sign, keys: sign(AUD_PATH, header={"kid": None}), "missing-kid"),
    (
        "jku not allowlisted",
        lambda sign, keys: sign(AUD_PATH, header={"jku": "https://evil.example.test/jwks.json"}),
        "jku-not-allowed",
    ),
    ("wrong typ", lambda sign, keys: sign(AUD_PATH, header={"typ": "at+jwt"}), "wrong-typ"),
    (
        "expired",
        lambda sign, keys: sign(AUD_PATH, exp=_now() - 120, iat=_now() - 400),
        "rejected-expired_token",
    ),
    (
        "issued in the future",
        lambda sign, keys: sign(AUD_PATH, iat=_now() + 600, exp=_now() + 900),
        "rejected-iat-in-future",
    ),
    (
        "expiring in 2100",
        lambda sign, keys: sign(AUD_PATH, exp=4_102_444_800),
        "rejected-lifetime-too-long",
    ),
    (
        "issued a day ago, still current",
        lambda sign, keys: sign(AUD_PATH, iat=_now() - 86_400, exp=_now() + 60),
        "rejected-lifetime-too-long",
    ),
    (
        "living six minutes",
        lambda sign, keys: sign(AUD_PATH, iat=_now(), exp=_now() + 360),
        "rejected-lifetime-too-long",
    ),
    ("exp 1e20", lambda sign, keys: sign(AUD_PATH, exp=1e20), "rejected-exp-out-of-range"),
    ("iat 1e20", lambda sign, keys: sign(AUD_PATH, iat=1e20), "rejected-iat-out-of-range"),
    ("negative iat", lambda sign, keys: sign(AUD_PATH, iat=-1), "rejected-iat-out-of-range"),
    ("exp as text", lambda sign, keys: sign(AUD_PATH, exp="tomorrow"), "rejected-exp-not-a-number"),
    ("exp true", lambda sign, keys: sign(AUD_PATH, exp=True), "rejected-exp-not-a-number"),
    ("nbf 1e20", lambda sign, keys: sign(AUD_PATH, nbf=1e20), "rejected-nbf-out-of-range"),
    (
        "wrong audience",
        lambda sign, keys: sign(AUD_PATH, aud="https://elsewhere.example.test"),
        "rejected-invalid_claim",
    ),
    (
        "audience of the other service",
        lambda sign, keys: sign(AUD_PATH, aud=f"{BASE}/cds-services/{SELECT}"),
        "rejected-invalid_claim",
    ),
    (
        "audience of the feedback endpoint",
        lambda sign, keys: sign(AUD_PATH, aud=f"{BASE}{AUD_PATH}/feedback"),
        "rejected-invalid_claim",
    ),
    ("missing jti", lambda sign, keys: sign(AUD_PATH, jti=None), "rejected-missing_claim"),
    ("missing exp", lambda sign, keys: sign(AUD_PATH, exp=None), "rejected-missing_claim"),
    ("missing iat", lambda sign, keys: sign(AUD_PATH, iat=None), "rejected-missing_claim"),
    ("garbage", lambda sign, keys: "not-a-jwt", "malformed-token"),
]


@pytest.mark.parametrize(
    ("make", "reason"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_token_is_refused(verifier: ClientVerifier, sign: Signer, make: Any, reason: str) -> None:
    assert _refused(verifier, make(sign, None)) == reason


def test_missing_or_non_bearer_header_is_refused(verifier: ClientVerifier, sign: Signer) -> None:
    assert _refused(verifier, None) == "no-bearer-token"
    with pytest.raises(Unauthorized):
        verifier.verify(f"Basic {sign(AUD_PATH)}", AUDIENCE)


def test_replayed_jti_is_refused(verifier: ClientVerifier, sign: Signer) -> None:
    token = sign(AUD_PATH)
    verifier.verify(f"Bearer {token}", AUDIENCE)
    assert _refused(verifier, token) == "replayed-jti"


def test_replay_cache_survives_a_new_store(database_url: str) -> None:
    # Another worker (another store on the same database) must see the jti too.
    first, second = CdsStore(database_url), CdsStore(database_url)
    try:
        assert first.remember_jti(ISSUER, "j-1", _now() + 60, now=_now())
        assert not second.remember_jti(ISSUER, "j-1", _now() + 60, now=_now())
        assert second.remember_jti(INLINE_ISSUER, "j-1", _now() + 60, now=_now())
    finally:
        first.close()
        second.close()


def test_expired_jti_rows_are_forgotten(store: CdsStore) -> None:
    assert store.remember_jti(ISSUER, "old", 1000, now=500)
    assert store.remember_jti(ISSUER, "other", 5000, now=2000)
    # "old" was kept until 1000; at 2000 the token is refused as expired anyway.
    assert store.remember_jti(ISSUER, "old", 9000, now=2000)


def test_unreachable_jwks_is_refused(
    verifier: ClientVerifier, sign: Signer, mocked: responses.RequestsMock
) -> None:
    mocked.replace(responses.GET, JWKS_URL, status=503)
    assert _refused(verifier, sign(AUD_PATH)) == "jwks-unavailable"


@pytest.mark.parametrize(
    "claims",
    [{"exp": 1e20}, {"exp": 10**30}, {"iat": -(10**30)}, {"exp": 4_102_444_800}, {"exp": "x"}],
    ids=["exp-1e20", "exp-huge-int", "iat-huge-negative", "exp-2100", "exp-text"],
)
def test_out_of_range_times_answer_401_not_503(
    client: FlaskClient, sign: Signer, claims: dict[str, Any]
) -> None:
    path = f"/cds-services/{SELECT}"
    response = client.post(path, json={}, headers=bearer(sign(path, **claims)))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
