"""The ``ldn-safety`` command line: serve the deployable (and, from the sandbox, demo and check)."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from cds_hooks.commands import feedback_group
from ldn_safety.app import create_app
from sandbox.checker_command import check_command
from sandbox.demo import demo_command


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


@click.group()
def main() -> None:
    """LDN Opioid-Safety: CDS Hooks service and SMART on FHIR app for low-dose naltrexone."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int, help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the CDS Hooks service and the SMART app under gunicorn (configuration: LDN_* env)."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "accesslog": None,
        "timeout": 30,
    }
    _Gunicorn(create_app(), options).run()


main.add_command(feedback_group(create_app))
main.add_command(check_command(create_app))
main.add_command(demo_command(create_app))
