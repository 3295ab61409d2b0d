"""Load the project's FHIR conformance and knowledge artefacts by canonical URL.

Every artefact (StructureDefinition, ValueSet, CodeSystem, PlanDefinition, ActivityDefinition) is
one R4 JSON file under this package, with the canonical URL
``{CANONICAL_BASE}/{resourceType}/{id}``. The base lives here and nowhere else in code; the tests
check that every artefact file agrees with it.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

CANONICAL_BASE = "http://ldn-safety.example.org/fhir"
ARTEFACT_VERSION = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
ARTEFACT_DIRS = (
    PACKAGE_DIR / "structuredefinitions",
    PACKAGE_DIR / "codesystems",
    PACKAGE_DIR / "valuesets",
    PACKAGE_DIR / "plandefinitions",
)
EXAMPLES_DIR = PACKAGE_DIR / "examples"


def canonical(resource_type: str, resource_id: str) -> str:
    """Return the canonical URL of the project artefact ``resource_type/resource_id``."""
    return f"{CANONICAL_BASE}/{resource_type}/{resource_id}"


# The artefacts other modules name in the resources they build.
CAREPLAN_PROFILE = canonical("StructureDefinition", "ldn-titration-careplan")
DOCUMENTREFERENCE_PROFILE = canonical("StructureDefinition", "ldn-evidence-documentreference")
OPIOID_REVIEW_EXTENSION = canonical("StructureDefinition", "opioid-review-outcome")
TITRATION_PLANDEFINITION = canonical("PlanDefinition", "ldn-titration")
EVIDENCE_GRADE_SYSTEM = canonical("CodeSystem", "ldn-evidence-grade")
DURATION_CLASS_SYSTEM = canonical("CodeSystem", "opioid-duration-class")
REVIEW_OUTCOME_SYSTEM = canonical("CodeSystem", "opioid-review-outcome")
OVERRIDE_REASON_SYSTEM = canonical("CodeSystem", "cds-override-reason")
CAREPLAN_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/identifier/careplan"
DOCUMENTREFERENCE_IDENTIFIER_SYSTEM = f"{CANONICAL_BASE}/identifier/documentreference"


class UnknownArtefactError(LookupError):
    """No project artefact has the requested canonical URL."""


def artefact_files() -> list[Path]:
    """Return every artefact file, sorted (examples are not artefacts)."""
    return sorted(path for folder in ARTEFACT_DIRS for path in folder.glob("*.json"))


@cache
def _index() -> dict[str, dict[str, Any]]:
    index: dict[str, dict[str, Any]] = {}
    for path in artefact_files():
        resource = json.loads(path.read_text(encoding="utf-8"))
        url = resource.get("url")
        if not isinstance(url, str):
            raise ValueError(f"{path.name} has no canonical url")
        if url in index:
            raise ValueError(f"{path.name} repeats the canonical url {url}")
        index[url] = resource
    return index


def canonical_urls() -> list[str]:
    """Return the canonical URL of every artefact, sorted."""
    return sorted(_index())


def load_artefact(url: str) -> dict[str, Any]:
    """Return a fresh copy of the artefact with canonical ``url`` (``url|version`` accepted)."""
    bare, _, version = url.partition("|")
    resource = _index().get(bare)
    if resource is None:
        raise UnknownArtefactError(f"no project artefact has the canonical URL {bare}")
    if version and resource.get("version") != version:
        raise UnknownArtefactError(
            f"{bare} is at version {resource.get('version')}, not the requested {version}"
        )
    return copy.deepcopy(resource)
