"""The artefact files: R4, one canonical base, unique URLs, every reference resolves."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from fhir_profiles.artefacts import (
    ARTEFACT_VERSION,
    CANONICAL_BASE,
    CAREPLAN_PROFILE,
    TITRATION_PLANDEFINITION,
    UnknownArtefactError,
    artefact_files,
    canonical,
    canonical_urls,
    load_artefact,
)
from tests.fhir_profiles.conftest import example_files, read_json

ALL_FILES = [*artefact_files(), *example_files("valid"), *example_files("invalid")]


def _r4_model(resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


@pytest.mark.parametrize("path", artefact_files() + example_files("valid"), ids=lambda p: p.name)
def test_every_artefact_and_valid_example_parses_as_r4(path: Any) -> None:
    resource = read_json(path)
    _r4_model(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("path", artefact_files(), ids=lambda p: p.name)
def test_artefact_metadata_and_canonical_url(path: Any) -> None:
    resource = read_json(path)
    assert resource["url"] == canonical(resource["resourceType"], resource["id"])
    assert resource["url"].startswith(f"{CANONICAL_BASE}/")
    assert path.name == f"{resource['resourceType']}-{resource['id']}.json"
    assert resource["version"] == ARTEFACT_VERSION
    assert resource["status"] == "draft"
    assert resource["publisher"]
    assert len(resource["description"]) > 40


def test_canonical_urls_are_unique() -> None:
    urls = [read_json(path)["url"] for path in artefact_files()]
    assert len(urls) == len(set(urls))
    assert sorted(urls) == canonical_urls()


def test_load_artefact_by_canonical_url_returns_a_fresh_copy() -> None:
    plan = load_artefact(TITRATION_PLANDEFINITION)
    plan["title"] = "changed by a caller"
    assert load_artefact(f"{TITRATION_PLANDEFINITION}|{ARTEFACT_VERSION}")["title"] != plan["title"]


@pytest.mark.parametrize(
    "url",
    [f"{CANONICAL_BASE}/ValueSet/no-such-set", f"{CAREPLAN_PROFILE}|9.9.9"],
)
def test_load_artefact_names_what_is_missing(url: str) -> None:
    with pytest.raises(UnknownArtefactError, match=url.partition("|")[0]):
        load_artefact(url)


def _canonicals_named(node: Any) -> Iterator[str]:
    """Yield every canonical URL a resource points to (profiles, value sets, definitions)."""
    keys = {
        "baseDefinition",
        "profile",
        "targetProfile",
        "valueSet",
        "definitionCanonical",
        "instantiatesCanonical",
    }
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys:
                yield from [value] if isinstance(value, str) else value
            else:
                yield from _canonicals_named(value)
    elif isinstance(node, list):
        for item in node:
            yield from _canonicals_named(item)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_profile_valueset_and_definition_reference_resolves(
    path: Any, core_canonicals: set[str]
) -> None:
    resource = read_json(path)
    known = core_canonicals | set(canonical_urls())
    # The one URL an invalid example names on purpose is not ours and must not resolve.
    named = {url.partition("|")[0] for url in _canonicals_named(resource)}
    if path.parent.name == "invalid":
        named = {url for url in named if url.startswith(CANONICAL_BASE)}
    assert named <= known, sorted(named - known)


def test_project_codesystems_have_each_code_the_product_uses(
    artefacts: dict[str, dict[str, Any]],
) -> None:
    codes = {
        name: {concept["code"] for concept in resource["concept"]}
        for name, resource in artefacts.items()
        if resource["resourceType"] == "CodeSystem"
    }
    assert codes == {
        "CodeSystem-ldn-evidence-grade.json": {
            "small-rcts-positive",
            "small-trials-mixed",
            "qol-signals",
            "limited-controlled",
            "evidence-gap",
            "no-rigorous-evidence",
        },
        "CodeSystem-opioid-duration-class.json": {
            "short-acting",
            "long-acting",
            "buprenorphine",
            "methadone",
        },
        "CodeSystem-opioid-review-outcome.json": {
            "safe-to-start",
            "wait-until",
            "specialist-guidance",
            "do-not-start",
            "uncertain",
        },
        "CodeSystem-cds-override-reason.json": {
            "opioid-stopped-confirmed",
            "patient-not-taking",
            "specialist-supervised",
            "data-incorrect",
            "other",
        },
    }
    for name, resource in artefacts.items():
        if resource["resourceType"] == "CodeSystem":
            assert resource["count"] == len(resource["concept"]), name
            assert all(c["display"] and c["definition"] for c in resource["concept"]), name
