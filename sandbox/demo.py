"""The one-command demo: SEKMET with the sample patients, the sandbox EHR and the product.

Three servers on loopback: SEKMET (a subprocess), the sandbox EHR at ``http://localhost:<port>``
and the product at ``http://127.0.0.1:<port>`` (two host names, so the app inside the EHR's
iframe is cross-site, as it is in a real EHR). The product trusts the sandbox's CDS client key,
allows the sandbox's FHIR proxy as ``fhirServer`` and as SMART ``iss``, and is registered with
the sandbox's authorization server as a ``private_key_jwt`` client. Every key is made at start.

The product's factory is passed in (``ldn_safety.app.create_app``): the sandbox sits below the
entry points and never imports them. So is, when the sandbox EHR runs with several worker
processes (``sandbox_workers``), the production server that runs them (``ldn_safety.cli``'s
gunicorn): its authorization server and EHR pages keep their state in a database every worker
shares, and the browser tests run it that way.
"""

from __future__ import annotations

import multiprocessing
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import click
import requests
from flask import Flask
from joserfc.jwk import ECKey
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox import reference_client
from sandbox.app import create_sandbox_app
from sandbox.fhir_server import LOOPBACK, FhirServer, FhirServerStartError, free_loopback_port
from sandbox.loader import SampleLoadError, load_samples
from sandbox.settings import SandboxSettings

ProductFactory = Callable[[Mapping[str, Any]], Flask]
# worker_server(app, host, port, workers): serve ``app`` in worker processes until terminated.
WorkerServer = Callable[[Flask, str, int, int], None]

APP_CLIENT_ID = "ldn-opioid-safety"
# What the sandbox lets the product's SMART app have (the app asks for less or the same).
APP_SCOPE_POLICY = (
    "openid fhirUser launch launch/patient launch/encounter offline_access online_access "
    "patient/*.rs patient/CarePlan.cu patient/DocumentReference.c"
)
READY_TIMEOUT = 10.0


class DemoError(RuntimeError):
    """The demo could not start; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class DemoPorts:
    """The three loopback ports: SEKMET, the sandbox EHR, the product."""

    fhir: int
    sandbox: int
    product: int

    @classmethod
    def from_base(cls, base: int) -> DemoPorts:
        """Use ``base``, ``base + 1`` and ``base + 2``."""
        if not 1024 <= base <= 65533:
            raise DemoError("--port-base must be between 1024 and 65533")
        return cls(base, base + 1, base + 2)

    @classmethod
    def free(cls) -> DemoPorts:
        """Pick three distinct ports that are free on 127.0.0.1 right now."""
        ports: list[int] = []
        while len(ports) < 3:
            port = free_loopback_port()
            if port not in ports:
                ports.append(port)
        return cls(*ports)


@dataclass(frozen=True, slots=True)
class DemoUrls:
    """Where the running demo answers."""

    ehr: str
    fhir: str
    smart_configuration: str
    cds_discovery: str
    app_launch: str
    product: str
    fhir_server: str  # SEKMET itself, behind the proxy: no token needed (the checker's target)


class _QuietHandler(WSGIRequestHandler):
    """Log no request lines: their query strings carry launch values, codes and states."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing."""


