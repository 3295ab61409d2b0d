"""The ``ldn-safety check`` command: options, progress on stdout, the summary, the exit code."""

from __future__ import annotations

import time
from datetime import date, datetime
from urllib.parse import urlsplit

import click

from sandbox.checker import DEFAULT_PLAN_PATIENTS, CheckOptions, run_checks
from sandbox.checker_cds import AppFactory
from sandbox.checker_report import StepResult, Verdict, all_passed, summary_lines
from sandbox.patients import sample_keys

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _echo(text: str, newline: bool) -> None:
    click.echo(text, nl=newline)


def unauthorized_hint(results: list[StepResult], token_given: bool) -> list[str]:
    """Say what to do when the server answered 401: which URL to use, and a token."""
    if not any(r.verdict is Verdict.FAIL and "HTTP 401" in r.detail for r in results):
        return []
    first = (
        "The server refused the bearer token given: check that it is current and grants "
        "read and write access to the sample data."
        if token_given
        else "The server answered 401 Unauthorized: it needs an access token. Pass one with "
        "--bearer-token TOKEN (or the environment variable LDN_CHECK_TOKEN)."
    )
    return [
        first,
        "Checking the demo? Use the FHIR server's own URL that `ldn-safety demo` prints "
        '("FHIR server (no token)"), not the FHIR proxy: the proxy only takes tokens that '
        "its SMART authorization server issued to a launch.",
    ]


def _fhir_base(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter("give the FHIR base URL, e.g. https://hapi.fhir.org/baseR4")
    return value.rstrip("/")


def check_command(create_app: AppFactory) -> click.Command:
    """Build the ``check`` command; ``create_app`` builds the deployable whose CDS service runs."""

    @click.command("check")
    @click.option(
        "--fhir-base",
        required=True,
        metavar="URL",
        callback=_fhir_base,
        help="Base URL of the FHIR R4 server to check.",
    )
    @click.option(
        "--bearer-token",
        envvar="LDN_CHECK_TOKEN",
        default=None,
        metavar="TOKEN",
        help="Access token for the server (or env LDN_CHECK_TOKEN). Never printed.",
    )
    @click.option(
        "--timeout",
        metavar="SECONDS",
        type=click.FloatRange(min=0.1),
        default=20.0,
        show_default=True,
        help="Seconds to wait for each FHIR answer (also the CDS service's fetch deadline).",
    )
    @click.option(
        "--today",
        metavar="YYYY-MM-DD",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="Date the sample data and the expected outcomes are for (default: today).",
    )
    @click.option(
        "--plan-patient",
        "plan_patients",
        multiple=True,
        metavar="KEY",
        type=click.Choice(sample_keys()),
        help="Sample patient to save a plan for (repeatable; default: "
        + ", ".join(DEFAULT_PLAN_PATIENTS)
        + ").",
    )
    @click.option("--cleanup", is_flag=True, help="Remove everything written, after the checks.")
    @click.option(
        "--cleanup-only", is_flag=True, help="Only remove what earlier runs wrote; check nothing."
    )
    def check(
        fhir_base: str,
        bearer_token: str | None,
        timeout: float,
        today: datetime | None,
        plan_patients: tuple[str, ...],
        cleanup: bool,
        cleanup_only: bool,
    ) -> None:
        """Run the whole flow against a FHIR server: load, CDS checks, save, validate."""
        options = CheckOptions(
            base_url=fhir_base,
            today=today.date() if today else date.today(),
            token=bearer_token or None,
            timeout=timeout,
            plan_patients=plan_patients or DEFAULT_PLAN_PATIENTS,
            cleanup=cleanup,
            cleanup_only=cleanup_only,
        )
        parts = urlsplit(fhir_base)
        if options.token and parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            click.echo("warning: the bearer token goes over plain http", err=True)
        what = "removing what the checker wrote" if cleanup_only else f"for {options.today}"
        auth = "with a bearer token" if options.token else "without a token"
        click.echo(f"ldn-safety check {fhir_base} ({auth}), {what}")
        started = time.monotonic()
        results = run_checks(options, create_app, _echo)
        for line in summary_lines(results, target=fhir_base, seconds=time.monotonic() - started):
            click.echo(line)
        for line in unauthorized_hint(results, token_given=options.token is not None):
            click.echo(line, err=True)
        if not all_passed(results):
            raise SystemExit(1)

    return check
