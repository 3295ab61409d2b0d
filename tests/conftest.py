"""Fixtures for every test area: the real FHIR server (SEKMET) loaded with the sample patients.

Tests that use ``fhir_server`` are integration tests: mark them ``@pytest.mark.integration``.
The server starts once per session (about a second), in its own temporary folder, on a free
loopback port; ``sample_today`` fixes the day the samples are dated for, and
``sample_expectations`` says what the product must conclude for each sample patient that day.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date

import pytest

from sandbox.fhir_server import FhirServer
from sandbox.loader import load_samples
from sandbox.patients import Expectation, expectations


@dataclass(frozen=True, slots=True)
class SampleFhirServer:
    """A running SEKMET with the sample patients: its base URL and each sample patient's id."""

    base_url: str
    patient_ids: Mapping[str, str]


def pytest_configure(config: pytest.Config) -> None:
    """Keep every app's instance folder (SQLite store, session files) out of the repository."""
    os.environ["LDN_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="ldn-instance-")


@pytest.fixture(scope="session")
def sample_today() -> date:
    """Return the fixed day the sample patients are dated for."""
    return date(2026, 3, 16)


@pytest.fixture(scope="session")
def sample_expectations(sample_today: date) -> dict[str, Expectation]:
    """Return the expected outcome per sample patient key on ``sample_today``."""
    return expectations(sample_today)


@pytest.fixture(scope="session")
def fhir_server(
    tmp_path_factory: pytest.TempPathFactory, sample_today: date
) -> Iterator[SampleFhirServer]:
    """Start SEKMET with the sample patients loaded; stop it at the end of the session."""
    with FhirServer(tmp_path_factory.mktemp("sekmet")) as server:
        report = load_samples(server.base_url, today=sample_today)
        yield SampleFhirServer(base_url=server.base_url, patient_ids=report.patient_ids)
