"""A production install: the wheel, installed without extras in a fresh environment, serves.

An EHR integrator runs ``pip install .`` and ``ldn-safety serve``: no sandbox, no FHIR server, no
validator. This builds the wheel the way pip does (build isolation), installs it with the pinned
constraints and nothing else into a new virtual environment, and starts the real command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.fhir_server import LOOPBACK, free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60
_NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "node_modules",
    ".*_cache",
)


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False, env=env
    )


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Build the project's wheel; return it and everything the build printed."""
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools builds in the source tree, and a build/ folder left by an
    # earlier build could put modules that no longer exist into the wheel.
    source = tmp_path_factory.mktemp("source") / "project"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    built = _run(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", out, source)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("ldn_opioid_safety-*.whl")
    return wheel, built.stdout + built.stderr


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory, built_wheel: tuple[Path, str]) -> Path:
    """A fresh virtual environment holding the wheel and its runtime dependencies only."""
    home = tmp_path_factory.mktemp("clean-venv")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    installed = _run(
        python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
        "-c", ROOT / "constraints.txt", built_wheel[0],
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return home


def _env(instance: Path, **settings: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("LDN_")}
    return {**keep, "LDN_INSTANCE_PATH": str(instance), **settings}


@pytest.fixture(scope="module")
def served(clean_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ldn-safety serve`` from the clean environment, on a free loopback port."""
    port = free_loopback_port()
    instance = tmp_path_factory.mktemp("instance")
    log = instance / "serve.log"
    env = _env(
        instance,
        LDN_SECRET_KEY="clean-install-test-secret-key-0123456789",
        LDN_CDS_DISCOVERY_REQUIRES_JWT="false",
    )
    with log.open("w") as stderr:
        server = subprocess.Popen(  # noqa: S603 - our own command
            [
                str(clean_env / "bin" / "ldn-safety"),
                "serve",
                "--host",
                LOOPBACK,
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"serve exited {server.returncode}: {log.read_text()}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("serve did not answer /healthz in time")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_build_prints_no_setuptools_warning(built_wheel: tuple[Path, str]) -> None:
    _, output = built_wheel
    warnings = [
        line for line in output.splitlines() if "Warning" in line or "would be ignored" in line
    ]
    assert warnings == []


def test_the_clean_environment_has_no_sandbox_dependencies(clean_env: Path) -> None:
    probe = _run(
        clean_env / "bin" / "python", "-c",
        "import importlib.util as u; print([m for m in ('sekmet', 'markdown', 'pyrofile_validator')"
        " if u.find_spec(m)])",
    )  # fmt: skip
    assert probe.stdout.strip() == "[]", probe.stderr


def test_serve_answers_health_and_cds_discovery(served: str) -> None:
    assert requests.get(f"{served}/healthz", timeout=5).json() == {"status": "ok"}
    discovery = requests.get(f"{served}/cds-services", timeout=5)
    assert discovery.status_code == 200
    assert {s["hook"] for s in discovery.json()["services"]} == {"order-select", "order-sign"}


def test_help_lists_every_command_without_the_sandbox(clean_env: Path) -> None:
    shown = _run(clean_env / "bin" / "ldn-safety", "--help")
    assert shown.returncode == 0, shown.stderr
    for command in ("serve", "feedback", "check", "demo"):
        assert command in shown.stdout


def test_a_sandbox_command_names_the_extra_it_needs(clean_env: Path) -> None:
    demo = _run(clean_env / "bin" / "ldn-safety", "demo")
    assert demo.returncode != 0
    assert "pip install 'ldn-opioid-safety[sandbox]'" in demo.stderr


def test_serve_without_a_secret_key_refuses_to_start(clean_env: Path, tmp_path: Path) -> None:
    refused = _run(clean_env / "bin" / "ldn-safety", "serve", "--port", "1", env=_env(tmp_path))
    assert refused.returncode != 0
    assert "LDN_SECRET_KEY" in refused.stderr
