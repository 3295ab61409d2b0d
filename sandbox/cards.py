"""Read a CDS service's answer into cards the EHR can render and act on (CDS Hooks 2.0 §Cards).

The service is trusted to advise, not to drive the EHR's page: anything malformed is refused as a
whole (the page then says the check did not run), and nothing here is rendered as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INDICATORS = ("critical", "warning", "info")
ACTION_TYPES = frozenset({"create", "update", "delete"})
LINK_TYPES = frozenset({"absolute", "smart"})


class CardFormatError(ValueError):
    """The answer is not a valid CDS Hooks card list; the message names the field."""


@dataclass(frozen=True, slots=True)
class Action:
    """One change a suggestion makes to the draft orders."""

    type: str
    description: str
    resource_ids: tuple[str, ...] = ()
    resource: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A set of actions the clinician can accept with one click."""

    uuid: str
    label: str
    actions: tuple[Action, ...]
    is_recommended: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """A link on a card: a web page (absolute) or the SMART app to launch (smart)."""

    label: str
    url: str
    type: str
    app_context: str | None = None


@dataclass(frozen=True, slots=True)
class OverrideReason:
    """A reason the clinician can give for not following a card (a Coding)."""

    system: str
    code: str
    display: str

    def coding(self) -> dict[str, str]:
        """Return the reason as the Coding the feedback carries."""
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class Card:
    """One card as the EHR shows it."""

    uuid: str
    summary: str
    indicator: str
    source_label: str
    detail: str = ""
    source_url: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: str | None = None
    override_reasons: tuple[OverrideReason, ...] = ()
    links: tuple[Link, ...] = ()

    @property
    def needs_decision(self) -> bool:
        """Tell whether signing must wait for the clinician to accept or override this card."""
        return self.indicator != "info" and bool(self.suggestions or self.override_reasons)


def parse_cards(answer: object) -> list[Card]:
    """Return the cards of a service's answer, most urgent first; raise CardFormatError."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("cards"), list):
        raise CardFormatError("the answer must be an object with a 'cards' array")
    cards = [_card(raw, f"cards[{n}]") for n, raw in enumerate(answer["cards"])]
    return sorted(cards, key=lambda card: INDICATORS.index(card.indicator))


def _card(raw: object, path: str) -> Card:
    card = _object(raw, path)
    indicator = _text(card, "indicator", path)
    if indicator not in INDICATORS:
        raise CardFormatError(f"{path}.indicator must be one of {', '.join(INDICATORS)}")
    source = _object(card.get("source"), f"{path}.source")
    suggestions = tuple(
        _suggestion(s, f"{path}.suggestions[{n}]")
        for n, s in enumerate(_array(card, "suggestions", path))
    )
    behavior = card.get("selectionBehavior")
    if suggestions and behavior not in ("at-most-one", "any"):
        raise CardFormatError(f"{path}.selectionBehavior is required with suggestions")
    return Card(
        uuid=_text(card, "uuid", path),
        summary=_text(card, "summary", path),
        indicator=indicator,
        source_label=_text(source, "label", f"{path}.source"),
        detail=_optional(card, "detail", path) or "",
        source_url=_optional(source, "url", f"{path}.source"),
        suggestions=suggestions,
        selection_behavior=behavior if suggestions else None,
        override_reasons=tuple(
            _override(r, f"{path}.overrideReasons[{n}]")
            for n, r in enumerate(_array(card, "overrideReasons", path))
        ),
        links=tuple(
            _link(k, f"{path}.links[{n}]") for n, k in enumerate(_array(card, "links", path))
        ),
    )


def _suggestion(raw: object, path: str) -> Suggestion:
    suggestion = _object(raw, path)
    actions = []
    for n, item in enumerate(_array(suggestion, "actions", path)):
        where = f"{path}.actions[{n}]"
        action = _object(item, where)
        kind = _text(action, "type", where)
        if kind not in ACTION_TYPES:
            raise CardFormatError(f"{where}.type must be create, update or delete")
        resource = action.get("resource")
        if resource is not None and not isinstance(resource, Mapping):
            raise CardFormatError(f"{where}.resource must be a FHIR resource")
        actions.append(
            Action(
                type=kind,
                description=_optional(action, "description", where) or "",
                resource_ids=_references(action.get("resourceId"), f"{where}.resourceId"),
                resource=resource,
            )
        )
    return Suggestion(
        uuid=_text(suggestion, "uuid", path),
        label=_text(suggestion, "label", path),
        actions=tuple(actions),
        is_recommended=suggestion.get("isRecommended") is True,
    )


def _link(raw: object, path: str) -> Link:
    link = _object(raw, path)
    kind = _text(link, "type", path)
    if kind not in LINK_TYPES:
        raise CardFormatError(f"{path}.type must be absolute or smart")
    return Link(
        label=_text(link, "label", path),
        url=_text(link, "url", path),
        type=kind,
        app_context=_optional(link, "appContext", path) if kind == "smart" else None,
    )


def _override(raw: object, path: str) -> OverrideReason:
    reason = _object(raw, path)
    return OverrideReason(
        system=_optional(reason, "system", path) or "",
        code=_text(reason, "code", path),
        display=_text(reason, "display", path),
    )


def _references(value: object, path: str) -> tuple[str, ...]:
    """Read ``resourceId``: one relative reference, or (CDS Hooks 2.0) an array of them."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) and item for item in items):
        raise CardFormatError(f"{path} must be a relative reference or an array of them")
    return tuple(items)


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CardFormatError(f"{path} must be an object")
    return value


def _array(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise CardFormatError(f"{path}.{key} must be an array")
    return value


def _text(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CardFormatError(f"{path}.{key} must be a non-empty string")
    return value


def _optional(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _text(obj, key, path)
