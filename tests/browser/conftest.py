"""Fixtures for the browser tests: one running stack and one Chromium per session, a context each.

The stack is the demo's (``sandbox.demo.Demo``): SEKMET with the sample patients dated today,
the sandbox EHR at ``http://localhost:<port>`` and the product at ``http://127.0.0.1:<port>``,
so the app inside the EHR's iframe is cross-site. The sandbox EHR (its SMART authorization
server, FHIR proxy and EHR pages) runs under gunicorn with two worker processes sharing their
state through the sandbox's database, so a launch's steps land on different processes.
Chromium is Debian's, driven by Playwright (no browser download); each test gets a fresh
context (no cookies, no storage) that fails the test if any page opens a JavaScript dialog.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, sync_playwright

from sandbox.demo import Demo, DemoPorts
from tests.browser.browser_kit import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

SANDBOX_WORKERS = 2


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Run SEKMET, the sandbox EHR and the product on free loopback ports for the session."""
    # Imported here: a broken product must not stop the other test areas from loading.
    from ldn_safety.app import create_app
    from ldn_safety.cli import run_gunicorn

    with Demo(
        tmp_path_factory.mktemp("browser-demo"),
        create_app,
        DemoPorts.free(),
        sandbox_workers=SANDBOX_WORKERS,
        worker_server=run_gunicorn,
    ) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Launch headless Chromium once; Playwright gives it a fresh temporary profile."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Collect the message of every JavaScript dialog a page opened (there must be none)."""
    return []


@pytest.fixture
def context(browser: Browser, dialogs: list[str]) -> Iterator[BrowserContext]:
    """Open a fresh browser context: its own cookies and storage, nothing shared with others."""
    fresh = browser.new_context()
    fresh.set_default_timeout(WAIT_MS)

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    fresh.on("dialog", record)
    try:
        yield fresh
    finally:
        fresh.close()
    assert dialogs == [], f"a page opened a JavaScript dialog: {dialogs}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """Open a page in the test's fresh context."""
    return context.new_page()
