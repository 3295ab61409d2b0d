"""The sandbox's one settings object refuses a bad value when it is built, naming the setting."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import ECKey

from sandbox.settings import SandboxSettingsError
from tests.sandbox.ehr_testkit import sandbox_settings

UPSTREAM = "http://127.0.0.1:9/fhir"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"public_base": "localhost:8101"}, "public_base"),
        ({"fhir_upstream": "http://127.0.0.1:9/fhir?x=1"}, "fhir_upstream"),
        ({"cds_services_url": 8102}, "cds_services_url"),
        ({"user": "dr-1"}, "user"),
        ({"auto_approve": "yes"}, "auto_approve"),
        ({"cds_key": ECKey.generate_key("P-256")}, "cds_key"),
        ({"cds_timeout": 0}, "cds_timeout"),
        ({"upstream_timeout": True}, "upstream_timeout"),
        ({"max_body_bytes": 1.5}, "max_body_bytes"),
        ({"clients": ({"client_id": "a"},)}, "clients: client a: 'redirect_uris'"),
        ({"clients": "ldn-app"}, "clients"),
    ],
)
def test_a_bad_setting_stops_the_sandbox_before_it_starts(
    changes: dict[str, Any], message: str
) -> None:
    values = {"fhir_upstream": UPSTREAM, **changes}
    with pytest.raises(SandboxSettingsError, match=message):
        sandbox_settings(**values)


def test_client_registrations_are_checked_into_clients_once() -> None:
    registration = {"client_id": "ldn-app", "redirect_uris": ["http://127.0.0.1:9/callback"]}
    settings = sandbox_settings(UPSTREAM, clients=(registration,))
    (client,) = settings.registered_clients
    assert (client.client_id, client.redirect_uris) == ("ldn-app", ("http://127.0.0.1:9/callback",))


def test_the_settings_are_frozen_and_urls_lose_a_trailing_slash() -> None:
    settings = sandbox_settings(UPSTREAM + "/", public_base="http://localhost:8101/")
    assert settings.fhir_upstream == UPSTREAM
    assert settings.fhir_base == "http://localhost:8101/fhir"
    with pytest.raises(AttributeError):
        settings.user = "Practitioner/other"  # type: ignore[misc]
