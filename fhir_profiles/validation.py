"""Validate FHIR R4 resources against base R4 and the project's profiles with a real validator.

The validator is pyrofile-validator, run in-process and offline. It loads the R4 core package
built by ``tools/build_fhir_core_package.py`` plus every project artefact (StructureDefinitions,
ValueSets, CodeSystems), so our profiles, extensions and code bindings are checked. Known gaps of
the validator are listed in docs/fhir-profiles.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_profiles.artefacts import ARTEFACT_DIRS, artefact_files
from fhir_profiles.core_package import require_core_package


@dataclass(frozen=True, slots=True)
class ValidationMessage:
    """One finding: where it is, what is wrong, and the validator rule that found it."""

    severity: str
    location: str
    message: str
    rule: str
    profile: str | None = None

    def __str__(self) -> str:
        return f"{self.severity} at {self.location}: {self.message}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The errors and warnings found in one resource."""

    resource_type: str | None
    profiles: tuple[str, ...]
    errors: tuple[ValidationMessage, ...]
    warnings: tuple[ValidationMessage, ...]

    @property
    def valid(self) -> bool:
        """Whether the resource has no errors (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """Return the findings as text, one per line, errors first."""
        lines = [str(message) for message in (*self.errors, *self.warnings)]
        return "\n".join(lines) or "no findings"

    def to_operation_outcome(self) -> dict[str, Any]:
        """Return the findings as an R4 OperationOutcome (one issue per finding)."""
        findings = (*self.errors, *self.warnings)
        issues = [
            {
                "severity": m.severity,
                "code": "processing" if m.severity == "error" else "informational",
                "diagnostics": m.message,
                "expression": [m.location],
            }
            for m in findings
        ]
        if not issues:
            issues = [{"severity": "information", "code": "informational", "diagnostics": "valid"}]
        return {"resourceType": "OperationOutcome", "issue": issues}


class ValidatorUnavailableError(RuntimeError):
    """The optional validator dependency (pyrofile-validator) is not installed."""


class UnknownProfileError(ValueError):
    """The requested profile is not loaded (neither ours nor base R4)."""


@cache
def _constraint_texts() -> dict[str, str]:
    """Return the human text of every constraint our StructureDefinitions declare, by key."""
    texts: dict[str, str] = {}
    for path in artefact_files():
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource.get("resourceType") != "StructureDefinition":
            continue
        for element in resource.get("differential", {}).get("element", []):
            for constraint in element.get("constraint", []):
                texts[constraint["key"]] = constraint["human"]
    return texts


@dataclass(frozen=True)
class _Engine:
    validator: Any
    # pyrofile's Validator keeps per-run state on itself: one validation at a time.
    lock: threading.Lock


@cache
def _engine() -> _Engine:
    # Imported here so that importing this module (and the rest of fhir_profiles) does not need
    # the optional validator dependency.
    try:
        from pyrofile_validator import Validator
        from pyrofile_validator.config import ValidatorConfig
    except ImportError as missing:
        raise ValidatorUnavailableError(
            "pyrofile-validator is not installed: install the project with its `validate` extra"
        ) from missing

    paths = [str(require_core_package()), *(str(folder) for folder in ARTEFACT_DIRS)]
    config = ValidatorConfig.load_dict(
        {
            "fhirVersion": "4.0.1",
            "localPackagePaths": paths,
            "terminology": {"mode": "local"},
            "errorOnUnknownProfile": True,
            "allowUnknownExtensions": False,
        }
    )
    return _Engine(Validator(config), threading.Lock())


def load_validator() -> None:
    """Load the core package and the project artefacts now (takes a few seconds, once)."""
    _engine()


def validate(resource: dict[str, Any], profile: str | None = None) -> ValidationReport:
    """Validate ``resource`` against base R4, the profiles in its ``meta.profile``, and ``profile``.

    Raises ``CorePackageMissingError`` when the R4 core package has not been built,
    ``ValidatorUnavailableError`` without the ``validate`` extra, and ``UnknownProfileError`` when
    ``profile`` is given but not loaded.
    """
    if not isinstance(resource, dict):
        raise TypeError(f"a FHIR resource is a JSON object, not {type(resource).__name__}")
    engine = _engine()
    if profile is not None and engine.validator.profile_registry.get(profile) is None:
        raise UnknownProfileError(f"profile {profile} is not loaded in the validator")
    subject = _with_profile(resource, profile)
    with engine.lock, contextlib.redirect_stdout(io.StringIO()):
        # fhirpathpy's trace() prints to stdout while evaluating R4's dom-3 invariant.
        report = engine.validator.validate_resource(subject)
    return _report(subject, report.issues)


def _with_profile(resource: dict[str, Any], profile: str | None) -> dict[str, Any]:
    """Return the resource with ``profile`` added to ``meta.profile`` (the input is not changed)."""
    if profile is None:
        return resource
    meta = dict(resource.get("meta") or {})
    declared = list(meta.get("profile") or [])
    if profile not in declared:
        meta["profile"] = [*declared, profile]
    return {**resource, "meta": meta}


def _message_text(rule: str, text: str) -> str:
    """Return the validator's text, led by the constraint's own words when it is one of ours."""
    # The validator reports a failed invariant as its FHIRPath expression only.
    key = rule.rpartition("invariant.")[2] if "invariant." in rule else None
    human = _constraint_texts().get(key) if key else None
    return f"{key}: {human} ({text})" if human else text


def _report(resource: dict[str, Any], issues: list[Any]) -> ValidationReport:
    findings: dict[tuple[str, str, str], ValidationMessage] = {}
    for issue in issues:
        message = ValidationMessage(
            severity=issue.severity.value,
            location=issue.path or str(resource.get("resourceType", "")),
            message=_message_text(issue.code, issue.message),
            rule=issue.code,
            profile=issue.profile,
        )
        # The validator reports some findings twice (base definition and profile): keep one.
        findings.setdefault((message.severity, message.location, message.message), message)
    meta = resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    resource_type = resource.get("resourceType")
    return ValidationReport(
        resource_type=resource_type if isinstance(resource_type, str) else None,
        profiles=tuple(p for p in declared or [] if isinstance(p, str)),
        errors=tuple(m for m in findings.values() if m.severity == "error"),
        warnings=tuple(m for m in findings.values() if m.severity != "error"),
    )
