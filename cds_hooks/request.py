"""Parse and check a CDS Hooks request body into a frozen HookRequest (CDS Hooks §Calling a
CDS Service; hooks order-select and order-sign). Anything wrong is an InvalidRequest naming the
field by its path, e.g. ``context.draftOrders.entry[1].resource``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cds_hooks.discovery import ServiceDefinition
from cds_hooks.errors import InvalidRequest
from fhir_client import strict_json
from fhir_profiles.syntax import is_fhir_id

# A JSON escape of a UTF-16 surrogate: only then can a body hold a lone surrogate, which is no text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

# Hooks whose context carries `selections` (the orders just selected) besides `draftOrders`.
_HOOKS_WITH_SELECTIONS = frozenset({"order-select"})


@dataclass(frozen=True, slots=True)
class FhirAuthorization:
    """The bearer token the CDS client hands the service for its FHIR server."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


@dataclass(frozen=True, slots=True)
class HookRequest:
    """A checked order-select or order-sign call.

    ``prefetch`` holds only the keys the client sent: a missing key means "not prefetched",
    a key holding ``None`` means "the client found no data" (CDS Hooks §Prefetch Template).
    ``draft_orders`` is the draftOrders Bundle as sent.
    """

    hook: str
    hook_instance: str
    user_id: str
    patient_id: str
    encounter_id: str | None
    selections: tuple[str, ...]
    draft_orders: Mapping[str, Any]
    fhir_server: str | None
    fhir_authorization: FhirAuthorization | None
    prefetch: Mapping[str, Mapping[str, Any] | None]
    context: Mapping[str, Any]

    def draft_resources(self) -> tuple[Mapping[str, Any], ...]:
        """Return every resource in draftOrders, in order."""
        return tuple(entry["resource"] for entry in self.draft_orders.get("entry", ()))

    def is_selected(self, reference: str) -> bool:
        """Say whether the user is acting on the draft ``reference`` (every draft on order-sign)."""
        return self.hook not in _HOOKS_WITH_SELECTIONS or reference in self.selections


def decode_body(raw: bytes) -> str:
    """Return the body as text; a body that is not UTF-8 is a 400 (not JSON)."""
    try:
        return strict_json.decode(raw)
    except strict_json.InvalidJson:
        raise InvalidRequest("The body is not valid JSON.", path="(body)") from None


def parse_json_body(text: str) -> object:
    """Parse a request body (``decode_body``) as strict JSON (``fhir_client.strict_json``);
    otherwise a 400."""
    try:
        return strict_json.loads_text(text)
    except strict_json.DuplicateKey as error:
        raise InvalidRequest(
            f"The body names the key {error.key[:100]!r} twice in one object.", path="(body)"
        ) from None
    except strict_json.InvalidJson:
        raise InvalidRequest("The body is not valid JSON.", path="(body)") from None


