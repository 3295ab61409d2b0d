"""Send a request with the credentials it was given and no others.

Given no ``auth``, requests looks the host up in ``.netrc`` and sends that entry's password
(replacing an ``Authorization`` header set by hand). For the GETs that carry no credentials of
ours (JWK Sets, SMART configuration), ``auth=no_netrc`` keeps them as written; the environment's
proxy settings still apply. ``FhirClient`` reads the environment once instead (docs/fhir-client.md).
"""

from __future__ import annotations

from requests import PreparedRequest


def no_netrc(request: PreparedRequest) -> PreparedRequest:
    """An ``auth`` for requests that adds nothing: the request leaves as it is."""
    return request
