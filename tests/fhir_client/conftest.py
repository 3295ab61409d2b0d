"""Fixtures for the FHIR client tests: a strict mocked transport and a record of sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Mock HTTP at the transport; a call nobody registered fails instead of going out."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    """Collect the waits a client asks for, so retry tests never sleep."""
    return []
