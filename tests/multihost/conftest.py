"""Two ``ldn-safety serve`` instances (gunicorn, two workers each) on different ports, sharing
one real PostgreSQL database and one real Redis, as two hosts behind a load balancer would.

Around them: the real FHIR server (SEKMET, with the sample patients) and the sandbox EHR's SMART
authorization server, where the product is registered as a ``private_key_jwt`` client whose
redirect URI is the shared public address. Both instances trust one CDS client key made here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from joserfc.jwk import ECKey, KeySet
from pytest_postgresql.executors import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor
from pytest_redis.executor import RedisExecutor
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from sandbox.fhir_server import LOOPBACK, free_loopback_port
from sandbox.settings import SandboxSettings
from tests.conftest import SampleFhirServer, postgres_url_for

CDS_ISSUER = "https://ehr.multihost.test"
CLIENT_ID = "ldn-opioid-safety"
ADMIN_TOKEN = "admin-token-for-the-multihost-tests"
STARTUP_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Instances:
    """Where each instance answers, the public address both stand behind, and the shared stores."""

    a: str
    b: str
    public: str
    fhir_base: str
    patient_ids: dict[str, str]
    database_url: str
    cds_key: ECKey


def _serve_command(port: int) -> list[str]:
    command = Path(sys.executable).with_name("ldn-safety")
    return [str(command), "serve", "--host", LOOPBACK, "--port", str(port), "--workers", "2",
            "--threads", "2"]  # fmt: skip


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if server.poll() is not None:
            pytest.fail(f"serve exited {server.returncode}: {log.read_text()}")
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{base} was not ready in time: {log.read_text()}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def shared_database(postgres_server: NoopExecutor) -> Iterator[str]:
    """Create one PostgreSQL database for both instances; drop it at the end of the module."""
    dbname = f"ldn_multihost_{os.getpid()}"
    janitor = DatabaseJanitor(
        user=postgres_server.user,
        host=postgres_server.host,
        port=postgres_server.port,
        dbname=dbname,
    )
    with janitor:
        yield postgres_url_for(postgres_server, dbname)


@pytest.fixture(scope="module")
def instances(
    fhir_server: SampleFhirServer,
    shared_database: str,
    redis_proc: RedisExecutor,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Instances]:
    """Run the sandbox EHR in-process and two product instances as real servers."""
    port_a, port_b, port_ehr = free_loopback_port(), free_loopback_port(), free_loopback_port()
    # The address a load balancer would publish; here it is A's (B is reached directly).
    public = f"http://{LOOPBACK}:{port_a}"
    app_key = ECKey.generate_key("P-384", parameters={"kid": "ldn-multihost-app"})
    cds_key = ECKey.generate_key("P-384", parameters={"kid": "ldn-multihost-cds"})
    sandbox = SandboxSettings(
        public_base=f"http://localhost:{port_ehr}",
        fhir_upstream=fhir_server.base_url,
        app_launch_url=f"{public}/launch",
        cds_services_url=f"{public}/cds-services",
        clients=(
            {
                "client_id": CLIENT_ID,
                "redirect_uris": [f"{public}/callback"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [app_key.as_dict(private=False, alg="ES384")]},
                "scope": "openid fhirUser launch launch/patient offline_access patient/*.rs "
                "patient/CarePlan.cu patient/DocumentReference.c",
            },
        ),
    )
    ehr = make_server(LOOPBACK, port_ehr, create_sandbox_app(sandbox), threaded=True)
    threading.Thread(target=ehr.serve_forever, daemon=True).start()

    # Migrate once, as an operator would before starting the hosts.
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "LDN_SECRET_KEY": json.dumps("multihost-test-secret-key-0123456789abcdef"),
        "LDN_PUBLIC_BASE_URL": json.dumps(public),
        "LDN_DATABASE_URL": json.dumps(shared_database),
        "LDN_SESSION_REDIS_URL": json.dumps(f"redis://{redis_proc.host}:{redis_proc.port}/1"),
        "LDN_CDS_TRUSTED_CLIENTS": json.dumps(
            {CDS_ISSUER: {"jwks": KeySet([cds_key]).as_dict(private=False)}}
        ),
        "LDN_CDS_ADMIN_TOKEN": json.dumps(ADMIN_TOKEN),
        "LDN_CDS_ALLOWED_FHIR_SERVERS": json.dumps([sandbox.fhir_base]),
        "LDN_SMART_ISSUERS": json.dumps(
            {
                sandbox.fhir_base: {
                    "client_id": CLIENT_ID,
                    "auth": "private_key_jwt",
                    "jwk": app_key.as_dict(private=True, alg="ES384"),
                }
            }
        ),
        "LDN_SMART_REDIRECT_URI": json.dumps(f"{public}/callback"),
    }
    folder = tmp_path_factory.mktemp("multihost")
    upgrade = subprocess.run(  # noqa: S603 - our own command
        [str(Path(sys.executable).with_name("ldn-safety")), "db", "upgrade"],
        env={**base_env, "LDN_INSTANCE_PATH": str(folder / "migrate")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    servers: list[subprocess.Popen[bytes]] = []
    try:
        for name, port in (("a", port_a), ("b", port_b)):
            log = folder / f"{name}.log"
            env = {**base_env, "LDN_INSTANCE_PATH": str(folder / name)}
            with log.open("w") as stderr:
                server = subprocess.Popen(  # noqa: S603 - our own command
                    _serve_command(port), env=env, stdout=subprocess.DEVNULL, stderr=stderr
                )
            servers.append(server)
            _wait_ready(f"http://{LOOPBACK}:{port}", server, log)
        yield Instances(
            a=f"http://{LOOPBACK}:{port_a}",
            b=f"http://{LOOPBACK}:{port_b}",
            public=public,
            fhir_base=sandbox.fhir_base,
            patient_ids=dict(fhir_server.patient_ids),
            database_url=shared_database,
            cds_key=cds_key,
        )
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        ehr.shutdown()
        ehr.server_close()
