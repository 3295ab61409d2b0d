"""FHIR R4 id and resource type syntax: the one place every face and the client check them.

An id (FHIR R4 datatypes, ``id``) is 1 to 64 letters, digits, '-' and '.'; nothing else may
reach a URL path or a search query, where it could change which records are asked for.
"""

from __future__ import annotations

import re

# The regular expression text, for patterns that embed an id (``Patient/<id>``).
ID_SYNTAX = r"[A-Za-z0-9\-.]{1,64}"
FHIR_ID = re.compile(ID_SYNTAX)
# A resource type name as it appears in a URL path (``MedicationStatement``).
TYPE_SYNTAX = r"[A-Z][A-Za-z]{1,63}"
RESOURCE_TYPE = re.compile(TYPE_SYNTAX)


def is_fhir_id(value: object) -> bool:
    """Say whether ``value`` is a string with the syntax of a FHIR id."""
    return isinstance(value, str) and FHIR_ID.fullmatch(value) is not None


def is_resource_type(value: object) -> bool:
    """Say whether ``value`` is a string with the syntax of a FHIR resource type name."""
    return isinstance(value, str) and RESOURCE_TYPE.fullmatch(value) is not None
