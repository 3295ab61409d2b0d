"""``ldn-safety feedback export``: print the stored CDS feedback as JSON lines."""

from __future__ import annotations

from collections.abc import Callable

import click
import orjson
from flask import Flask

from cds_hooks.state import EXTENSION, CdsState


def feedback_group(create_app: Callable[[], Flask]) -> click.Group:
    """Build the ``feedback`` command group for an app made by ``create_app``."""

    @click.group("feedback")
    def feedback() -> None:
        """Read back what clinicians did with the CDS cards."""

    @feedback.command("export")
    def export() -> None:
        """Print every feedback item, joined with its card, one JSON object per line."""
        state: CdsState = create_app().extensions[EXTENSION]
        try:
            for row in state.store.feedback_rows():
                click.echo(orjson.dumps(row).decode())
        finally:
            state.store.close()

    return feedback
