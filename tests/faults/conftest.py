"""Fault injection: a fault proxy in front of the real FHIR server, for both faces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import SampleFhirServer
from tests.faults.fault_proxy import FaultProxy, fault_proxy
from tests.faults.report import REPORT


@pytest.fixture(scope="session")
def proxy(fhir_server: SampleFhirServer) -> Iterator[FaultProxy]:
    """Run the fault proxy in front of the sample FHIR server (no fault until one is aimed)."""
    with fault_proxy(fhir_server.base_url) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_fault_left(proxy: FaultProxy) -> Iterator[None]:
    yield
    proxy.aim(None, frozenset())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the fault-injection tests counted."""
    for face, face_counts in sorted(REPORT.items()):
        terminalreporter.write_line(face_counts.line(face))
