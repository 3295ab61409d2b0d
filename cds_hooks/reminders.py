"""The re-alert rule: an opioid card overridden at order-select becomes a reminder at order-sign.

A clinician who overrode the critical card at order-select, with a reason, has made a decision;
asking for a second override of the identical card at order-sign teaches clinicians to click
through alerts (and an EHR then lists the override twice). The rule:

* At order-sign, for each naltrexone order, the service looks for a card it issued at
  order-select **in the same ordering session**: same EHR (client issuer), same patient, same
  draft order (its ``resourceId``), issued within :data:`SESSION_HOURS`, and overridden with a
  reason in the feedback the EHR sent.
* If that card stood for **the same decision** (status, earliest start, and every finding with
  its state and dates: :func:`decision_key`), the full card is replaced by a short ``warning``
  reminder naming the override and its reason, with no second override asked for.
* If anything changed (a new opioid, a different date, data that could not be read this time),
  the full card is shown again. Without a patient pseudonym key, or when the store cannot be
  read, there is nothing to recall and the full card is shown: the rule can only ever soften an
  alert the clinician has already answered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from clinical.assessment import Assessment

SESSION_HOURS = 12


@dataclass(frozen=True, slots=True)
class Override:
    """An order-select card that was overridden: what it said, why, and when."""

    summary: str
    reason_code: str
    reason_display: str | None
    comment: str | None
    at: str


# Looks up the override of an earlier card for (draft order reference, decision key).
Recall = Callable[[str, str], Override | None]


class OverrideStore(Protocol):
    """The part of the card store the rule reads (store.CdsStore)."""

    def find_override(
        self,
        *,
        service_id: str,
        patient_pseudonym: str,
        order_reference: str,
        decision: str,
        client_issuer: str | None,
        since: datetime,
    ) -> Override | None: ...


def recall_for(
    store: OverrideStore,
    *,
    select_service_id: str,
    patient_pseudonym: str | None,
    client_issuer: str | None,
    now: datetime,
    on_failure: Callable[[SQLAlchemyError], None],
) -> Recall | None:
    """Build the look-up for one order-sign call (None: nothing can be recalled).

    A store that cannot be read recalls nothing (the full card is shown) and is reported to
    ``on_failure`` (the outage log, which says it once).
    """
    if patient_pseudonym is None:
        return None

    def recall(order_reference: str, decision: str) -> Override | None:
        try:
            return store.find_override(
                service_id=select_service_id,
                patient_pseudonym=patient_pseudonym,
                order_reference=order_reference,
                decision=decision,
                client_issuer=client_issuer,
                since=now - timedelta(hours=SESSION_HOURS),
            )
        except SQLAlchemyError as error:
            # Nothing recalled means the full card: the safe side.
            on_failure(error)
            return None

    return recall


def decision_key(assessment: Assessment) -> str:
    """Fingerprint the decision a card stands for: equal keys mean nothing the card says changed."""
    findings = sorted(
        (
            e.reference,
            str(e.state),
            str(e.match.duration_class),
            e.last_exposure.isoformat() if e.last_exposure else "",
            e.earliest_start.isoformat() if e.earliest_start else "",
        )
        for e in assessment.findings
    )
    facts = {
        "status": str(assessment.status),
        "earliest": assessment.earliest_start.isoformat() if assessment.earliest_start else None,
        "complete": assessment.earliest_start_complete,
        "findings": findings,
        "unchecked": sorted(assessment.unchecked),
    }
    canonical = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
