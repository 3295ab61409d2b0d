"""Read what a FHIR server says of itself in its CapabilityStatement (the checker's first step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The resource types the product writes with conditional create (the plan and its evidence).
WRITTEN_TYPES = ("CarePlan", "DocumentReference")


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """The FHIR version, the software, and the interactions the flow relies on, as declared."""

    fhir_version: str | None
    software: str | None
    transaction: bool
    conditional_create: tuple[str, ...]

    @property
    def is_r4(self) -> bool:
        """Say whether the server speaks FHIR R4 (4.0.x)."""
        return self.fhir_version is not None and self.fhir_version.startswith("4.0.")

    def describe(self) -> str:
        """Say it in one line, e.g. ``FHIR 4.0.1 (HAPI FHIR 7.2), transaction: yes, ...``."""
        software = f" ({self.software})" if self.software else ""
        conditional = ", ".join(self.conditional_create) or "not declared"
        return (
            f"FHIR {self.fhir_version or 'version not stated'}{software}; "
            f"transaction: {'yes' if self.transaction else 'not declared'}; "
            f"conditional create: {conditional}"
        )


def read_capabilities(statement: Mapping[str, Any]) -> ServerFacts:
    """Return the facts the checker reports from a CapabilityStatement."""
    if statement.get("resourceType") != "CapabilityStatement":
        raise ValueError(f"/metadata answered a {statement.get('resourceType')}")
    servers = [r for r in statement.get("rest") or [] if r.get("mode") == "server"]
    interactions = {
        i.get("code")
        for rest in servers
        for i in rest.get("interaction") or []
        if isinstance(i, dict)
    }
    conditional = tuple(
        resource["type"]
        for rest in servers
        for resource in rest.get("resource") or []
        if resource.get("type") in WRITTEN_TYPES and resource.get("conditionalCreate") is True
    )
    software = statement.get("software")
    name = None
    if isinstance(software, dict) and software.get("name"):
        name = " ".join(str(software[k]) for k in ("name", "version") if software.get(k))
    version = statement.get("fhirVersion")
    return ServerFacts(
        fhir_version=version if isinstance(version, str) else None,
        software=name,
        transaction="transaction" in interactions,
        conditional_create=conditional,
    )