class Demo:
    """Start and stop the whole demo; use as a context manager or call start and stop."""

    def __init__(
        self,
        data_dir: Path,
        product_factory: ProductFactory,
        ports: DemoPorts,
        *,
        today: date | None = None,
        python: str = sys.executable,
        sandbox_workers: int = 1,
        worker_server: WorkerServer | None = None,
    ) -> None:
        if sandbox_workers > 1 and worker_server is None:
            raise DemoError("several sandbox workers need a worker_server to run them")
        self._sandbox_workers = sandbox_workers
        self._worker_server = worker_server
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self.data_dir = Path(data_dir)
        self.ports = ports
        self.today = today or date.today()
        self._product_factory = product_factory
        self._fhir = FhirServer(self.data_dir / "sekmet", ports.fhir, python=python)
        self._servers: list[tuple[BaseWSGIServer, threading.Thread]] = []
        sandbox_base = f"http://localhost:{ports.sandbox}"
        product_base = f"http://{LOOPBACK}:{ports.product}"
        self.urls = DemoUrls(
            ehr=f"{sandbox_base}/ehr/",
            fhir=f"{sandbox_base}/fhir",
            smart_configuration=f"{sandbox_base}/fhir/.well-known/smart-configuration",
            cds_discovery=f"{product_base}/cds-services",
            app_launch=f"{product_base}/launch",
            product=product_base,
            fhir_server=self._fhir.base_url,
        )
        self.patient_ids: Mapping[str, str] = {}
        self.sandbox_settings: SandboxSettings | None = None
        self.sandbox_app: Flask | None = None
        self.product_app: Flask | None = None

    def __enter__(self) -> Demo:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> DemoUrls:
        """Start SEKMET, load the samples, then serve the sandbox and the product."""
        for port in (self.ports.fhir, self.ports.sandbox, self.ports.product):
            _require_free(port)
        try:
            self._fhir.start()
            self.patient_ids = load_samples(self._fhir.base_url, today=self.today).patient_ids
            app_key = ECKey.generate_key("P-384", parameters={"kid": "ldn-demo-app"})
            settings = self.sandbox_settings = self._sandbox_settings(app_key)
            self.sandbox_app = create_sandbox_app(settings)
            self.product_app = self._product_factory(self._product_config(settings, app_key))
            if self._worker_server is not None and self._sandbox_workers > 1:
                self._serve_in_workers(self.sandbox_app, self.ports.sandbox)
            else:
                self._serve(self.sandbox_app, self.ports.sandbox)
            self._serve(self.product_app, self.ports.product)
            for url in (f"{self.urls.fhir}/metadata", f"{self.urls.product}/healthz"):
                _wait_until_answering(url)
        except BaseException:
            self.stop()
            raise
        return self.urls

    def stop(self) -> None:
        """Stop every server this demo started (safe to call twice)."""
        while self._servers:
            server, thread = self._servers.pop()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        while self._processes:
            process = self._processes.pop()
            process.terminate()  # gunicorn's arbiter stops its workers on SIGTERM
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        self._fhir.stop()

    def _sandbox_settings(self, app_key: ECKey) -> SandboxSettings:
        return SandboxSettings(
            public_base=self.urls.ehr.removesuffix("/ehr/"),
            fhir_upstream=self._fhir.base_url,
            app_launch_url=self.urls.app_launch,
            cds_services_url=self.urls.cds_discovery,
            clients=(
                {
                    "client_id": APP_CLIENT_ID,
                    "client_name": "LDN Opioid-Safety",
                    "redirect_uris": [f"{self.urls.product}/callback"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [app_key.as_dict(private=False, alg="ES384")]},
                    "scope": APP_SCOPE_POLICY,
                },
            ),
        )

    def _product_config(self, settings: SandboxSettings, app_key: ECKey) -> dict[str, Any]:
        product_dir = self.data_dir / "product"
        product_dir.mkdir(parents=True, exist_ok=True)
        return {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "PUBLIC_BASE_URL": self.urls.product,
            "DATABASE_URL": f"sqlite:///{product_dir / 'cds-hooks.sqlite3'}",
            "SESSION_DIR": str(product_dir / "sessions"),
            # The sandbox EHR, and the reference client (CDS Hooks Sandbox) for a try-out.
            "CDS_TRUSTED_CLIENTS": {
                settings.cds_issuer: {"jwks_url": settings.cds_jwks_url},
                reference_client.ISSUER: reference_client.trusted_client(),
            },
            "CDS_CORS_ORIGINS": [reference_client.ISSUER],
            "CDS_ALLOWED_FHIR_SERVERS": [settings.fhir_base],
            # So that the printed discovery URL opens in a browser; hook calls still need a JWT.
            "CDS_DISCOVERY_REQUIRES_JWT": False,
            "CDS_SMART_LAUNCH_URL": self.urls.app_launch,
            "SMART_ISSUERS": {
                settings.fhir_base: {
                    "client_id": APP_CLIENT_ID,
                    "auth": "private_key_jwt",
                    "jwk": app_key.as_dict(private=True, alg="ES384"),
                }
            },
            "SMART_DEFAULT_ISS": settings.fhir_base,
            # The EHR page embeds the app: allow the sandbox's origin as a frame ancestor.
            "SMART_FRAME_ANCESTORS": f"'self' {settings.public_base}",
        }

    def _serve(self, app: Flask, port: int) -> None:
        server = make_server(LOOPBACK, port, app, threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name=f"demo-{port}", daemon=True)
        thread.start()
        self._servers.append((server, thread))

    def _serve_in_workers(self, app: Flask, port: int) -> None:
        # Forked, so the app built here (its keys, its database) is the one every worker serves.
        assert self._worker_server is not None
        process = multiprocessing.get_context("fork").Process(
            target=self._worker_server,
            args=(app, LOOPBACK, port, self._sandbox_workers),
            name=f"demo-workers-{port}",
            daemon=True,
        )
        process.start()
        self._processes.append(process)


