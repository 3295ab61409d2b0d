"""The discovery document, served as data from ``services.json`` (CDS Hooks §Discovery)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from cds_hooks.errors import NotFound

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class PrefetchQuery:
    """One prefetch template with its tokens filled in: a FHIR read or a type-level search."""

    key: str
    resource_type: str
    resource_id: str | None
    params: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """One CDS service as discovery describes it."""

    id: str
    hook: str
    title: str
    prefetch: Mapping[str, str]

    def resource_type(self, key: str) -> str:
        """Return the resource type the template ``key`` reads (no token filled)."""
        return self.prefetch[key].partition("?")[0].partition("/")[0]

    def prefetch_query(self, key: str, context: Mapping[str, Any]) -> PrefetchQuery:
        """Fill the template ``key`` with ``context`` values (only root-level primitives).

        Each value is URL-encoded into the template, so it stays one value of one parameter
        (``"1&_tag=x"`` searches for that patient id, it never adds a parameter).
        """

        def token(match: re.Match[str]) -> str:
            value = context.get(match.group(1))
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise KeyError(match.group(1))
            return quote(str(value), safe="")

        template = self.prefetch[key]
        path, _, query = _TOKEN.sub(token, template).partition("?")
        resource_type, _, resource_id = path.partition("/")
        return PrefetchQuery(
            key=key,
            resource_type=resource_type,
            resource_id=unquote(resource_id) or None,
            params=tuple(parse_qsl(query, keep_blank_values=True)),
        )


@cache
def discovery_document() -> dict[str, Any]:
    """Return the discovery response body ``{"services": [...]}`` exactly as published."""
    text = files("cds_hooks").joinpath("services.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def _services() -> dict[str, ServiceDefinition]:
    return {
        entry["id"]: ServiceDefinition(
            id=entry["id"],
            hook=entry["hook"],
            title=entry.get("title", entry["id"]),
            prefetch=dict(entry.get("prefetch", {})),
        )
        for entry in discovery_document()["services"]
    }


def find_service(service_id: str) -> ServiceDefinition:
    """Return the service called ``service_id``; raise NotFound (404) when there is none."""
    try:
        return _services()[service_id]
    except KeyError:
        raise NotFound(f"There is no CDS service {service_id!r}.", path="id") from None


def service_for_hook(hook: str) -> ServiceDefinition:
    """Return the service that answers ``hook`` (there is one per hook)."""
    (service,) = (s for s in _services().values() if s.hook == hook)
    return service
