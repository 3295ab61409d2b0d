"""Each leg of the SMART launch (discover, begin, complete, refresh) against a fake EHR."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from smart_app.errors import (
    AuthorizationDenied,
    DiscoveryFailed,
    InvalidIdToken,
    LaunchExpired,
    MissingIssuer,
    StateMismatch,
    TokenExchangeFailed,
    UnknownIssuer,
)
from smart_app.launch import (
    APP_CONTEXT_LIMIT,
    LaunchContext,
    PendingLaunch,
    begin,
    complete,
    discover,
    refresh_if_needed,
)
from smart_app.registrations import load_registrations

ISS = "https://ehr.example.test/fhir"
CLIENT_ID = "ldn-app"
REDIRECT = "https://app.example.test/callback"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def form(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body).items()}


@pytest.fixture
def pending(ehr, registrations) -> PendingLaunch:
    _, pending = begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT, launch="L1")
    return pending


def callback(pending: PendingLaunch, **extra: str) -> dict[str, str]:
    return {"code": "the-code", "state": pending.state, **extra}


# -- discover ----------------------------------------------------------------------------


def test_discovery_reads_the_well_known_smart_configuration(ehr, registrations) -> None:
    ehr.serve_discovery()
    config = discover(ISS + "/", registrations)
    assert config.authorization_endpoint == ehr.authorize_url
    assert config.token_endpoint == ehr.token_url
    assert config.jwks_uri == ehr.jwks_url
    assert config.supports_scopes_v2
    assert [c.request.url for c in ehr.http.calls] == [ehr.discovery_url]


def test_an_unknown_issuer_is_refused_before_any_fetch(ehr, registrations) -> None:
    with pytest.raises(UnknownIssuer):
        discover("https://attacker.example.test/fhir", registrations)
    assert len(ehr.http.calls) == 0


@pytest.mark.parametrize("iss", [None, "", "  "])
def test_a_missing_issuer_is_refused(ehr, registrations, iss) -> None:
    with pytest.raises(MissingIssuer):
        discover(iss, registrations)  # type: ignore[arg-type]
    assert len(ehr.http.calls) == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 404, "json": {}},
        {"status": 500, "body": "oops"},
        {"status": 200, "body": "<html>"},
        {"status": 200, "json": ["not", "an", "object"]},
        {"status": 200, "json": {"authorization_endpoint": "https://ehr.example.test/a"}},
        {"status": 200, "json": {"authorization_endpoint": "javascript:x", "token_endpoint": "x"}},
        {"body": requests.ConnectionError("refused")},
    ],
)
def test_discovery_failures_are_reported(ehr, registrations, answer) -> None:
    ehr.http.get(ehr.discovery_url, **answer)
    with pytest.raises(DiscoveryFailed):
        discover(ISS, registrations)


# -- begin -------------------------------------------------------------------------------


def test_begin_builds_the_smart_authorize_url(ehr, registrations) -> None:
    url, pending = begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT, launch="L1")
    assert url.startswith(ehr.authorize_url + "?")
    params = query(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == REDIRECT
    assert params["launch"] == "L1"
    assert params["aud"] == ISS
    assert params["state"] == pending.state
    assert params["nonce"] == pending.nonce
    assert params["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert params["scope"].split() == list(pending.requested_scopes)
    assert "patient/CarePlan.cu" in pending.requested_scopes
    assert "launch" in pending.requested_scopes
    assert len(ehr.http.calls) == 0


def test_state_and_verifier_are_fresh_and_long(ehr, registrations) -> None:
    pendings = [
        begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT)[1] for _ in range(20)
    ]
    assert len({p.state for p in pendings}) == 20
    # token_urlsafe(32): 43 characters of 6 bits each, well above SMART's 122 bits.
    assert all(len(p.state) >= 43 for p in pendings)
    assert all(43 <= len(p.code_verifier) <= 128 for p in pendings)


def test_v1_scopes_when_the_server_lacks_permission_v2(ehr, registrations) -> None:
    url, _ = begin(ehr.config(capabilities=()), registrations[ISS], redirect_uri=REDIRECT)
    scope = query(url)["scope"].split()
    assert "patient/MedicationStatement.read" in scope
    assert "patient/CarePlan.write" in scope
    assert not any(s.endswith((".rs", ".cu", ".c", ".r")) for s in scope)


def test_standalone_launch_asks_for_a_patient_picker(ehr, registrations) -> None:
    url, _ = begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT)
    params = query(url)
    assert "launch" not in params
    assert "launch/patient" in params["scope"].split()
    assert "launch" not in params["scope"].split()


def test_configured_scopes_replace_the_data_scopes(ehr) -> None:
    registrations = load_registrations(
        {ISS: {"client_id": CLIENT_ID, "scopes": "patient/MedicationRequest.rs"}}
    )
    url, _ = begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT, launch="L")
    assert query(url)["scope"].split() == [
        "patient/MedicationRequest.rs",
        "launch",
        "openid",
        "fhirUser",
        "offline_access",
    ]


# -- complete ----------------------------------------------------------------------------


def test_complete_exchanges_the_code_and_returns_the_context(ehr, registrations, pending) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce))
    ehr.serve_jwks()
    now = time.time()
    ctx = complete(pending, callback(pending), registrations, now=now)
    token_request = ehr.http.calls[0].request
    assert form(token_request) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT,
        "code_verifier": pending.code_verifier,
        "client_id": CLIENT_ID,
    }
    assert "Authorization" not in token_request.headers
    assert ctx.access_token == "the-access-token"
    assert ctx.refresh_token == "the-refresh-token"
    assert ctx.expires_at == int(now + 3600)
    assert ctx.patient == "pat-123"
    assert ctx.encounter == "enc-9"
    assert ctx.fhir_context == ({"reference": "Encounter/enc-9"},)
    assert ctx.need_patient_banner is False
    assert ctx.smart_style_url == "https://ehr.example.test/style.json"
    assert ctx.fhir_user == f"{ISS}/Practitioner/practitioner-1"
    assert ctx.can_review_medications
    assert ctx.can_save_to_chart
    assert ctx.missing_scopes == ()
    assert "the-access-token" not in repr(ctx)


def test_a_missing_banner_flag_shows_the_banner(ehr, registrations, pending) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce, need_patient_banner=None))
    ehr.serve_jwks()
    assert complete(pending, callback(pending), registrations).need_patient_banner is True


CARD_CONTEXT = (
    '{"service":"ldn-naltrexone-order-select","hookInstance":"h-1",'
    '"order":"MedicationRequest/draft-1","orderLabel":"low-dose naltrexone 1.5 mg",'
    '"status":"do-not-start"}'
)


@pytest.mark.parametrize(
    "app_context",
    [CARD_CONTEXT, "not JSON {", "é" * (APP_CONTEXT_LIMIT // 2)],
    ids=["card-json", "bad-json", "at-the-limit"],
)
def test_the_cards_app_context_is_kept_as_opaque_text(
    ehr, registrations, pending, app_context
) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce, appContext=app_context))
    ehr.serve_jwks()
    ctx = complete(pending, callback(pending), registrations)
    assert ctx.app_context == app_context  # as sent: not parsed, not rewritten
    assert LaunchContext.from_dict(ctx.to_dict()).app_context == app_context
    assert app_context not in repr(ctx)


def test_a_launch_without_app_context_has_none(ehr, registrations, pending) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce))
    ehr.serve_jwks()
    ctx = complete(pending, callback(pending), registrations)
    assert ctx.app_context is None
    stored_before_the_field_existed = {k: v for k, v in ctx.to_dict().items() if k != "app_context"}
    assert LaunchContext.from_dict(stored_before_the_field_existed).app_context is None


@pytest.mark.parametrize(
    "app_context",
    [
        "secret-order-" + "x" * APP_CONTEXT_LIMIT,
        {"order": "secret-order"},
        ["secret-order"],
        "secret-order-\ud800",
    ],
    ids=["too-long", "object", "array", "lone-surrogate"],
)
def test_an_unusable_app_context_is_dropped_with_a_warning_that_quotes_nothing(
    ehr, registrations, pending, app_context, caplog
) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce, appContext=app_context))
    ehr.serve_jwks()
    with caplog.at_level("WARNING", logger="ldn.smart_app"):
        ctx = complete(pending, callback(pending), registrations)
    assert ctx.app_context is None
    assert ctx.patient == "pat-123"  # the launch itself goes on
    (record,) = [r for r in caplog.records if r.name == "ldn.smart_app"]
    assert record.event == "smart_app_context_dropped"
    assert "secret-order" not in record.getMessage()


@pytest.mark.parametrize("state", ["", "forged-state"])
def test_a_state_that_does_not_match_is_refused(ehr, registrations, pending, state) -> None:
    with pytest.raises(StateMismatch):
        complete(pending, {"code": "c", "state": state}, registrations)
    assert len(ehr.http.calls) == 0


def test_no_pending_launch_is_a_state_mismatch(ehr, registrations) -> None:
    with pytest.raises(StateMismatch):
        complete(None, {"code": "c", "state": "s"}, registrations)
    assert len(ehr.http.calls) == 0


def test_an_oauth_error_is_reported_with_its_description(ehr, registrations, pending) -> None:
    args = {"state": pending.state, "error": "access_denied", "error_description": "User said no"}
    with pytest.raises(AuthorizationDenied) as caught:
        complete(pending, args, registrations)
    assert caught.value.error == "access_denied"
    assert "User said no" in caught.value.explanation
    assert len(ehr.http.calls) == 0


def test_a_callback_without_code_fails(registrations, pending) -> None:
    with pytest.raises(TokenExchangeFailed):
        complete(pending, {"state": pending.state}, registrations)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_grant", "error_description": "code expired"}),
        (500, {"oops": True}),
        (200, {"token_type": "Bearer"}),
        (200, {"access_token": "t", "token_type": "mac"}),
    ],
)
def test_token_endpoint_failures(ehr, registrations, pending, status, body) -> None:
    ehr.serve_token(body, status=status)
    with pytest.raises(TokenExchangeFailed):
        complete(pending, callback(pending), registrations)


def test_token_endpoint_unreachable(ehr, registrations, pending) -> None:
    ehr.http.post(ehr.token_url, body=requests.ConnectionError("refused"))
    with pytest.raises(TokenExchangeFailed):
        complete(pending, callback(pending), registrations)


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-app"},
        {"iss": "https://other-issuer.example.test"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "replayed-nonce"},
        {"sub": None},
    ],
    ids=["wrong-aud", "wrong-iss", "expired", "wrong-nonce", "no-sub"],
)
def test_id_token_claims_are_checked(ehr, registrations, pending, claims) -> None:
    id_token = ehr.id_token(**{"nonce": pending.nonce, **claims})
    ehr.serve_token(ehr.token_response(pending.nonce, id_token=id_token))
    ehr.serve_jwks()
    with pytest.raises(InvalidIdToken):
        complete(pending, callback(pending), registrations)


def test_an_id_token_signed_by_another_key_is_refused(ehr, registrations, pending) -> None:
    forger = RSAKey.generate_key(2048)
    ehr.serve_token(
        ehr.token_response(pending.nonce, id_token=ehr.id_token(pending.nonce, key=forger))
    )
    ehr.serve_jwks()
    with pytest.raises(InvalidIdToken):
        complete(pending, callback(pending), registrations)


def test_an_openid_grant_without_id_token_is_refused(ehr, registrations, pending) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce, id_token=None))
    with pytest.raises(InvalidIdToken):
        complete(pending, callback(pending), registrations)


def test_a_narrower_grant_limits_what_the_app_offers(ehr, registrations, pending) -> None:
    scope = "patient/Patient.r patient/MedicationStatement.rs patient/MedicationRequest.rs launch"
    ehr.serve_token(ehr.token_response(pending.nonce, scope=scope, id_token=None))
    ctx = complete(pending, callback(pending), registrations)
    assert ctx.can_review_medications
    assert not ctx.can_write_careplan
    assert not ctx.can_write_document_reference
    assert not ctx.can_save_to_chart
    assert "patient/CarePlan.cu" in ctx.missing_scopes
    assert "patient/DocumentReference.c" in ctx.missing_scopes


def test_a_v1_grant_is_understood(ehr, registrations, pending) -> None:
    ehr.serve_token(ehr.token_response(pending.nonce, scope="patient/*.read", id_token=None))
    ctx = complete(pending, callback(pending), registrations)
    assert ctx.can_review_medications
    assert not ctx.can_save_to_chart


def test_client_secret_basic_sends_an_authorization_header(ehr) -> None:
    registrations = load_registrations(
        {ISS: {"client_id": CLIENT_ID, "auth": "client_secret_basic", "client_secret": "s3cr3t"}}
    )
    _, pending = begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT, launch="L")
    ehr.serve_token(ehr.token_response(pending.nonce))
    ehr.serve_jwks()
    complete(pending, callback(pending), registrations)
    request = ehr.http.calls[0].request
    expected = base64.b64encode(f"{CLIENT_ID}:s3cr3t".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert "s3cr3t" not in (request.body or "")


@pytest.mark.parametrize(
    ("key", "alg"),
    [(ECKey.generate_key("P-384", auto_kid=True), "ES384"), (RSAKey.generate_key(2048), "RS384")],
    ids=["ES384", "RS384"],
)
def test_private_key_jwt_sends_a_verifiable_assertion(ehr, key, alg) -> None:
    registrations = load_registrations(
        {ISS: {"client_id": CLIENT_ID, "auth": "private_key_jwt", "jwk": key.as_dict(private=True)}}
    )
    _, pending = begin(ehr.config(), registrations[ISS], redirect_uri=REDIRECT, launch="L")
    ehr.serve_token(ehr.token_response(pending.nonce))
    ehr.serve_jwks()
    complete(pending, callback(pending), registrations)
    body = form(ehr.http.calls[0].request)
    assert body["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    public = type(key).import_key(key.as_dict(private=False))
    assertion = jwt.decode(body["client_assertion"], public, algorithms=[alg])
    assert assertion.header["alg"] == alg
    assert assertion.header["kid"] == registrations[ISS].private_key.kid  # type: ignore[union-attr]
    claims = assertion.claims
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == ehr.token_url
    assert claims["jti"]
    assert claims["exp"] <= time.time() + 300
    assert "Authorization" not in ehr.http.calls[0].request.headers


# -- refresh -----------------------------------------------------------------------------


@pytest.fixture
def ctx(ehr, registrations, pending):
    ehr.serve_token(ehr.token_response(pending.nonce))
    ehr.serve_jwks()
    context = complete(pending, callback(pending), registrations)
    ehr.http.reset()
    return context


def test_a_fresh_token_is_not_refreshed(ehr, registrations, ctx) -> None:
    assert refresh_if_needed(ctx, time.time(), registrations=registrations) is ctx
    assert len(ehr.http.calls) == 0


def test_a_token_about_to_expire_is_refreshed(ehr, registrations, ctx) -> None:
    ctx = replace(ctx, app_context=CARD_CONTEXT)
    ehr.serve_token({"access_token": "renewed", "token_type": "Bearer", "expires_in": 600})
    renewed = refresh_if_needed(ctx, ctx.expires_at - 30, registrations=registrations)
    assert form(ehr.http.calls[0].request)["grant_type"] == "refresh_token"
    assert form(ehr.http.calls[0].request)["refresh_token"] == "the-refresh-token"
    assert renewed.access_token == "renewed"
    assert renewed.expires_at == ctx.expires_at - 30 + 600
    assert renewed.refresh_token == "the-refresh-token"
    assert renewed.patient == ctx.patient
    assert renewed.granted_scopes == ctx.granted_scopes
    assert renewed.app_context == CARD_CONTEXT  # a refresh keeps where the launch came from


def test_a_refused_refresh_ends_the_launch(ehr, registrations, ctx) -> None:
    ehr.serve_token({"error": "invalid_grant"}, status=400)
    with pytest.raises(LaunchExpired):
        refresh_if_needed(ctx, ctx.expires_at, registrations=registrations)


def test_an_expired_token_without_refresh_token_ends_the_launch(registrations, ctx) -> None:
    without = replace(ctx, refresh_token=None)
    assert refresh_if_needed(without, without.expires_at - 30, registrations=registrations)
    with pytest.raises(LaunchExpired):
        refresh_if_needed(without, without.expires_at + 1, registrations=registrations)
