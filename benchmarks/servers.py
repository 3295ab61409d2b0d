"""Start the production server (``ldn-safety serve``) and the bare parser on loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from sandbox.fhir_server import LOOPBACK, free_loopback_port

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60
ISSUER = "https://ehr.bench.test"


@dataclass(frozen=True, slots=True)
class Served:
    """A server on loopback: its base URL and the gunicorn master's process id."""

    base_url: str
    pid: int


def _wait(base_url: str, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            requests.get(base_url + path, timeout=2)
        except requests.RequestException:
            time.sleep(0.2)
            continue
        return
    raise RuntimeError(f"server at {base_url} did not start in {STARTUP_SECONDS} s")


@contextmanager
def _process(command: list[str], env: Mapping[str, str], probe: str, port: int) -> Iterator[Served]:
    workdir = Path(tempfile.mkdtemp(prefix="ldn-bench-"))
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command, env={**os.environ, **env}, stdout=out, stderr=out, cwd=ROOT
        )
    base = f"http://{LOOPBACK}:{port}"
    try:
        _wait(base, probe, process, log)
        yield Served(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def product(jwks: Mapping[str, object], *, workers: int = 2) -> Iterator[Served]:
    """Run ``ldn-safety serve`` trusting ``jwks`` for :data:`ISSUER`, its store in SQLite."""
    port = free_loopback_port()
    instance = Path(tempfile.mkdtemp(prefix="ldn-bench-instance-"))
    env = {
        "LDN_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "LDN_INSTANCE_PATH": str(instance),
        "LDN_PUBLIC_BASE_URL": f"http://{LOOPBACK}:{port}",
        "LDN_CDS_TRUSTED_CLIENTS": json.dumps({ISSUER: {"jwks": jwks}}),
        "LDN_LOG_LEVEL": "WARNING",
    }
    command = [
        str(Path(sys.executable).with_name("ldn-safety")),
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    try:
        with _process(command, env, "/healthz", port) as served:
            yield served
    finally:
        shutil.rmtree(instance, ignore_errors=True)


@contextmanager
def bare(*, workers: int = 2) -> Iterator[Served]:
    """Run the bare parser (bare_app.py) under gunicorn with the product's server settings."""
    port = free_loopback_port()
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "benchmarks.bare_app:app",
        "--bind",
        f"{LOOPBACK}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
    ]
    with _process(command, {}, "/parse", port) as served:
        yield served
