"""``ldn-safety check``: the whole flow against a real FHIR server, and clear failures.

The command runs in a subprocess, as a user or a CI job runs it, so that what is tested is the
exact output and exit code (and that no traceback ever reaches it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fhir_client import FhirClient
from fhir_profiles.artefacts import CAREPLAN_IDENTIFIER_SYSTEM
from sandbox.checker_capability import read_capabilities
from sandbox.checker_cds import DRAFT_REFERENCE, judge_cards
from sandbox.checker_cleanup import DELETE_ORDER, TAG_QUERY
from sandbox.fhir_server import FhirServer, free_loopback_port
from sandbox.loader import load_samples
from sandbox.patients import expectations, sample_bundle, sample_keys

TOKEN = "checker-test-token-0f9e8d7c6b5a"
TODAY = date.today()
# Steps of a run without --cleanup: server, samples, CDS start, one CDS check per sample
# patient, then the two plans (four steps each) and the duplicate check.
STEPS = 12 + len(sample_keys())


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``ldn-safety check`` with ``args`` and return what it printed and its exit code."""
    return subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-c", "from ldn_safety.cli import main; main()", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def step_lines(output: str) -> list[str]:
    """Return the progress lines (``[n/total] name ... VERDICT ...``)."""
    return [line for line in output.splitlines() if line.startswith("[")]


def tagged(client: FhirClient) -> dict[str, int]:
    """Count the tagged resources per type."""
    return {
        kind: len(client.search(kind, {"_tag": TAG_QUERY, "_count": "100"}))
        for kind in DELETE_ORDER
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FhirServer]:
    """An empty SEKMET of the test's own (the checker writes to it)."""
    with FhirServer(tmp_path / "sekmet") as running:
        yield running


@pytest.mark.integration
def test_check_passes_end_to_end_and_a_second_run_writes_nothing_twice(
    server: FhirServer,
) -> None:
    first = run_check("--fhir-base", server.base_url)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = step_lines(first.stdout)
    entries = len(sample_bundle(TODAY)["entry"])
    assert len(lines) == STEPS
    assert all(" ... PASS " in line for line in lines), first.stdout
    assert f"[ 4/{STEPS}] CDS check {sample_keys()[0]} ... PASS critical do-not-start" in (
        first.stdout
    )
    assert "CDS check fibromyalgia-no-opioids ... PASS info safe-to-start" in first.stdout
    assert f"{entries} created, 0 updated" in first.stdout
    assert "RESULT: PASSED" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr

    # Another day: the samples are re-dated and the CDS service judges as of that day too.
    other_day = (TODAY - timedelta(days=30)).isoformat()
    second = run_check("--fhir-base", server.base_url, "--today", other_day)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{len(sample_keys())} patients dated for {other_day}" in second.stdout
    assert f"0 created, {entries} updated" in second.stdout
    assert second.stdout.count("already there (conditional create kept it)") == 2
    client = FhirClient(server.base_url)
    sent = sample_bundle(TODAY)["entry"]
    counts = tagged(client)
    assert counts["Patient"] == len(sample_keys())
    assert sum(counts.values()) == len(sent) + 1 + 2 * 2  # samples, the sample clinician, two plans
    plans = client.search("CarePlan", {"identifier": f"{CAREPLAN_IDENTIFIER_SYSTEM}|"})
    assert len(plans) == 2


@pytest.mark.integration
def test_cleanup_removes_everything_the_checker_wrote(server: FhirServer) -> None:
    result = run_check("--fhir-base", server.base_url, "--cleanup")
    cleanup = step_lines(result.stdout)[-1]
    written = len(sample_bundle(TODAY)["entry"]) + 1 + 2 * 2  # samples, the clinician, two plans
    assert f"clean up ... PASS deleted {written} (" in cleanup
    assert f"Patient {len(sample_keys())}" in cleanup
    assert "; 0 left" in cleanup
    client = FhirClient(server.base_url)
    assert sum(tagged(client).values()) == 0
    assert client.search("CarePlan", {"identifier": f"{CAREPLAN_IDENTIFIER_SYSTEM}|"}) == []


