"""SMART scopes: parse v2 and v1 resource scopes, narrow a request to a policy, check access.

Implements SMART App Launch 2.x, "Scopes and Launch Context": a resource scope is
``level/ResourceType.permissions`` with level ``patient``, ``user`` or ``system``, the type ``*``
for every type, and v2 permissions ``c r u d s`` in that order. The v1 forms map to v2:
``read`` = ``rs``, ``write`` = ``cud``, ``*`` = ``cruds``. Granular scopes with a search query
(``patient/Observation.rs?category=...``) are not supported: they are never granted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fhir_profiles.syntax import TYPE_SYNTAX

Interaction = Literal["c", "r", "u", "d", "s"]

INTERACTIONS = "cruds"
CONTEXT_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)
REFRESH_SCOPES = frozenset({"offline_access", "online_access"})

_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V2_PERMISSIONS = re.compile(r"c?r?u?d?s?")
_RESOURCE_SCOPE = re.compile(rf"(patient|user|system)/(\*|{TYPE_SYNTAX})\.([a-z*]+)")
_INTERACTION_WORDS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_CONTEXT_WORDS = {
    "openid": "confirm who you are to the app",
    "fhirUser": "tell the app which FHIR resource represents you",
    "launch": "receive the patient and encounter open in the EHR",
    "launch/patient": "receive the patient you select",
    "launch/encounter": "receive the encounter open in the EHR",
    "offline_access": "keep access after you sign out (refresh token)",
    "online_access": "keep access while you are signed in (refresh token)",
}


@dataclass(frozen=True, slots=True)
class ResourceScope:
    """One resource scope: who it is for (level), which type, which interactions."""

    level: str
    resource_type: str
    permissions: frozenset[str]
    text: str

    def grants(self, resource_type: str, interaction: str) -> bool:
        """Tell whether this scope covers ``interaction`` on ``resource_type`` (level aside)."""
        return self.resource_type in ("*", resource_type) and interaction in self.permissions

    @property
    def v2_text(self) -> str:
        """Return the scope in v2 syntax, permissions in canonical order."""
        letters = "".join(p for p in INTERACTIONS if p in self.permissions)
        return f"{self.level}/{self.resource_type}.{letters}"


def parse_resource_scope(text: str) -> ResourceScope | None:
    """Parse one v2 or v1 resource scope; return None for anything else."""
    match = _RESOURCE_SCOPE.fullmatch(text)
    if match is None:
        return None
    level, resource_type, letters = match.groups()
    letters = _V1_PERMISSIONS.get(letters, letters)
    if not letters or not _V2_PERMISSIONS.fullmatch(letters):
        return None
    return ResourceScope(level, resource_type, frozenset(letters), text)


def scope_tokens(scope: str | None) -> list[str]:
    """Split a space-delimited scope string into its tokens, without duplicates, in order."""
    return list(dict.fromkeys((scope or "").split()))


@dataclass(frozen=True, slots=True)
class Scopes:
    """Scopes granted to a token, bound to the token's patient context (if any)."""

    resources: tuple[ResourceScope, ...]
    context: frozenset[str]
    patient: str | None = None

    @classmethod
    def parse(cls, scope: str | None, patient: str | None = None) -> Scopes:
        """Parse a scope string; tokens that are neither SMART context nor resource scopes drop."""
        resources = []
        context = set()
        for token in scope_tokens(scope):
            if token in CONTEXT_SCOPES:
                context.add(token)
            elif (rule := parse_resource_scope(token)) is not None:
                resources.append(rule)
        return cls(tuple(resources), frozenset(context), patient)

    def allows(
        self, resource_type: str, interaction: Interaction, compartment_patient: str | None
    ) -> bool:
        """Tell whether these scopes permit ``interaction`` on ``resource_type``.

        ``compartment_patient`` is the patient whose compartment the request is confined to, or
        None when it is not confined to one patient. ``patient/`` scopes grant access only when
        it equals the token's patient; ``user/`` and ``system/`` scopes grant regardless (the
        sandbox does not model per-user access rights).
        """
        if interaction not in INTERACTIONS or len(interaction) != 1:
            raise ValueError(f"interaction must be one of c, r, u, d, s, not {interaction!r}")
        for rule in self.resources:
            if not rule.grants(resource_type, interaction):
                continue
            if rule.level != "patient":
                return True
            if self.patient is not None and compartment_patient == self.patient:
                return True
        return False

    def has(self, name: str) -> bool:
        """Tell whether a context scope (``openid``, ``launch``, ...) was granted."""
        return name in self.context

    @property
    def wants_refresh_token(self) -> bool:
        """Tell whether ``offline_access`` or ``online_access`` was granted."""
        return bool(self.context & REFRESH_SCOPES)


def narrow_scope(requested: str | None, allowed: str) -> str:
    """Grant what was requested, cut down to what ``allowed`` permits; keep the request's order.

    A resource scope granted in full keeps the client's own spelling (v1 stays v1); one granted
    in part is reported in v2 syntax, so the client sees exactly what it got.
    """
    policy = Scopes.parse(allowed)
    granted: list[str] = []
    for token in scope_tokens(requested):
        if token in CONTEXT_SCOPES:
            if policy.has(token):
                granted.append(token)
        elif (rule := parse_resource_scope(token)) is not None:
            granted.extend(_narrow_rule(rule, policy.resources))
    return " ".join(dict.fromkeys(granted))


def scope_within(requested: str, granted: str) -> bool:
    """Tell whether every token of ``requested`` is covered by ``granted`` (refresh narrowing)."""
    return narrow_scope(requested, granted).split() == scope_tokens(requested)


def fit_to_context(scope: str, *, patient: bool, encounter: bool) -> str:
    """Drop ``launch/patient`` or ``launch/encounter`` when the launch has no such context."""
    unavailable = {"launch/patient"} if not patient else set()
    if not encounter:
        unavailable.add("launch/encounter")
    return " ".join(token for token in scope_tokens(scope) if token not in unavailable)


def describe_scope(token: str) -> str:
    """Say in plain words what one scope lets the app do (for the consent page)."""
    if token in _CONTEXT_WORDS:
        return _CONTEXT_WORDS[token]
    rule = parse_resource_scope(token)
    if rule is None:
        return "not recognised: it will not be granted"
    verbs = ", ".join(_INTERACTION_WORDS[p] for p in INTERACTIONS if p in rule.permissions)
    what = "all resource types" if rule.resource_type == "*" else f"{rule.resource_type} resources"
    whose = {
        "patient": "of the selected patient",
        "user": "that you can access",
        "system": "on the whole server",
    }[rule.level]
    return f"{verbs} {what} {whose}"


def _narrow_rule(rule: ResourceScope, policy: tuple[ResourceScope, ...]) -> list[str]:
    """Intersect one requested resource scope with the policy's scopes of the same level."""
    parts: dict[str, set[str]] = {}
    for allowed in policy:
        if allowed.level != rule.level:
            continue
        if allowed.resource_type == "*":
            resource_type = rule.resource_type
        elif rule.resource_type in ("*", allowed.resource_type):
            resource_type = allowed.resource_type
        else:
            continue
        permissions = rule.permissions & allowed.permissions
        if permissions:
            parts.setdefault(resource_type, set()).update(permissions)
    if parts == {rule.resource_type: set(rule.permissions)}:
        return [rule.text]
    wildcard = parts.get("*", set())
    return [
        ResourceScope(rule.level, resource_type, frozenset(permissions), "").v2_text
        for resource_type, permissions in parts.items()
        if resource_type == "*" or not permissions <= wildcard
    ]
