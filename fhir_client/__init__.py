"""The one FHIR HTTP client: used by the CDS service, the SMART app, the sandbox and the checker."""

from fhir_client.client import FhirClient
from fhir_client.errors import (
    FhirError,
    FhirForbidden,
    FhirMalformedAnswer,
    FhirNotFound,
    FhirPagingRefused,
    FhirServerError,
    FhirUnauthorized,
    FhirUnavailable,
)

__all__ = [
    "FhirClient",
    "FhirError",
    "FhirForbidden",
    "FhirMalformedAnswer",
    "FhirNotFound",
    "FhirPagingRefused",
    "FhirServerError",
    "FhirUnauthorized",
    "FhirUnavailable",
]
