"""The one-command demo: it starts everything on loopback, its URLs answer, and it stops cleanly."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from ldn_safety.app import create_app
from ldn_safety.cli import main
from sandbox import reference_client
from sandbox.demo import Demo, DemoError, DemoPorts, instructions

pytestmark = pytest.mark.integration


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_demo_answers_on_every_printed_url_and_stops(tmp_path: Path) -> None:
    ports = DemoPorts.free()
    with Demo(tmp_path, create_app, ports) as demo:
        urls = demo.urls
        ehr = requests.get(urls.ehr, timeout=30)
        assert ehr.status_code == 200
        assert "Open chart" in ehr.text
        discovery = requests.get(urls.cds_discovery, timeout=30).json()
        assert {s["id"] for s in discovery["services"]} == {
            "ldn-naltrexone-order-select",
            "ldn-naltrexone-order-sign",
        }
        # Ready for the CDS Hooks Sandbox: CORS for its origin, its issuer trusted (printed too).
        from_reference = requests.get(
            urls.cds_discovery, headers={"Origin": reference_client.ISSUER}, timeout=30
        )
        assert from_reference.headers["Access-Control-Allow-Origin"] == reference_client.ISSUER
        trusted = demo.product_app.extensions["cds_hooks"].settings.trusted_clients
        assert trusted[reference_client.ISSUER].jku_allowed(reference_client.JWKS_URL)
        printed = instructions(urls, tmp_path, kept=False)
        assert f"paste as CDS service discovery URL   {urls.cds_discovery}" in printed
        assert json.dumps(reference_client.PUBLIC_JWKS, separators=(",", ":")) in printed
        smart = requests.get(urls.smart_configuration, timeout=30).json()
        assert smart["authorization_endpoint"].startswith(urls.ehr.removesuffix("/ehr/"))
        assert requests.get(f"{urls.fhir}/metadata", timeout=30).status_code == 200
        assert requests.get(f"{urls.fhir}/Patient", timeout=30).status_code == 401
        launch = requests.get(urls.app_launch, allow_redirects=False, timeout=30)
        assert launch.status_code == 302
        assert launch.headers["Location"].startswith(smart["authorization_endpoint"])
    assert all(refuses_connections(port) for port in (ports.fhir, ports.sandbox, ports.product))


def test_a_busy_port_is_a_clear_error_and_nothing_is_left_running(tmp_path: Path) -> None:
    ports = DemoPorts.free()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports.sandbox))
        busy.listen()
        with pytest.raises(DemoError, match=f"Port {ports.sandbox} on 127.0.0.1 is not free"):
            Demo(tmp_path, create_app, ports).start()
    assert refuses_connections(ports.fhir)


@pytest.mark.parametrize("base", [80, 65534])
def test_the_port_base_must_leave_room_for_three_ports(base: int) -> None:
    with pytest.raises(DemoError, match="--port-base"):
        DemoPorts.from_base(base)


def test_the_cli_offers_the_demo_command() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--port-base" in result.output
    assert "--today" in result.output


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_base() -> int:
    """Return a port with the next two free as well (the CLI takes a base).

    The base is taken below the kernel's ephemeral range: ports in that range are handed to the
    suite's own outgoing connections at any moment, so three free ones there may not stay free
    while the demo starts (seen in CI as "Port ... is not free").
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chooser = random.Random()  # a port number, not a secret
    for _ in range(200):
        base = chooser.randrange(20_000, max(20_001, low - 3))
        if all(_bindable(base + n) for n in range(3)):
            return base
    raise AssertionError("no three free ports in a row")


def test_a_demo_started_in_the_background_prints_the_fhir_server_and_stops_on_sigint(
    tmp_path: Path,
) -> None:
    base = free_port_base()
    command = [sys.executable, "-c", "from ldn_safety.cli import main; main()", "demo"]
    # What a shell does to a background job (`ldn-safety demo &`): SIGINT ignored on start.
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [*command, "--port-base", str(base), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("Data: "):
                break
        text = "".join(printed)
        server = f"http://127.0.0.1:{base}/fhir"
        assert f"FHIR server (no token)   {server}" in text
        assert f"ldn-safety check --fhir-base {server}" in text
        patients = requests.get(f"{server}/Patient", timeout=30)
        assert patients.status_code == 200  # its own URL needs no token, unlike the proxy
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
    assert "Demo stopped." in rest
    assert all(refuses_connections(base + n) for n in range(3))
