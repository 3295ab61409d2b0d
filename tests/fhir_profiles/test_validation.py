"""The real validator: valid examples pass, invalid examples fail with the documented error."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fhir_profiles.artefacts import (
    CAREPLAN_PROFILE,
    DOCUMENTREFERENCE_PROFILE,
    EXAMPLES_DIR,
    artefact_files,
)
from fhir_profiles.core_package import (
    BUILD_COMMAND,
    CACHE_ENV,
    CorePackageMissingError,
    require_core_package,
)
from fhir_profiles.validation import UnknownProfileError, ValidationReport
from tests.fhir_profiles.conftest import example_files, read_json

Validate = Callable[..., ValidationReport]
EXPECTED = read_json(EXAMPLES_DIR / "invalid" / "expected-errors.json")
# The validator reports false cardinality errors on ValueSet.compose/expansion and takes
# minutes on large expansions (docs/fhir-profiles.md, "Validator gaps"): ValueSets are checked
# with the R4 models and by test_valuesets.py instead.
VALIDATED_ARTEFACTS = [p for p in artefact_files() if not p.name.startswith("ValueSet-")]


def _without_profiles(resource: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of the resource that declares no profile (base R4 only)."""
    bare = copy.deepcopy(resource)
    bare.pop("meta", None)
    for entry in bare.get("entry", []):
        entry["resource"].pop("meta", None)
    return bare


@pytest.mark.parametrize("path", example_files("valid"), ids=lambda p: p.name)
def test_valid_example_has_no_error_against_its_profile(
    path: Path, fhir_validate: Validate
) -> None:
    report = fhir_validate(read_json(path))
    assert report.valid, report.summary()


@pytest.mark.parametrize("path", example_files("valid"), ids=lambda p: p.name)
def test_valid_example_has_no_error_against_base_r4(path: Path, fhir_validate: Validate) -> None:
    report = fhir_validate(_without_profiles(read_json(path)))
    assert report.valid, report.summary()


@pytest.mark.parametrize("path", VALIDATED_ARTEFACTS, ids=lambda p: p.name)
def test_artefact_has_no_error_against_base_r4(path: Path, fhir_validate: Validate) -> None:
    report = fhir_validate(read_json(path))
    assert report.valid, report.summary()


def test_every_invalid_example_documents_its_expected_error() -> None:
    assert sorted(EXPECTED) == [path.name for path in example_files("invalid")]
    assert all(expected["why"] for expected in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_example_fails_with_the_expected_error(name: str, fhir_validate: Validate) -> None:
    expected = EXPECTED[name]
    report = fhir_validate(read_json(EXAMPLES_DIR / "invalid" / name))
    assert not report.valid
    matching = [
        m
        for m in report.errors
        if m.location == expected["location"] and expected["message"] in m.message
    ]
    assert matching, report.summary()


def test_profile_argument_applies_a_profile_the_resource_does_not_declare(
    fhir_validate: Validate,
) -> None:
    resource = _without_profiles(
        read_json(EXAMPLES_DIR / "invalid" / "careplan-dose-above-ldn.json")
    )
    untouched = copy.deepcopy(resource)
    assert fhir_validate(resource).valid
    report = fhir_validate(resource, profile=CAREPLAN_PROFILE)
    assert [m.location for m in report.errors] == ["CarePlan.activity.detail.dailyAmount"]
    assert report.profiles == (CAREPLAN_PROFILE,)
    assert resource == untouched


def test_wrong_resource_type_for_a_profile_is_an_error(fhir_validate: Validate) -> None:
    careplan = read_json(EXAMPLES_DIR / "valid" / "CarePlan-ldn-titration-example.json")
    report = fhir_validate(_without_profiles(careplan), profile=DOCUMENTREFERENCE_PROFILE)
    assert any("applies to DocumentReference" in m.message for m in report.errors)


def test_an_error_inside_a_transaction_bundle_is_found(fhir_validate: Validate) -> None:
    bundle = read_json(EXAMPLES_DIR / "valid" / "Bundle-ldn-save-transaction.json")
    bundle["entry"][1]["resource"]["content"].pop()
    report = fhir_validate(bundle)
    assert any(m.location == "DocumentReference.content:plain" for m in report.errors)


def test_unknown_profile_is_a_clear_error(fhir_validate: Validate) -> None:
    with pytest.raises(UnknownProfileError, match="not-a-profile"):
        fhir_validate({"resourceType": "CarePlan"}, profile="http://example.org/not-a-profile")


def test_a_non_object_is_refused(fhir_validate: Validate) -> None:
    with pytest.raises(TypeError, match="JSON object"):
        fhir_validate(["CarePlan"])


def test_report_renders_as_operation_outcome(fhir_validate: Validate) -> None:
    report = fhir_validate(read_json(EXAMPLES_DIR / "invalid" / "careplan-missing-subject.json"))
    outcome = report.to_operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    errors = [issue for issue in outcome["issue"] if issue["severity"] == "error"]
    assert {"CarePlan.subject"} <= {issue["expression"][0] for issue in errors}


def test_missing_core_package_names_the_build_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    with pytest.raises(CorePackageMissingError) as raised:
        require_core_package()
    assert BUILD_COMMAND in str(raised.value)
    assert str(tmp_path) in str(raised.value)