def _reference(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _typed(value: object, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise InvalidRequest(f"{path} must be {what}", path=path)
    if not isinstance(value, kind):
        raise InvalidRequest(f"{path} must be {what}", path=path)
    return value


def _required(obj: Mapping[str, Any], key: str, kind: type, what: str, prefix: str = "") -> Any:
    path = f"{prefix}{key}"
    if key not in obj or obj[key] is None:
        raise InvalidRequest(f"{path} is required", path=path)
    value = _typed(obj[key], kind, path, what)
    if isinstance(value, str) and not value.strip():
        raise InvalidRequest(f"{path} must not be empty", path=path)
    return value


def _optional_str(obj: Mapping[str, Any], key: str, prefix: str = "") -> str | None:
    if obj.get(key) is None:
        return None
    value: str = _required(obj, key, str, "a string", prefix)
    return value


def _fhir_id(value: str | None, path: str) -> str | None:
    """Refuse an id that is not FHIR id syntax: it goes into the service's FHIR queries."""
    if value is not None and not is_fhir_id(value):
        raise InvalidRequest(
            f"{path} must be a FHIR id (1 to 64 letters, digits, '-' or '.')", path=path
        )
    return value


def _url(value: str, path: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"{path} must be an absolute http(s) URL", path=path)
    return value


def _fhir_authorization(body: Mapping[str, Any]) -> FhirAuthorization | None:
    raw = body.get("fhirAuthorization")
    if raw is None:
        return None
    auth = _typed(raw, Mapping, "fhirAuthorization", "an object")
    prefix = "fhirAuthorization."
    token_type = _required(auth, "token_type", str, "a string", prefix)
    if token_type.lower() != "bearer":
        raise InvalidRequest(
            'fhirAuthorization.token_type must be "Bearer"', path="fhirAuthorization.token_type"
        )
    return FhirAuthorization(
        access_token=_required(auth, "access_token", str, "a string", prefix),
        token_type="Bearer",  # noqa: S106 (the fixed value the spec requires, not a secret)
        expires_in=_required(auth, "expires_in", int, "an integer", prefix),
        scope=_required(auth, "scope", str, "a string", prefix),
        subject=_required(auth, "subject", str, "a string", prefix),
        patient=_optional_str(auth, "patient", prefix),
    )


def _draft_orders(context: Mapping[str, Any]) -> Mapping[str, Any]:
    path = "context.draftOrders"
    bundle = _required(context, "draftOrders", Mapping, "a FHIR Bundle", "context.")
    if bundle.get("resourceType") != "Bundle":
        raise InvalidRequest(f"{path} must be a FHIR Bundle", path=f"{path}.resourceType")
    entries = _typed(bundle.get("entry", []), list, f"{path}.entry", "an array")
    for index, entry in enumerate(entries):
        entry_path = f"{path}.entry[{index}]"
        _typed(entry, Mapping, entry_path, "an object")
        resource = _required(entry, "resource", Mapping, "a FHIR resource", f"{entry_path}.")
        _required(resource, "resourceType", str, "a string", f"{entry_path}.resource.")
    checked: Mapping[str, Any] = bundle
    return checked


def _selections(context: Mapping[str, Any], draft_orders: Mapping[str, Any]) -> tuple[str, ...]:
    path = "context.selections"
    selections = _required(context, "selections", list, "an array of references", "context.")
    drafted = {_reference(entry["resource"]) for entry in draft_orders.get("entry", [])}
    for index, selection in enumerate(selections):
        _typed(selection, str, f"{path}[{index}]", "a reference such as MedicationRequest/123")
        if selection not in drafted:
            raise InvalidRequest(
                f"{path}[{index}] names {selection!r}, which is not in context.draftOrders",
                path=f"{path}[{index}]",
            )
    return tuple(selections)


def _prefetch(
    body: Mapping[str, Any], service: ServiceDefinition
) -> dict[str, Mapping[str, Any] | None]:
    raw = body.get("prefetch")
    if raw is None:
        return {}
    prefetch = _typed(raw, Mapping, "prefetch", "an object")
    checked: dict[str, Mapping[str, Any] | None] = {}
    # Keys the service did not ask for are ignored: the spec lets a client send only its own.
    for key in service.prefetch:
        if key not in prefetch:
            continue
        value = prefetch[key]
        if value is not None:
            _typed(value, Mapping, f"prefetch.{key}", "a FHIR resource or null")
            _required(value, "resourceType", str, "a string", f"prefetch.{key}.")
        checked[key] = value
    return checked


def parse_hook_request(body: object, service: ServiceDefinition) -> HookRequest:
    """Check ``body`` as a call to ``service`` and return it; raise InvalidRequest (400)."""
    request: Mapping[str, Any] = _typed(body, Mapping, "(body)", "a JSON object")
    hook = _required(request, "hook", str, "a string")
    if hook != service.hook:
        raise InvalidRequest(
            f"hook {hook!r} does not match service {service.id!r}, which answers {service.hook!r}",
            path="hook",
        )
    hook_instance = _required(request, "hookInstance", str, "a UUID string")
    try:
        uuid.UUID(hook_instance.removeprefix("urn:uuid:"))
    except ValueError:
        raise InvalidRequest("hookInstance must be a UUID", path="hookInstance") from None
    fhir_server = _optional_str(request, "fhirServer")
    if fhir_server is not None:
        _url(fhir_server, "fhirServer")
    authorization = _fhir_authorization(request)
    if authorization is not None and fhir_server is None:
        raise InvalidRequest(
            "fhirServer is required when fhirAuthorization is sent", path="fhirServer"
        )
    context = _required(request, "context", Mapping, "an object")
    draft_orders = _draft_orders(context)
    return HookRequest(
        hook=hook,
        hook_instance=hook_instance,
        user_id=_required(context, "userId", str, "a string", "context."),
        patient_id=str(
            _fhir_id(
                _required(context, "patientId", str, "a string", "context."), "context.patientId"
            )
        ),
        encounter_id=_fhir_id(
            _optional_str(context, "encounterId", "context."), "context.encounterId"
        ),
        selections=(_selections(context, draft_orders) if hook in _HOOKS_WITH_SELECTIONS else ()),
        draft_orders=draft_orders,
        fhir_server=fhir_server,
        fhir_authorization=authorization,
        prefetch=MappingProxyType(_prefetch(request, service)),
        context=context,
    )
