"""One prescribing session in the sandbox EHR: the draft orders, the last cards, the decisions.

A session moves through ``order-select`` (cards shown while drafting) and ``order-sign`` (cards
that must be accepted or overridden before the order counts as signed). Sessions live in the
sandbox's database for a few hours, under an unguessable id that also keeps other sites from
posting to them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.cards import Card, Suggestion
from sandbox.order_drafts import reference

SESSION_TTL = 4 * 3600


@dataclass(frozen=True)
class HookAnswer:
    """What the CDS service answered to one hook call, or why it did not."""

    hook: str
    service_id: str
    cards: tuple[Card, ...] = ()
    failure: str | None = None

    def card(self, card_uuid: str) -> Card | None:
        """Return the card with ``card_uuid``, or None."""
        return next((card for card in self.cards if card.uuid == card_uuid), None)


@dataclass(frozen=True)
class OrderSession:
    """The state of one prescribing session."""

    patient_id: str
    drafts: tuple[Mapping[str, Any], ...]
    id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    answer: HookAnswer | None = None
    decisions: Mapping[str, str] = field(default_factory=dict)
    signed: bool = False
    notes: tuple[str, ...] = ()

    @property
    def pending_cards(self) -> tuple[Card, ...]:
        """Return the sign-time cards still waiting for the clinician's decision."""
        if self.answer is None or self.answer.hook != "order-sign":
            return ()
        return tuple(
            c for c in self.answer.cards if c.needs_decision and c.uuid not in self.decisions
        )

    def with_answer(self, answer: HookAnswer) -> OrderSession:
        """Record a new hook answer; decisions on earlier cards no longer apply."""
        session = replace(self, answer=answer, decisions={})
        return session.settle()

    def decided(self, card: Card, outcome: str, note: str) -> OrderSession:
        """Record the clinician's decision on one card."""
        decisions = {**self.decisions, card.uuid: outcome}
        return replace(self, decisions=decisions, notes=(*self.notes, note)).settle()

    def accept(self, suggestion: Suggestion) -> OrderSession:
        """Apply a suggestion's actions to the draft orders (CDS Hooks 2.0 §Action)."""
        drafts = list(self.drafts)
        for action in suggestion.actions:
            if action.type == "delete":
                doomed = set(action.resource_ids)
                drafts = [d for d in drafts if reference(dict(d)) not in doomed]
            elif action.type == "create" and action.resource is not None:
                drafts.append(action.resource)
            elif action.type == "update" and action.resource is not None:
                target = reference(dict(action.resource))
                drafts = [action.resource if reference(dict(d)) == target else d for d in drafts]
        return replace(self, drafts=tuple(drafts))

    def settle(self) -> OrderSession:
        """Mark the order signed once a sign-time answer has nothing left to decide."""
        answer = self.answer
        if answer is None or answer.hook != "order-sign" or answer.failure is not None:
            return self
        if self.pending_cards or not self.drafts:
            return self
        return replace(self, signed=True)
