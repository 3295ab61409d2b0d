"""Parse and check a feedback body (CDS Hooks §Feedback) into frozen FeedbackItems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_hooks.errors import InvalidRequest

OUTCOMES = frozenset({"accepted", "overridden"})


@dataclass(frozen=True, slots=True)
class OverrideCoding:
    """The override reason the clinician picked (a CDS Hooks Coding)."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """What the clinician did with one card."""

    card: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideCoding | None = None
    user_comment: str | None = None


def _string(obj: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{path}.{key} must be a non-empty string", path=f"{path}.{key}")
    return value


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{path} must be an object", path=path)
    return value


def _timestamp(value: str, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{path} must be an ISO 8601 timestamp", path=path) from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"{path} must say its time zone (UTC: end with Z)", path=path)
    return moment


def _accepted(item: Mapping[str, Any], path: str) -> tuple[str, ...]:
    raw = item.get("acceptedSuggestions")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidRequest(f"{path}.acceptedSuggestions must be an array", path=path)
    ids = []
    for index, suggestion in enumerate(raw):
        where = f"{path}.acceptedSuggestions[{index}]"
        ids.append(_string(_object(suggestion, where), "id", where))
    return tuple(i for i in ids if i)


def _override(item: Mapping[str, Any], path: str) -> tuple[OverrideCoding | None, str | None]:
    raw = item.get("overrideReason")
    if raw is None:
        return None, None
    where = f"{path}.overrideReason"
    reason = _object(raw, where)
    comment = _string(reason, "userComment", where, required=False)
    if reason.get("reason") is None:
        return None, comment
    coding = _object(reason["reason"], f"{where}.reason")
    return (
        OverrideCoding(
            system=str(_string(coding, "system", f"{where}.reason")),
            code=str(_string(coding, "code", f"{where}.reason")),
            display=_string(coding, "display", f"{where}.reason", required=False),
        ),
        comment,
    )


def _item(raw: object, path: str) -> FeedbackItem:
    item = _object(raw, path)
    outcome = _string(item, "outcome", path)
    if outcome not in OUTCOMES:
        raise InvalidRequest(
            f"{path}.outcome must be 'accepted' or 'overridden'", path=f"{path}.outcome"
        )
    accepted = _accepted(item, path)
    if outcome == "accepted" and not accepted:
        raise InvalidRequest(
            f"{path}.acceptedSuggestions is required when the outcome is 'accepted'",
            path=f"{path}.acceptedSuggestions",
        )
    reason, comment = _override(item, path)
    if outcome == "accepted" and (reason or comment):
        raise InvalidRequest(
            f"{path}.overrideReason only goes with the outcome 'overridden'",
            path=f"{path}.overrideReason",
        )
    return FeedbackItem(
        card=str(_string(item, "card", path)),
        outcome=outcome,
        outcome_timestamp=_timestamp(
            str(_string(item, "outcomeTimestamp", path)), f"{path}.outcomeTimestamp"
        ),
        accepted_suggestions=accepted,
        override_reason=reason,
        user_comment=comment,
    )


def parse_feedback(body: object) -> tuple[FeedbackItem, ...]:
    """Check a body ``{"feedback": [...]}``; raise InvalidRequest (400) naming the field."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("(body) must be a JSON object", path="(body)")
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise InvalidRequest("feedback must be a non-empty array", path="feedback")
    return tuple(_item(raw, f"feedback[{index}]") for index, raw in enumerate(items))