def _require_free(port: int) -> None:
    """Refuse a busy port up front (werkzeug would exit the process instead of raising)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise DemoError(f"Port {port} on {LOOPBACK} is not free ({error.strerror}).") from error


def _wait_until_answering(url: str) -> None:
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + READY_TIMEOUT
    try:
        while True:
            try:
                response = session.get(url, timeout=READY_TIMEOUT)
                break
            except requests.ConnectionError as error:
                # Worker processes may still be starting: retry until the deadline.
                if time.monotonic() > deadline:
                    raise DemoError(f"{url} does not answer ({type(error).__name__}).") from error
                time.sleep(0.2)
            except requests.RequestException as error:
                raise DemoError(f"{url} does not answer ({type(error).__name__}).") from error
    finally:
        session.close()
    if response.status_code != 200:
        raise DemoError(f"{url} answers HTTP {response.status_code}.")


def instructions(urls: DemoUrls, data_dir: Path, kept: bool) -> str:
    """Return what the demo prints: where everything is, and what to click."""
    where = "kept" if kept else "removed when the demo stops"
    lines = [
        "",
        "LDN Opioid-Safety demo is running. Press Ctrl-C to stop everything.",
        "",
        f"  EHR, patient list        {urls.ehr}",
        f"  CDS Hooks discovery      {urls.cds_discovery}",
        f"  SMART configuration      {urls.smart_configuration}",
        f"  FHIR proxy (token only)  {urls.fhir}",
        f"  FHIR server (no token)   {urls.fhir_server}",
        f"  App, standalone launch   {urls.app_launch}",
        "",
        "What to click:",
        '  1. Open the EHR patient list and a chart ("Open chart"), e.g. the oxycodone patient.',
        '  2. "Prescribe naltrexone", then "Select": the order-select hook runs, its cards show.',
        '     "Sign" runs order-sign. Accept "Remove the naltrexone order", or override the card',
        "     with a reason; either way the decision goes back to the service as feedback.",
        '  3. "Launch the LDN app (EHR launch)": the app opens inside the EHR, from another host.',
        f"  4. Run the whole flow: ldn-safety check --fhir-base {urls.fhir_server}",
        "",
        *reference_client.try_out_instructions(urls.cds_discovery, trusted=True),
        "",
        f"Data: {data_dir} ({where})",
    ]
    return "\n".join(lines)


def demo_command(product_factory: ProductFactory) -> click.Command:
    """Return the ``demo`` command for the ``ldn-safety`` CLI, serving ``product_factory``."""

    @click.command("demo")
    @click.option(
        "--port-base",
        type=int,
        default=8100,
        show_default=True,
        help="SEKMET listens here, the sandbox EHR on +1, the product on +2 (all 127.0.0.1).",
    )
    @click.option(
        "--today",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Date the sample patients for this day (default: today). The CDS service judges "
        "against the real clock, so another day shifts the outcomes.",
    )
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Keep the demo's data here (default: a temporary folder, removed at the end).",
    )
    def demo(port_base: int, today: Any, data_dir: Path | None) -> None:
        """Run SEKMET, the sandbox EHR and the product on loopback, with the sample patients."""
        kept = data_dir is not None
        folder = data_dir or Path(tempfile.mkdtemp(prefix="ldn-demo-"))
        stop = threading.Event()

        def on_signal(number: int, frame: FrameType | None) -> None:
            stop.set()

        # Both set explicitly: a shell starts a background job with SIGINT ignored, and Python
        # then installs no KeyboardInterrupt, so `kill -INT` would otherwise do nothing.
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            ports = DemoPorts.from_base(port_base)
            with Demo(
                folder, product_factory, ports, today=today.date() if today else None
            ) as running:
                click.echo(instructions(running.urls, folder, kept))
                while not stop.wait(0.5):
                    pass
        except (DemoError, FhirServerStartError, SampleLoadError) as error:
            raise click.ClickException(str(error)) from error
        finally:
            if not kept:
                shutil.rmtree(folder, ignore_errors=True)
        click.echo("Demo stopped.")

    return demo
