"""The ``ldn-safety`` command line: serve the deployable (and, from the sandbox, demo and check).

The sandbox commands (``demo``, ``check``) are imported only when they run: a production install
(``pip install .``, no extras) has neither the sandbox's FHIR server nor its Markdown renderer, and
``serve`` and ``feedback`` must work there.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from cds_hooks.commands import db_group, feedback_group
from cds_hooks.state import EXTENSION as CDS_EXTENSION
from cds_hooks.state import CdsState
from ldn_safety.app import create_app
from ldn_safety.collector import prepare_for_workers

# One worker process per core: checking a hook call is CPU work under the GIL, so processes give
# the parallelism; at least two, so one slow call never holds the only process.
DEFAULT_WORKERS = max(2, os.cpu_count() or 1)
# Threads per worker: while one call waits on the EHR's FHIR server (up to the 3 s deadline) or
# on the database, the others use the CPU; more would only queue behind the GIL.
DEFAULT_THREADS = 4

# Command name -> (module, builder, extra that installs what it needs, one-line help).
_SANDBOX_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "check": (
        "sandbox.checker_command",
        "check_command",
        "sandbox,validate",
        "Run the whole flow against any FHIR server and print a pass/fail report.",
    ),
    "demo": (
        "sandbox.demo",
        "demo_command",
        "sandbox",
        "Start the whole product on the embedded sandbox (real FHIR server, EHR, app).",
    ),
}


def _after_fork(server: Any, worker: Any) -> None:
    """In each new worker: open database connections of its own, never the parent's."""
    state: CdsState | None = worker.app.application.extensions.get(CDS_EXTENSION)
    if state is not None:  # the sandbox EHR, served the same way, has no CDS store
        state.store.after_fork()


def run_gunicorn(
    app: Flask, host: str, port: int, workers: int, threads: int = DEFAULT_THREADS
) -> None:
    """Serve ``app`` under gunicorn with ``workers`` processes of ``threads`` threads each."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "accesslog": None,
        "timeout": 30,
        "post_fork": _after_fork,
    }
    prepare_for_workers()  # the workers fork from this process, and inherit what it set
    _Gunicorn(app, options).run()


class _Gunicorn(BaseApplication):
    """Run a ready Flask app under gunicorn with options given in code, not a config file."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _missing_extra_command(
    name: str, extra: str, short_help: str, error: ImportError
) -> click.Command:
    """A stand-in for a sandbox command whose dependencies are not installed: it says which."""

    def run() -> None:
        raise click.ClickException(
            f"'ldn-safety {name}' needs the optional dependencies of the sandbox "
            f"(missing module: {error.name}). Install them with: "
            f"pip install 'ldn-opioid-safety[{extra}]'"
        )

    return click.Command(
        name,
        callback=run,
        help=f"{short_help} (needs: pip install 'ldn-opioid-safety[{extra}]')",
        short_help=short_help,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class _LazyGroup(click.Group):
    """A group whose sandbox commands are imported on first use, never at start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_SANDBOX_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _SANDBOX_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, builder, extra, short_help = _SANDBOX_COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            return _missing_extra_command(cmd_name, extra, short_help, error)
        command: click.Command = getattr(module, builder)(create_app)
        return command


@click.group(cls=_LazyGroup)
def main() -> None:
    """LDN Opioid-Safety: CDS Hooks service and SMART on FHIR app for low-dose naltrexone."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers",
    default=DEFAULT_WORKERS,
    show_default="number of CPU cores, at least 2",
    type=click.IntRange(min=1),
    help="Worker processes.",
)
@click.option(
    "--threads",
    default=DEFAULT_THREADS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Threads per worker process.",
)
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the CDS Hooks service and the SMART app under gunicorn (configuration: LDN_* env)."""
    app = create_app()
    secret = app.config.get("SECRET_KEY")
    if not isinstance(secret, str) or len(secret) < 16:
        # Sessions, CSRF tokens and the card store's patient pseudonyms all rest on this key;
        # a default would be shared by every install that forgot to set it.
        raise click.ClickException(
            "LDN_SECRET_KEY is not set (or shorter than 16 characters): set it to a long random "
            "value, the same on every worker and host, e.g. "
            "LDN_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    run_gunicorn(app, host, port, workers, threads)


main.add_command(feedback_group(create_app))
main.add_command(db_group(create_app))
