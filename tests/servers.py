"""Start the real PostgreSQL the store tests use: Debian's own cluster (see DESIGN §4).

PostgreSQL refuses to initialise or run as root, so as root (CI, a fresh machine) the tests
start the cluster Debian's ``postgresql`` package made, which runs as the ``postgres`` user, and
give root a superuser role; pytest-postgresql then makes a throwaway database per test on its
Unix socket. Run as another user, the cluster must already be running with a role for that user.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SOCKET_DIR = "/var/run/postgresql"


class PostgresUnavailable(RuntimeError):
    """The Debian PostgreSQL cluster could not be found or started."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """One Debian PostgreSQL cluster: version, name, port."""

    version: str
    name: str
    port: int


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)  # noqa: S603


def debian_cluster() -> Cluster:
    """Return the first cluster ``pg_lsclusters`` lists, started (and with a role for us)."""
    listing = _run("pg_lsclusters", "--no-header")
    rows = [line.split() for line in listing.stdout.splitlines() if line.strip()]
    if listing.returncode != 0 or not rows:
        raise PostgresUnavailable(
            "no PostgreSQL cluster: install Debian's postgresql package (bash scripts/setup)"
        )
    version, name, port, status = rows[0][:4]
    cluster = Cluster(version, name, int(port))
    if os.geteuid() != 0:
        return cluster
    if status != "online":
        started = _run("pg_ctlcluster", version, name, "start")
        if started.returncode != 0:
            raise PostgresUnavailable(f"pg_ctlcluster {version} {name} start: {started.stderr}")
    user = getpass.getuser()
    created = _run("runuser", "-u", "postgres", "--", "createuser", "-p", port, "-s", user)
    if created.returncode != 0 and "already exists" not in created.stderr:
        raise PostgresUnavailable(f"createuser -s {user}: {created.stderr}")
    return cluster


@contextmanager
def private_cluster(version: str) -> Iterator[Cluster]:
    """Create and start a throwaway cluster of this test run's own; drop it afterwards (root).

    For tests that restart the server: restarting the shared cluster would cut the connections
    of every other test run on the machine.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    name = f"ldn_{os.getpid()}"
    created = _run("pg_createcluster", version, name, "-p", port, "--start")
    try:
        if created.returncode != 0:
            raise PostgresUnavailable(f"pg_createcluster {version} {name}: {created.stderr}")
        user = getpass.getuser()
        role = _run("runuser", "-u", "postgres", "--", "createuser", "-p", port, "-s", user)
        if role.returncode != 0:
            raise PostgresUnavailable(f"createuser -s {user}: {role.stderr}")
        yield Cluster(version, name, int(port))
    finally:
        _run("pg_dropcluster", version, name, "--stop")


def stop(cluster: Cluster) -> None:
    """Stop the cluster (as root): every open connection to it is cut, none can be made."""
    _control(cluster, "stop", "-m", "fast")


def start(cluster: Cluster) -> None:
    """Start a stopped cluster again (as root)."""
    _control(cluster, "start")


def _control(cluster: Cluster, *action: str) -> None:
    done = _run("pg_ctlcluster", cluster.version, cluster.name, *action)
    if done.returncode != 0:
        raise PostgresUnavailable(f"pg_ctlcluster {action[0]}: {done.stderr}")
