"""The app's review reads free-text medication entries as the CDS card does (issue 9)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from tests.smart_app.pages_testkit import APP, FakeFhir, sign_in, statement


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fhir(http) -> FakeFhir:
    return FakeFhir(http)


def _review(browser: FlaskClient) -> str:
    launch_id = sign_in(browser)
    response = browser.get(f"{APP}/review", query_string={"launch_id": launch_id})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _status(page: str) -> str:
    start = page.index('id="naltrexone-status"')
    data = page.index('data-status="', start) + len('data-status="')
    return page[data : page.index('"', data)]


def test_an_abbreviation_is_an_active_opioid_named_by_its_ingredient(browser, fhir) -> None:
    fhir.chart(statements=(statement("s1", "APAP w/ cod #3"),))
    page = _review(browser)
    assert _status(page) == "do-not-start"
    assert "codeine" in page
    assert 'data-reference="MedicationStatement/s1"' in page


def test_a_near_miss_is_uncertain_and_says_the_word_and_what_it_resembles(browser, fhir) -> None:
    fhir.chart(statements=(statement("s1", "morhpine 15 mg"),))
    page = _review(browser)
    assert _status(page) == "uncertain"
    unchecked = page[page.index('id="unchecked-list"') :]
    assert str(escape('"morhpine"')) in unchecked
    assert "morphine" in unchecked


def test_a_negated_opioid_is_not_an_exposure(browser, fhir) -> None:
    fhir.chart(statements=(statement("s1", "opioid-free since 2019"),))
    page = _review(browser)
    assert _status(page) == "safe-to-start"
