"""The naltrexone orders the sandbox EHR lets a clinician draft, as draft MedicationRequests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True, slots=True)
class OrderChoice:
    """One orderable naltrexone product with its usual sig."""

    key: str
    label: str
    rxnorm: str
    rxnorm_display: str
    dose_mg: float
    sig: str


ORDER_CHOICES = (
    OrderChoice(
        key="ldn-1.5",
        label="Naltrexone 1.5 mg capsule, compounded (low-dose naltrexone)",
        rxnorm="7243",
        rxnorm_display="naltrexone",
        dose_mg=1.5,
        sig="1.5 mg by mouth at bedtime",
    ),
    OrderChoice(
        key="naltrexone-50",
        label="Naltrexone 50 mg tablet",
        rxnorm="1483744",
        rxnorm_display="naltrexone hydrochloride 50 MG Oral Tablet",
        dose_mg=50,
        sig="50 mg by mouth once daily",
    ),
)
CHOICES_BY_KEY = {choice.key: choice for choice in ORDER_CHOICES}


def draft_order(choice: OrderChoice, patient_id: str, user: str) -> dict[str, Any]:
    """Return a draft MedicationRequest for ``choice``, with an id of its own."""
    return {
        "resourceType": "MedicationRequest",
        "id": f"draft-{secrets.token_hex(8)}",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": choice.rxnorm, "display": choice.rxnorm_display}],
            "text": choice.label,
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "requester": {"reference": user},
        "dosageInstruction": [
            {
                "text": choice.sig,
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": choice.dose_mg,
                            "unit": "mg",
                            "system": UCUM,
                            "code": "mg",
                        }
                    }
                ],
            }
        ],
    }


def reference(order: dict[str, Any]) -> str:
    """Return the draft's local reference (``MedicationRequest/<id>``)."""
    return f"{order['resourceType']}/{order['id']}"
