"""The decision table through the app's review: the same status and words as the CDS card."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest
from flask import Flask

from ldn_safety.app import create_app
from tests.decision_table import CASES, Case
from tests.smart_app.pages_testkit import APP, PATIENT, FakeFhir, sign_in

SOURCES = {
    "MedicationStatement": "statements",
    "MedicationRequest": "requests",
    "MedicationDispense": "dispenses",
    "MedicationAdministration": "administrations",
    "Condition": "conditions",
}


def _review(app: Flask, fhir: FakeFhir, case: Case) -> tuple[str, str, list[str]]:
    """Serve the chart, open the review; return its status, its words and the cautions shown."""
    chart: dict[str, list[dict[str, Any]]] = {name: [] for name in SOURCES.values()}
    for resource in case.resources(date.today()):
        resource["subject"] = {"reference": f"Patient/{PATIENT}"}
        chart[SOURCES[resource["resourceType"]]].append(resource)
    fhir.chart(**{name: tuple(items) for name, items in chart.items()})
    browser = app.test_client()
    launch_id = sign_in(browser)
    response = browser.get(f"{APP}/review", query_string={"launch_id": launch_id})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    status = re.search(r'id="naltrexone-status"[^>]*data-status="([^"]+)"', page)
    assert status is not None
    cautions = re.findall(r'class="caution" data-caution="([^"]+)"', page)
    words = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return status.group(1), " ".join(words.split()).lower(), cautions


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_review_gives_the_tables_decision(
    app_config: dict[str, Any], http: Any, case: Case
) -> None:
    # The case's site settings are the app's from start-up, as a deployment's would be.
    app = create_app({**app_config, **case.settings})
    status, words, cautions = _review(app, FakeFhir(http), case)
    assert status == case.status
    assert set(cautions) == case.cautions
    for word in case.words(date.today()):
        assert word.lower() in words
    for word in case.hidden:
        assert word.lower() not in words
