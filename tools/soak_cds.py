"""Soak the real server: concurrent signed hook calls against ``ldn-safety serve`` (gunicorn).

Starts ``ldn-safety serve`` on a free port of 127.0.0.1 (its store and sessions in a temporary
folder, a fresh ES384 client key trusted through an inline JWK Set), then runs ``--clients``
threads for ``--seconds`` (and at most ``--max-calls`` calls in all), each posting signed
``order-select`` calls for low-dose naltrexone with a 50-record prefetch. Calls alternate between
two patients whose right answers are known: one with an active opioid among the records (the
answer must be a ``critical`` card) and one whose chart holds the same records without any
opioid (the answer must be the ``info`` card). Every call is checked.

It prints the calls, errors (anything but a 200 with cards, including connection failures),
wrong answers, throughput, latency percentiles, and the server's memory (resident set of the
gunicorn master and workers) after warm-up and at the end, and exits non-zero on any error,
wrong answer, or memory growth over ``--max-growth`` (default 50%). Traffic goes to 127.0.0.1
only. Usage::

    python -m tools.soak_cds [--seconds 60] [--clients 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests
from joserfc.jwk import ECKey

from sandbox.cds_client import ClientKey, hook_request
from sandbox.order_drafts import CHOICES_BY_KEY, draft_order, reference
from tools.bench_cds import _is_opioid, chart_prefetch

ISSUER = "https://ehr.soak.test"
SERVICE_PATH = "/cds-services/ldn-naltrexone-order-select"
USER = "Practitioner/soak-prescriber"
RECORDS = 50
OPIOID_PATIENT = "soak-opioid"
CLEAN_PATIENT = "soak-clean"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _without_opioids(bundle: dict[str, Any]) -> dict[str, Any]:
    entries = [
        e for e in bundle["entry"] if not _is_opioid(int(e["resource"]["id"].split("-")[-1]))
    ]
    return {**bundle, "entry": entries, "total": len(entries)}


def _body(patient: str) -> bytes:
    prefetch = chart_prefetch(RECORDS)
    prefetch["patient"] = {"resourceType": "Patient", "id": patient}
    if patient == CLEAN_PATIENT:
        for key in ("medicationStatements", "medicationRequests"):
            prefetch[key] = _without_opioids(prefetch[key])
    order = draft_order(CHOICES_BY_KEY["ldn-1.5"], patient, USER)
    request = hook_request(
        "order-select",
        patient_id=patient,
        user=USER,
        draft_orders=[order],
        selections=[reference(order)],
        prefetch=prefetch,
    )
    return orjson.dumps(request)


EXPECTED = {OPIOID_PATIENT: "critical", CLEAN_PATIENT: "info"}


@dataclass
class Server:
    """A running ``ldn-safety serve`` process."""

    process: subprocess.Popen[bytes]
    base: str

    def rss_bytes(self) -> int:
        """Return the resident memory of the master and its workers."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        total = 0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total


@contextmanager
def serve(key: ClientKey, workers: int, folder: Path) -> Iterator[Server]:
    """Start ``ldn-safety serve`` on a free loopback port; stop it on exit."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LDN_SECRET_KEY": "soak-secret-" + "s" * 20,
        "LDN_PUBLIC_BASE_URL": base,
        "LDN_INSTANCE_PATH": str(folder),
        "LDN_CDS_TRUSTED_CLIENTS": orjson.dumps({ISSUER: {"jwks": key.jwks()}}).decode(),
        "LDN_LOG_LEVEL": "WARNING",
    }
    # The installed command, from the same environment as this interpreter.
    command = [str(Path(sys.executable).parent / "ldn-safety"), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ldn-safety serve did not start; see " + log.name)
            time.sleep(0.2)
        yield Server(process, base)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Result:
    """What the soak saw."""

    calls: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_start: int = 0
    rss_end: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def growth(self) -> float:
        return (self.rss_end - self.rss_start) / self.rss_start if self.rss_start else 0.0

    def report(self) -> str:
        ms = {q: round(self.percentile(q) * 1000) for q in (0.5, 0.95, 0.99)}
        return (
            f"soak: {self.calls} calls in {self.seconds:.1f} s "
            f"({self.calls / max(self.seconds, 1e-9):.1f}/s); errors {sum(self.errors.values())} "
            f"{dict(self.errors)}; wrong answers {sum(self.wrong.values())} {dict(self.wrong)}; "
            f"latency p50 {ms[0.5]} ms, p95 {ms[0.95]} ms, p99 {ms[0.99]} ms, "
            f"max {round(max(self.latencies, default=0) * 1000)} ms; "
            f"server memory {self.rss_start / 2**20:.0f} -> {self.rss_end / 2**20:.0f} MiB "
            f"({self.growth:+.0%})"
        )


def _call(
    http: requests.Session, server: Server, key: ClientKey, patient: str, body: bytes
) -> tuple[float, str | None, str | None]:
    """Post one call; return its latency, an error category and a wrong-answer category."""
    token = key.sign(ISSUER, server.base + SERVICE_PATH)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    began = time.perf_counter()
    try:
        response = http.post(server.base + SERVICE_PATH, data=body, headers=headers, timeout=30)
    except requests.RequestException as exc:
        return time.perf_counter() - began, type(exc).__name__, None
    elapsed = time.perf_counter() - began
    if response.status_code != 200:
        return elapsed, f"HTTP {response.status_code}", None
    indicators = [card.get("indicator") for card in response.json().get("cards", [])]
    expected = EXPECTED[patient]
    if indicators[:1] != [expected]:
        return elapsed, None, f"{patient}: {indicators} instead of {expected}"
    return elapsed, None, None


def soak(seconds: float, clients: int, workers: int = 2, max_calls: int = 200_000) -> Result:
    """Run the soak and return what it saw."""
    key = ClientKey(ECKey.generate_key("P-384"))
    bodies = {patient: _body(patient) for patient in EXPECTED}
    result = Result()
    lock = threading.Lock()
    with (
        tempfile.TemporaryDirectory(prefix="ldn-soak-") as folder,
        serve(key, workers, Path(folder)) as server,
    ):
        warm = requests.Session()
        for number in range(20):
            patient = OPIOID_PATIENT if number % 2 else CLEAN_PATIENT
            _call(warm, server, key, patient, bodies[patient])
        result.rss_start = server.rss_bytes()
        stop_at = time.monotonic() + seconds

        def client(index: int) -> None:
            http = requests.Session()
            number = index
            while time.monotonic() < stop_at:
                with lock:
                    if result.calls >= max_calls:
                        return
                    result.calls += 1
                patient = OPIOID_PATIENT if number % 2 else CLEAN_PATIENT
                number += 1
                elapsed, error, wrong = _call(http, server, key, patient, bodies[patient])
                with lock:
                    result.latencies.append(elapsed)
                    if error:
                        result.errors[error] += 1
                    if wrong:
                        result.wrong[wrong] += 1

        began = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.seconds = time.monotonic() - began
        result.rss_end = server.rss_bytes()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-calls", type=int, default=200_000)
    parser.add_argument("--max-growth", type=float, default=0.5)
    args = parser.parse_args()
    result = soak(args.seconds, args.clients, args.workers, args.max_calls)
    print(result.report())
    failed = result.errors or result.wrong or result.growth > args.max_growth
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
