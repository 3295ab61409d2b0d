"""Response headers every answer of the deployable carries, and the proxy it may sit behind.

``X-Content-Type-Options: nosniff`` on every response, so no browser reads a JSON error or a card
as HTML or script. ``Strict-Transport-Security`` when the request came over HTTPS (RFC 6797 §7.2:
never over plain HTTP). Behind a TLS-terminating proxy, the scheme and client address come from
``X-Forwarded-Proto``/``-For``/``-Host`` only when ``TRUSTED_PROXY_HOPS`` says how many proxies
set them (werkzeug's ProxyFix); otherwise those headers are the client's and are ignored.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from ldn_safety.settings import DeployableSettings


def install_headers(app: Flask, settings: DeployableSettings) -> None:
    """Trust the configured proxies and add the security headers to every response of ``app``."""
    hops, hsts = settings.trusted_proxy_hops, settings.hsts_seconds
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.is_secure and hsts:
            response.headers["Strict-Transport-Security"] = f"max-age={hsts}"
        return response
