"""EHR launch: the app opens inside the EHR's cross-site iframe and shows the opioid review."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request

from sandbox.demo import Demo
from sandbox.patients import expectations
from tests.browser.browser_kit import WAIT_MS, open_app_in_ehr

KEY = "hydrocodone-stopped"
# The product's log (this process). The sandbox's own steps (authorization decided, token issued)
# happen in its gunicorn workers: "completed" comes only after their token endpoint answered.
LAUNCH_EVENTS = ("smart_launch_started", "smart_launch_completed")


@pytest.mark.browser
def test_an_ehr_launch_inside_the_cross_site_iframe_reaches_the_review(
    page: Page, demo: Demo, caplog: pytest.LogCaptureFixture
) -> None:
    expected = expectations(demo.today)[KEY]
    app_origin = demo.urls.product
    visited: list[str] = []

    def follow(request: Request) -> None:
        # Every hop of the iframe's navigation, redirects included.
        if request.is_navigation_request() and request.frame.parent_frame is not None:
            visited.append(request.url)

    page.on("request", follow)
    page.goto(demo.urls.ehr)
    page.locator(f'a[href="/ehr/patients/{demo.patient_ids[KEY]}"]').click()
    page.get_by_role("link", name="Launch the LDN app (EHR launch)").click()

    app = page.frame_locator("iframe.app")
    status = app.locator("#naltrexone-status")
    status.wait_for(timeout=WAIT_MS)
    assert status.get_attribute("data-status") == expected.status
    assert expected.earliest_start is not None
    assert expected.earliest_start.isoformat() in status.inner_text()
    assert app.get_by_role("heading", level=1).inner_text().startswith("Opioid review")

    # The EHR stays on localhost; the app went launch -> authorize (EHR) -> callback -> review.
    assert urlsplit(page.url).hostname == "localhost"
    steps = [(urlsplit(url).hostname, urlsplit(url).path) for url in visited]
    assert steps == [
        ("127.0.0.1", "/launch"),
        ("localhost", "/auth/authorize"),
        ("127.0.0.1", "/callback"),
        ("127.0.0.1", "/review"),
    ]

    # The code was exchanged for a token on the back channel (server to server, not seen here).
    events = [getattr(record, "event", None) for record in caplog.records]
    assert [e for e in events if e in LAUNCH_EVENTS] == list(LAUNCH_EVENTS)

    # The session survived as a partitioned cookie, keyed to the EHR's site.
    (session,) = [c for c in page.context.cookies(app_origin) if c["name"] == "ldn_session"]
    assert (session["secure"], session["sameSite"], session["httpOnly"]) == (True, "None", True)
    assert session.get("partitionKey") == "http://localhost"


@pytest.mark.browser
def test_the_browser_refuses_unpartitioned_third_party_cookies(page: Page, demo: Demo) -> None:
    # Without this, the launch test above could pass in a browser that lets every cookie through.
    open_app_in_ehr(page, demo, KEY)
    frame = page.frame(url=re.compile(re.escape(demo.urls.product)))
    assert frame is not None
    stored = frame.evaluate(
        """() => {
            document.cookie = "plain=1; SameSite=None; Secure; Path=/";
            document.cookie = "chips=1; SameSite=None; Secure; Path=/; Partitioned";
            return document.cookie;
        }"""
    )
    assert stored.split("; ") == ["chips=1"]
