"""Fixtures for every test area: the real FHIR server (SEKMET) loaded with the sample patients,
and the real PostgreSQL and Redis servers of a several-host deployment.

Tests that use ``fhir_server`` are integration tests: mark them ``@pytest.mark.integration``.
The server starts once per session (about a second), in its own temporary folder, on a free
loopback port; ``sample_today`` fixes the day the samples are dated for, and
``sample_expectations`` says what the product must conclude for each sample patient that day.

``postgres_url`` is a fresh, empty database per test on Debian's PostgreSQL cluster (started
by ``tests.servers`` when needed; pytest-postgresql makes and drops the database);
``redis_url`` is an empty database on a redis-server that pytest-redis starts for the session.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import settings as hypothesis_settings
from pytest_postgresql import factories
from pytest_postgresql.executors import NoopExecutor
from pytest_redis.executor import RedisExecutor

from sandbox.fhir_server import FhirServer
from sandbox.loader import load_samples
from sandbox.patients import Expectation, expectations
from tests.servers import SOCKET_DIR, Cluster, debian_cluster


@dataclass(frozen=True, slots=True)
class SampleFhirServer:
    """A running SEKMET with the sample patients: its base URL and each sample patient's id."""

    base_url: str
    patient_ids: Mapping[str, str]


# The gate (CI and the README's test command) tries the same generated cases on every run, so
# that it passes or fails on the code alone; ``HYPOTHESIS_PROFILE=explore`` tries new ones each
# run to hunt for cases the gate does not hold yet (add what it finds as an ``@example``).
hypothesis_settings.register_profile("gate", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))


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


# A database name of this pytest process: two runs at once never drop each other's databases.
_PG_DBNAME = f"ldn_test_{os.getpid()}"
_postgres_noproc = factories.postgresql_noproc(
    host=SOCKET_DIR, user=getpass.getuser(), dbname=_PG_DBNAME
)
_postgres_connection = factories.postgresql("postgres_server")


@pytest.fixture(scope="session")
def postgres_cluster() -> Cluster:
    """Return Debian's PostgreSQL cluster, started (as root) with a role for this user."""
    return debian_cluster()


@pytest.fixture(scope="session")
def postgres_server(postgres_cluster: Cluster, request: pytest.FixtureRequest) -> NoopExecutor:
    """Return pytest-postgresql's handle on the running cluster (it keeps a template database)."""
    executor: NoopExecutor = request.getfixturevalue("_postgres_noproc")
    return executor


def postgres_url_for(server: NoopExecutor, dbname: str) -> str:
    """Return the SQLAlchemy URL (psycopg 3, Unix socket) of ``dbname`` on ``server``."""
    return f"postgresql+psycopg://{server.user}@/{dbname}?host={server.host}&port={server.port}"


@pytest.fixture
def postgres_url(postgres_server: NoopExecutor, request: pytest.FixtureRequest) -> str:
    """Return the URL of a fresh, empty PostgreSQL database, dropped after the test."""
    connection = request.getfixturevalue("_postgres_connection")
    dbname: str = connection.info.dbname
    connection.close()
    return postgres_url_for(postgres_server, dbname)


@pytest.fixture
def redis_url(redis_proc: RedisExecutor, redisdb: object) -> str:
    """Return the URL of an empty database on the session's real redis-server (flushed after)."""
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"