@pytest.mark.integration
def test_cleanup_only_removes_earlier_samples_and_checks_nothing_else(
    server: FhirServer,
) -> None:
    load_samples(server.base_url, today=TODAY)
    result = run_check("--fhir-base", server.base_url, "--cleanup-only")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = step_lines(result.stdout)
    assert [line.split(" ... ")[0] for line in lines] == [
        "[1/2] reach the FHIR server",
        "[2/2] clean up",
    ]
    written = len(sample_bundle(TODAY)["entry"]) + 1  # and the sample clinician
    assert f"deleted {written} (" in lines[1]
    assert sum(tagged(FhirClient(server.base_url)).values()) == 0


def test_a_server_that_is_down_fails_clearly() -> None:
    base = f"http://127.0.0.1:{free_loopback_port()}/fhir"
    result = run_check("--fhir-base", base, "--timeout", "2")
    assert result.returncode == 1
    first, *rest = step_lines(result.stdout)
    assert first.startswith(
        f"[ 1/{STEPS}] reach the FHIR server ... FAIL capabilities: server unreachable"
    )
    assert all(" ... NOT RUN (needs: " in line for line in rest)
    assert "[1] reach the FHIR server: capabilities: server unreachable" in result.stdout
    assert result.stdout.rstrip().endswith("RESULT: FAILED")
    assert "Traceback" not in result.stdout + result.stderr
    assert "--bearer-token" not in result.stderr  # not a token problem: no token advice


class _Answer(BaseHTTPRequestHandler):
    """Answer with the server's fixed status, content type and body (``/metadata`` may differ)."""

    def _answer(self) -> None:
        answers = self.server.answers  # type: ignore[attr-defined]
        metadata = self.path.split("?")[0].endswith("/metadata")
        status, content_type, body = answers.get("metadata" if metadata else "*", answers["*"])
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


def _outcome(code: str, diagnostics: str) -> bytes:
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    return json.dumps({"resourceType": "OperationOutcome", "issue": [issue]}).encode()


