"""Parse and check a feedback body (CDS Hooks §Feedback) into frozen FeedbackItems.

Feedback is accepted only about cards this service issued, to the client sending it, and only
names suggestions that were on that card: anything else is a 400 and nothing is stored. Sizes are
bounded (items per call, comment length, field lengths) and times must be sane (not before the
card was issued, not in the future), so that a client cannot fill the store or the read-back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cds_hooks.errors import InvalidRequest

OUTCOMES = frozenset({"accepted", "overridden"})
# One hook call answers a handful of cards; an EHR sends feedback per card or per call.
MAX_ITEMS = 50
MAX_COMMENT_CHARACTERS = 2000
MAX_FIELD_CHARACTERS = 500
# Clock difference allowed between the EHR and this service for outcomeTimestamp.
CLOCK_SKEW = timedelta(minutes=5)


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


@dataclass(frozen=True, slots=True)
class CardOnRecord:
    """What the store kept of a card this service issued."""

    uuid: str
    service_id: str
    client_issuer: str | None
    suggestions: frozenset[str]
    issued_at: datetime


def _string(
    obj: Mapping[str, Any],
    key: str,
    path: str,
    *,
    required: bool = True,
    limit: int = MAX_FIELD_CHARACTERS,
) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{path}.{key} must be a non-empty string", path=f"{path}.{key}")
    if len(value) > limit:
        raise InvalidRequest(
            f"{path}.{key} is longer than {limit} characters", path=f"{path}.{key}"
        )
    return value


def _uuid(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = str(_string(obj, key, path))
    try:
        uuid.UUID(value)
    except ValueError:
        raise InvalidRequest(f"{path}.{key} must be a UUID", path=f"{path}.{key}") from None
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
        ids.append(_uuid(_object(suggestion, where), "id", where))
    return tuple(ids)


def _override(item: Mapping[str, Any], path: str) -> tuple[OverrideCoding | None, str | None]:
    raw = item.get("overrideReason")
    if raw is None:
        return None, None
    where = f"{path}.overrideReason"
    reason = _object(raw, where)
    comment = _string(reason, "userComment", where, required=False, limit=MAX_COMMENT_CHARACTERS)
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
        card=_uuid(item, "card", path),
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
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(f"feedback holds more than {MAX_ITEMS} items", path="feedback")
    return tuple(_item(raw, f"feedback[{index}]") for index, raw in enumerate(items))


def check_against_issued(
    items: Sequence[FeedbackItem],
    issued: Mapping[str, CardOnRecord],
    *,
    service_id: str,
    client_issuer: str | None,
    now: datetime,
) -> None:
    """Refuse feedback on a card this service did not issue to this client for this service,
    naming a suggestion that was not on the card, or timed before the card or in the future."""
    for index, item in enumerate(items):
        path = f"feedback[{index}]"
        card = issued.get(item.card)
        if card is None or card.service_id != service_id or card.client_issuer != client_issuer:
            # One answer for all three: the caller learns nothing about other clients' cards.
            raise InvalidRequest(
                f"{path}.card is not a card this service issued to this client",
                path=f"{path}.card",
            )
        for number, suggestion in enumerate(item.accepted_suggestions):
            if suggestion not in card.suggestions:
                raise InvalidRequest(
                    f"{path}.acceptedSuggestions[{number}].id is not a suggestion of that card",
                    path=f"{path}.acceptedSuggestions[{number}].id",
                )
        if not card.issued_at - CLOCK_SKEW <= item.outcome_timestamp <= now + CLOCK_SKEW:
            raise InvalidRequest(
                f"{path}.outcomeTimestamp must lie between the card's issue and now",
                path=f"{path}.outcomeTimestamp",
            )
