"""The AUD and liver cards find their evidence by code: a renamed label changes wording only.

A label is wording a clinician reviewer may edit in ``clinical/data/evidence.json``; if a card
found its entry by label, such an edit would turn every hook call for that patient into a 503.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from importlib import resources
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import cds_hooks.cards
from cds_hooks.state import EXTENSION
from clinical.evidence import EvidenceKnowledge
from tests.cds_hooks.support import PATIENT_ID, SIGN, Signer, bearer, hook_body, searchset

RENAMED = {"Liver": "Hepatic safety", "Where to start": "A first step"}


def _packaged() -> dict[str, Any]:
    text = resources.files("clinical.data").joinpath("evidence.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _relabelled(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the evidence data with the labels in RENAMED changed."""
    changed = copy.deepcopy(data)
    seen = set()
    for entry in (*changed["conditions"], *changed["sections"]):
        for point in entry["points"]:
            if point.get("label") in RENAMED:
                seen.add(point["label"])
                point["label"] = RENAMED[point["label"]]
    assert seen == set(RENAMED)
    return changed


def _body() -> dict[str, Any]:
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"c-{n}",
            "code": {"text": text},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        }
        for n, text in enumerate(["Alcohol use disorder", "Cirrhosis of liver"])
    ]
    prefetch = {
        "patient": {"resourceType": "Patient", "id": PATIENT_ID},
        "medicationStatements": None,
        "medicationRequests": None,
        "medicationDispenses": None,
        "medicationAdministrations": None,
        "conditions": searchset(*conditions),
    }
    return hook_body(prefetch=prefetch)


def _cards(client: FlaskClient, sign: Signer, body: dict[str, Any]) -> list[dict[str, Any]]:
    path = f"/cds-services/{SIGN}"
    answer = client.post(path, json=body, headers=bearer(sign(path)))
    assert answer.status_code == 200, answer.get_json()
    cards: list[dict[str, Any]] = answer.get_json()["cards"]
    for card in cards:
        del card["uuid"]
    return cards


def _with_evidence(
    monkeypatch: pytest.MonkeyPatch, app: Flask, evidence: EvidenceKnowledge
) -> None:
    """Give the running service ``evidence`` in place of the packaged evidence data."""
    state = app.extensions[EXTENSION]
    known = dataclasses.replace(state.settings.knowledge, evidence=evidence)
    settings = dataclasses.replace(state.settings, knowledge=known)
    monkeypatch.setitem(app.extensions, EXTENSION, dataclasses.replace(state, settings=settings))


def test_renaming_a_label_changes_only_the_wording_of_the_cards(
    app: Any, sign: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, body = app.test_client(), _body()
    _with_evidence(monkeypatch, app, EvidenceKnowledge.from_json(_packaged()))
    before = _cards(client, sign, body)
    _with_evidence(monkeypatch, app, EvidenceKnowledge.from_json(_relabelled(_packaged())))
    after = _cards(client, sign, body)

    assert [c["summary"] for c in after] == [c["summary"] for c in before]
    assert len(before) == 3  # the opioid check, then AUD, then liver
    expected = json.dumps(before)
    for old, new in RENAMED.items():
        expected = expected.replace(f"{old}:", f"{new}:")
    assert json.dumps(after) == expected
    assert "A first step:" in after[1]["detail"]
    assert "inference" in after[2]["detail"]


def test_a_point_is_found_by_its_code_and_codes_are_unique() -> None:
    data = _packaged()
    evidence = EvidenceKnowledge.from_json(data)
    assert "liver" in evidence.point(cds_hooks.cards.LIVER_RISK_POINT).text.lower()
    with pytest.raises(KeyError):
        evidence.point("no-such-point")
    duplicate = copy.deepcopy(data)
    duplicate["sections"][0]["points"][0]["key"] = cds_hooks.cards.LIVER_RISK_POINT
    with pytest.raises(ValueError, match="point keys must be unique"):
        EvidenceKnowledge.from_json(duplicate)
