"""A checker for CDS Hooks 2.0 response shapes (discovery, cards), applied to every response.

It returns the list of problems found (empty when the document conforms), so a failing test
names every violation at once.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from fhir_profiles.syntax import ID_SYNTAX

INDICATORS = {"info", "warning", "critical"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}
_TOKEN = re.compile(r"\{\{([^}]*)\}\}")
# Prefetch query restrictions (CDS Hooks §Prefetch query restrictions), for the params we use.
_ALLOWED_PARAMS = {"patient", "subject", "code", "category", "status", "date", "_count", "_sort"}


def _nonempty_string(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _absolute_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _coding(value: object, where: str, *, display_required: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    problems = [
        f"{where}.{k}: required string"
        for k in ("system", "code")
        if not _nonempty_string(value.get(k))
    ]
    if display_required and not _nonempty_string(value.get("display")):
        problems.append(f"{where}.display: required for override reasons")
    return problems


def discovery_problems(document: object) -> list[str]:
    """List how ``document`` fails to be a CDS Hooks discovery response."""
    if not isinstance(document, dict) or not isinstance(document.get("services"), list):
        return ["(root): must be an object with a services array"]
    problems: list[str] = []
    ids = [s.get("id") for s in document["services"] if isinstance(s, dict)]
    if len(ids) != len(set(ids)):
        problems.append("services: ids are not unique")
    for index, service in enumerate(document["services"]):
        where = f"services[{index}]"
        for key in ("hook", "id", "description"):
            if not _nonempty_string(service.get(key)):
                problems.append(f"{where}.{key}: required string")
        for key in ("title", "usageRequirements"):
            if key in service and not _nonempty_string(service[key]):
                problems.append(f"{where}.{key}: must be a non-empty string when present")
        for key, template in service.get("prefetch", {}).items():
            problems += [f"{where}.prefetch.{key}: {p}" for p in _template_problems(template)]
    return problems


def _template_problems(template: object) -> list[str]:
    if not _nonempty_string(template):
        return ["must be a non-empty string"]
    problems = []
    for token in _TOKEN.findall(str(template)):
        if not re.fullmatch(
            r"context\.[A-Za-z0-9_]+|user(Practitioner|PractitionerRole|Patient|RelatedPerson)Id",
            token,
        ):
            problems.append(f"token {{{{{token}}}}} is not a root-level context field")
    path, _, query = str(template).partition("?")
    if not re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{[^}]+\}\})?", path):
        problems.append("must be a read Type/{{token}} or a type-level search Type?...")
    for part in filter(None, query.split("&")):
        name = part.partition("=")[0].split(":")[0]
        if name not in _ALLOWED_PARAMS:
            problems.append(f"parameter {name!r} is outside the prefetch query restrictions")
    return problems


def cards_problems(document: object) -> list[str]:
    """List how ``document`` fails to be a CDS Hooks service response ``{"cards": [...]}``."""
    if not isinstance(document, dict) or not isinstance(document.get("cards"), list):
        return ["(root): must be an object with a cards array"]
    problems: list[str] = []
    for index, card in enumerate(document["cards"]):
        problems += card_problems(card, f"cards[{index}]")
    return problems


def card_problems(card: object, where: str = "card") -> list[str]:
    """List how ``card`` fails to be a CDS Hooks card (with our extra: uuid and source.url)."""
    if not isinstance(card, dict):
        return [f"{where}: not an object"]
    problems: list[str] = []
    if not _is_uuid(card.get("uuid")):
        problems.append(f"{where}.uuid: must be a UUID (feedback needs it)")
    summary = card.get("summary")
    if not _nonempty_string(summary) or len(str(summary)) >= 140:
        problems.append(f"{where}.summary: required, under 140 characters")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{where}.indicator: must be one of {sorted(INDICATORS)}")
    if "detail" in card and not _nonempty_string(card["detail"]):
        problems.append(f"{where}.detail: must be non-empty Markdown when present")
    source = card.get("source")
    if not isinstance(source, dict) or not _nonempty_string(source.get("label")):
        problems.append(f"{where}.source.label: required")
    elif "url" in source and not _absolute_url(source["url"]):
        problems.append(f"{where}.source.url: must be an absolute URL")
    elif isinstance(source, dict) and "topic" in source:
        problems += _coding(source["topic"], f"{where}.source.topic", display_required=False)
    problems += _suggestion_problems(card, where)
    for i, reason in enumerate(card.get("overrideReasons", [])):
        problems += _coding(reason, f"{where}.overrideReasons[{i}]", display_required=True)
    for i, link in enumerate(card.get("links", [])):
        problems += _link_problems(link, f"{where}.links[{i}]")
    for key in ("suggestions", "overrideReasons", "links"):
        if key in card and not card[key]:
            problems.append(f"{where}.{key}: must be omitted rather than empty")
    return problems


def _suggestion_problems(card: dict[str, Any], where: str) -> list[str]:
    suggestions = card.get("suggestions")
    if suggestions is None:
        return (
            [f"{where}.selectionBehavior: only with suggestions"]
            if "selectionBehavior" in card
            else []
        )
    problems = []
    if card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
        problems.append(f"{where}.selectionBehavior: required with suggestions")
    for i, suggestion in enumerate(suggestions):
        at = f"{where}.suggestions[{i}]"
        if not _nonempty_string(suggestion.get("label")):
            problems.append(f"{at}.label: required")
        if not _is_uuid(suggestion.get("uuid")):
            problems.append(f"{at}.uuid: must be a UUID (feedback names it)")
        for j, action in enumerate(suggestion.get("actions", [])):
            problems += _action_problems(action, f"{at}.actions[{j}]")
    return problems


def _action_problems(action: dict[str, Any], where: str) -> list[str]:
    problems = []
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{where}.type: must be one of {sorted(ACTION_TYPES)}")
    if not _nonempty_string(action.get("description")):
        problems.append(f"{where}.description: required")
    if kind in ("create", "update") and not isinstance(action.get("resource"), dict):
        problems.append(f"{where}.resource: required for {kind}")
    if kind == "delete" and not re.fullmatch(
        rf"[A-Z][A-Za-z]+/{ID_SYNTAX}", str(action.get("resourceId"))
    ):
        problems.append(f"{where}.resourceId: a relative reference is required for delete")
    return problems


def _link_problems(link: dict[str, Any], where: str) -> list[str]:
    problems = []
    if not _nonempty_string(link.get("label")):
        problems.append(f"{where}.label: required")
    if not _absolute_url(link.get("url")):
        problems.append(f"{where}.url: must be an absolute URL")
    if link.get("type") not in LINK_TYPES:
        problems.append(f"{where}.type: must be absolute or smart")
    if "appContext" in link and link.get("type") != "smart":
        problems.append(f"{where}.appContext: only on smart links")
    if "appContext" in link and not isinstance(link["appContext"], str):
        problems.append(f"{where}.appContext: must be a string")
    return problems
