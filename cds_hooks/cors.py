"""CORS for browser-based CDS clients (CDS Hooks §Cross-Origin Resource Sharing).

Only configured origins are answered; credentials are never allowed (the client's JWT travels in
the Authorization header, not in cookies). Preflight (OPTIONS) needs no JWT: Flask answers it
before any view runs, and this hook adds the headers.
"""

from __future__ import annotations

from flask import Request, Response

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type"
PREFLIGHT_MAX_AGE = "600"


def add_cors_headers(request: Request, response: Response, origins: tuple[str, ...]) -> Response:
    """Add the CORS headers to ``response`` when the request's Origin is allowed."""
    origin = request.headers.get("Origin")
    response.vary.add("Origin")
    if not origin or not ("*" in origins or origin.rstrip("/") in origins):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
