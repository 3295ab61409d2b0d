"""Fixtures for the FHIR artefact tests: the artefacts, the examples, the real validator."""

from __future__ import annotations

import importlib.util
import json
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fhir_profiles.artefacts import EXAMPLES_DIR, artefact_files
from fhir_profiles.core_package import require_core_package
from fhir_profiles.validation import ValidationReport, load_validator, validate

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def read_json(path: Path) -> dict[str, Any]:
    """Return the JSON object stored at ``path``."""
    return json.loads(path.read_text(encoding="utf-8"))


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` (the tools folder is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", TOOLS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module is executed.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def artefacts() -> dict[str, dict[str, Any]]:
    """Return every artefact by file name."""
    return {path.name: read_json(path) for path in artefact_files()}


@pytest.fixture(scope="session")
def fhir_validate() -> Callable[..., ValidationReport]:
    """Return ``validate`` with the validator loaded.

    Fails (never skips) when the R4 core package is missing: the error names the command that
    builds it.
    """
    load_validator()
    return validate


@pytest.fixture(scope="session")
def core_canonicals() -> set[str]:
    """Return the canonical URL of every resource in the R4 core package."""
    with tarfile.open(require_core_package(), "r:gz") as archive:
        member = archive.extractfile("package/.index.json")
        assert member is not None
        index = json.load(member)
    return {row["url"] for row in index["files"] if "url" in row}


def example_files(kind: str) -> list[Path]:
    """Return the example resources of ``kind`` (``valid`` or ``invalid``)."""
    return sorted(
        path for path in (EXAMPLES_DIR / kind).glob("*.json") if path.name != "expected-errors.json"
    )