@pytest.fixture
def answering(request: pytest.FixtureRequest) -> Iterator[str]:
    """Serve fixed answers (``{"*": answer, "metadata": answer}``) on loopback; yield the base."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.answers = request.param  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


FHIR_JSON = "application/fhir+json"
STU3 = json.dumps({"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2"}).encode()
R4 = json.dumps({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}).encode()


@pytest.mark.parametrize(
    ("answering", "reason"),
    [
        (
            {"*": (500, FHIR_JSON, _outcome("exception", "database is on fire"))},
            "capabilities: HTTP 500 (error: exception): database is on fire",
        ),
        (
            {"*": (200, "text/html", b"<html><body>Welcome to nginx!</body></html>")},
            "capabilities: the body is not JSON",
        ),
        (
            {"*": (401, FHIR_JSON, _outcome("login", "token not accepted"))},
            "capabilities: HTTP 401 (error: login): the server refused the bearer token",
        ),
        (
            {"*": (200, FHIR_JSON, STU3)},
            "FHIR 3.0.2; transaction: not declared; conditional create: not declared: "
            "the product needs FHIR R4 (4.0.x)",
        ),
    ],
    indirect=["answering"],
    ids=["500-operation-outcome", "not-fhir", "token-refused", "stu3"],
)
def test_a_server_that_answers_wrongly_fails_clearly_without_echoing_the_token(
    answering: str, reason: str
) -> None:
    result = run_check("--fhir-base", answering, "--bearer-token", TOKEN)
    assert result.returncode == 1
    first = step_lines(result.stdout)[0]
    assert first.startswith(f"[ 1/{STEPS}] reach the FHIR server ... FAIL {reason}")
    assert f"[1] reach the FHIR server: {reason}" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "answering", [{"*": (401, FHIR_JSON, _outcome("login", "no token"))}], indirect=True
)
@pytest.mark.parametrize("with_token", [False, True], ids=["no-token", "token-refused"])
def test_a_401_says_which_url_to_use_and_how_to_pass_a_token(
    answering: str, with_token: bool
) -> None:
    token = ["--bearer-token", TOKEN] if with_token else []
    result = run_check("--fhir-base", answering, *token)
    assert result.returncode == 1
    if with_token:
        assert "The server refused the bearer token given" in result.stderr
    else:
        assert "it needs an access token. Pass one with --bearer-token TOKEN" in result.stderr
        assert "LDN_CHECK_TOKEN" in result.stderr
    assert "Use the FHIR server's own URL that `ldn-safety demo` prints" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_the_token_can_come_from_the_environment_and_is_never_printed() -> None:
    base = f"http://127.0.0.1:{free_loopback_port()}/fhir"
    env = {**os.environ, "LDN_CHECK_TOKEN": TOKEN}
    result = run_check("--fhir-base", base, "--timeout", "1", env=env)
    assert "(with a bearer token)" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_a_malformed_base_url_is_refused_before_anything_runs() -> None:
    result = run_check("--fhir-base", "hapi.fhir.org/baseR4")
    assert result.returncode == 2
    assert "give the FHIR base URL" in result.stderr
    assert step_lines(result.stdout) == []


def _card(indicator: str, context: dict[str, str], text: str) -> dict[str, object]:
    link = {"type": "smart", "url": "http://x/launch", "appContext": json.dumps(context)}
    return {"indicator": indicator, "summary": text, "detail": text, "links": [link]}


def test_cards_are_judged_against_the_expected_outcome() -> None:
    expected = expectations(TODAY)["hydrocodone-stopped"]
    until = expected.earliest_start.isoformat() if expected.earliest_start else ""
    checked = f"hydrocodone until {until} (from the FHIR server)"
    order = {"order": DRAFT_REFERENCE, "status": "wait-until"}
    assert judge_cards([_card("critical", order, checked)], expected).problems == ()

    softened = judge_cards([_card("info", {**order, "status": "safe-to-start"}, checked)], expected)
    assert softened.problems[0] == "expected critical wait-until, got info safe-to-start"
    prefetched = judge_cards([_card("critical", order, f"hydrocodone until {until}")], expected)
    assert prefetched.problems == ("the card does not say the data came from the FHIR server",)
    extra = _card("info", {"topic": "liver"}, "liver")
    assert judge_cards([_card("critical", order, checked), extra], expected).problems == (
        "info cards ['liver'], expected none",
    )
    assert judge_cards([], expected).problems == (
        "expected one card about the naltrexone draft, got 0",
    )


def test_capabilities_report_version_transactions_and_conditional_create() -> None:
    facts = read_capabilities(
        {
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "software": {"name": "HAPI FHIR Server", "version": "7.2.0"},
            "rest": [
                {
                    "mode": "server",
                    "interaction": [{"code": "transaction"}],
                    "resource": [
                        {"type": "CarePlan", "conditionalCreate": True},
                        {"type": "DocumentReference"},
                    ],
                }
            ],
        }
    )
    assert facts.is_r4
    assert facts.describe() == (
        "FHIR 4.0.1 (HAPI FHIR Server 7.2.0); transaction: yes; conditional create: CarePlan"
    )
    with pytest.raises(ValueError, match="answered a Patient"):
        read_capabilities({"resourceType": "Patient"})


def test_cleanup_covers_every_type_the_samples_and_the_checker_write() -> None:
    written = {entry["resource"]["resourceType"] for entry in sample_bundle(TODAY)["entry"]}
    assert written | {"CarePlan", "DocumentReference", "Practitioner"} <= set(DELETE_ORDER)
    assert DELETE_ORDER[-1] == "Patient"


@pytest.mark.parametrize(
    "answering",
    [{"metadata": (200, FHIR_JSON, R4), "*": (500, FHIR_JSON, _outcome("exception", "disk full"))}],
    indirect=True,
)
def test_a_server_that_fails_after_its_metadata_fails_at_the_load_step(answering: str) -> None:
    result = run_check("--fhir-base", answering)
    assert result.returncode == 1
    reach, load, *rest = step_lines(result.stdout)
    assert " ... PASS FHIR 4.0.1;" in reach
    assert load.startswith(
        f"[ 2/{STEPS}] load the sample patients ... FAIL "
        f"{answering} refused the sample transaction (HTTP 500): disk full"
    )
    assert all(" ... NOT RUN (needs: " in line for line in rest)
    assert "Traceback" not in result.stdout + result.stderr
