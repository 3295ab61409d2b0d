"""The floor for a hook call: an endpoint that only reads and parses its body, nothing else.

Served by gunicorn exactly as ``ldn-safety serve`` serves the product (same worker class,
workers and threads), so the difference between the two is the product's own work.
"""

from __future__ import annotations

import orjson
from flask import Flask, request

app = Flask(__name__)


@app.post("/parse")
def parse() -> dict[str, int]:
    """Parse the JSON body and answer how many top-level keys it has."""
    body = orjson.loads(request.get_data())
    return {"keys": len(body)}
