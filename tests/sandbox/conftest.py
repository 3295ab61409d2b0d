"""Fixtures for the sandbox tests: the whole demo (SEKMET, sandbox EHR, product) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.demo import Demo, DemoPorts


@pytest.fixture(scope="session")
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Run the demo once per session on free ports, samples dated today (the CDS service's day)."""
    # Imported here: a broken product must not stop the sandbox's own tests from loading.
    from ldn_safety.app import create_app

    with Demo(tmp_path_factory.mktemp("demo"), create_app, DemoPorts.free()) as demo:
        yield demo
