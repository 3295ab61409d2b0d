"""Start and stop SEKMET, the real FHIR R4 server behind the sandbox and the integration tests.

SEKMET runs as a subprocess under uvicorn, bound to 127.0.0.1 only, with its own settings file,
SQLite database and log in ``data_dir``. Its simulator is switched off: it would otherwise answer
every MedicationRequest with pharmacy traffic of its own.

Once its app is built, everything alive in the process is frozen out of the cycle collector's
walks (``gc.freeze``), as ``ldn-safety serve`` does for its own workers: a search of 500
records builds tens of thousands of objects, and with SEKMET's app (about 180,000 objects) walked
in every full collection, one search in ten stalled for about 90 ms.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

LOOPBACK = "127.0.0.1"
_POLL_SECONDS = 0.05
_LOG_TAIL_LINES = 20
# Run by the server's interpreter (``python -c``; argv: host, port), which need not have this
# project installed: SEKMET's app under uvicorn, frozen out of the collector's walks once built.
_RUN_SEKMET = """
import gc, sys
import uvicorn
from sekmet.main import app_factory

def frozen_app():
    app = app_factory()
    gc.collect()
    gc.freeze()
    return app

uvicorn.run(frozen_app, factory=True, host=sys.argv[1], port=int(sys.argv[2]),
            log_level="warning", access_log=False)
"""


class FhirServerStartError(RuntimeError):
    """SEKMET could not be started (the message carries the tail of its log)."""


def free_loopback_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


class FhirServer:
    """One SEKMET process serving ``base_url`` (``http://127.0.0.1:<port>/fhir``) until stopped.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``python`` is the
    interpreter that has ``sekmet-fhir`` installed (a separate virtual environment works too).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        python: str = sys.executable,
        startup_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_loopback_port()
        self.python = python
        self.startup_timeout = startup_timeout
        # A per-instance marker in the CapabilityStatement proves that the server answering on
        # the port is this process, not another one that happened to grab the port first.
        self._marker = f"LDN sandbox {secrets.token_hex(8)}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The FHIR base URL, without a trailing slash."""
        return f"http://{LOOPBACK}:{self.port}/fhir"

    @property
    def database_path(self) -> Path:
        """SEKMET's SQLite database."""
        return self.data_dir / "sekmet.db"

    @property
    def log_path(self) -> Path:
        """Where SEKMET's stdout and stderr go."""
        return self.data_dir / "sekmet.log"

    @property
    def pid(self) -> int | None:
        """The process id while the server runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> FhirServer:
        """Start SEKMET and wait until ``/metadata`` answers; else raise FhirServerStartError."""
        if self._process is not None:
            raise FhirServerStartError(f"SEKMET is already running at {self.base_url}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = self._write_settings()
        command = [
            self.python, "-c", _RUN_SEKMET, LOOPBACK, str(self.port),
        ]  # fmt: skip
        # SEKMET reads SEKMET_BASE_URL, SEKMET_PORT, SEKMET_DB... over its settings file: drop them.
        env = {key: value for key, value in os.environ.items() if not key.startswith("SEKMET_")}
        env["SEKMET_CONFIG"] = str(settings)
        with self.log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                command, cwd=self.data_dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._process = process
        self._wait_until_ready(process)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop SEKMET: terminate, wait, and kill if it does not exit in ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> FhirServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_settings(self) -> Path:
        settings = {
            "base_url": self.base_url,
            "host": LOOPBACK,
            "port": self.port,
            "data_dir": str(self.data_dir),
            "db_path": str(self.database_path),
            "own_private_key_path": str(self.data_dir / "keys" / "sekmet_private.pem"),
            "facility_name": self._marker,
            "simulator": {"enabled": False},
            # The traffic log would keep a second copy of every request body in the database.
            "log_inbound": False,
        }
        # SEKMET reads YAML; JSON is YAML, and needs no YAML library on our side.
        path = self.data_dir / "sekmet-settings.yaml"
        path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        return path

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                code = process.returncode
                self._process = None
                raise FhirServerStartError(self._failure(f"SEKMET exited with code {code}"))
            if self._answers_metadata():
                return
            time.sleep(_POLL_SECONDS)
        self.stop()
        raise FhirServerStartError(
            self._failure(f"SEKMET did not answer in {self.startup_timeout:g} s")
        )

    def _answers_metadata(self) -> bool:
        try:
            response = requests.get(f"{self.base_url}/metadata", timeout=2)
            statement = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return False
        if not isinstance(statement, dict):
            return False
        implementation = statement.get("implementation")
        description = (
            implementation.get("description") if isinstance(implementation, dict) else None
        )
        return isinstance(description, str) and description.startswith(self._marker)

    def _failure(self, what: str) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        tail = "\n".join(lines[-_LOG_TAIL_LINES:]) or "(no output)"
        return f"{what} at {self.base_url} (log: {self.log_path}). Last output:\n{tail}"
