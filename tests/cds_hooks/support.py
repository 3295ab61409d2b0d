"""Constants and builders shared by the CDS Hooks tests (fixtures live in conftest.py)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from joserfc.jwk import ECKey, KeySet

from cds_hooks import init_app, schema
from cds_hooks.store import CdsStore

BASE = "https://cds.example.test"
ISSUER = "https://ehr.example.test"
INLINE_ISSUER = "https://other-ehr.example.test"
JWKS_URL = "https://ehr.example.test/.well-known/jwks.json"
ALT_JKU = "https://ehr.example.test/rotated-jwks.json"
FHIR_BASE = "https://ehr.example.test/fhir"
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
SELECT = "ldn-naltrexone-order-select"
SIGN = "ldn-naltrexone-order-sign"
PATIENT_ID = "1288992"

# sign(path, key=..., header=..., **claims) -> a real JWT for BASE + path (fixture ``sign``).
Signer = Callable[..., str]


def base_config(tmp_path: Path, inline_key: ECKey) -> dict[str, Any]:
    """Return the test app's configuration (a fresh SQLite file under ``tmp_path``)."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}",
        "PUBLIC_BASE_URL": BASE,
        "CDS_TRUSTED_CLIENTS": {
            ISSUER: {"jwks_url": JWKS_URL, "jku": [ALT_JKU]},
            INLINE_ISSUER: {"jwks": KeySet([inline_key]).as_dict(private=False)},
        },
        "CDS_ALLOWED_FHIR_SERVERS": [FHIR_BASE],
        "CDS_JWKS_MIN_REFRESH_SECONDS": 0,
        "CDS_CORS_ORIGINS": ["https://ehr-ui.example.test"],
        "CDS_ADMIN_TOKEN": ADMIN_TOKEN,
    }


def make_app(config: dict[str, Any]) -> Flask:
    """Build a bare Flask app with only the CDS service mounted."""
    app = Flask("cds_hooks_test")
    app.config.update(config)
    init_app(app)
    return app


def open_store(url: str) -> CdsStore:
    """Open the store at ``url``, migrated to the head revision first."""
    store = CdsStore(url)
    schema.upgrade(store.engine)
    return store


def bearer(token: str) -> dict[str, str]:
    """Return the Authorization header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}


NALTREXONE_LDN = {
    "resourceType": "MedicationRequest",
    "id": "ldn-draft-1",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "7243",
                "display": "naltrexone",
            }
        ],
        "text": "Naltrexone 1.5 mg capsule (compounded)",
    },
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "dosageInstruction": [
        {
            "text": "1.5 mg by mouth at bedtime",
            "doseAndRate": [{"doseQuantity": {"value": 1.5, "unit": "mg"}}],
        }
    ],
}

AMOXICILLIN_DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "smart-MedicationRequest-103",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "617993",
                "display": (
                    "Amoxicillin 120 MG/ML / clavulanate potassium 8.58 MG/ML Oral Suspension"
                ),
            }
        ]
    },
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}


# From the CDS Hooks order-select / order-sign R4 examples (shortened; shapes kept as published,
# including the amoxicillin order's doseAndRate sent as an object rather than an array).
SPEC_NUTRITION_ORDER = {
    "resourceType": "NutritionOrder",
    "id": "pureeddiet-simple",
    "identifier": [{"system": "http://goodhealthhospital.org/nutrition-requests", "value": "123"}],
    "status": "draft",
    "patient": {"reference": f"Patient/{PATIENT_ID}"},
    "dateTime": "2014-09-17",
    "orderer": {"reference": "Practitioner/example", "display": "Dr Adam Careful"},
    "oralDiet": {
        "type": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "226211001",
                        "display": "Pureed diet",
                    }
                ],
                "text": "Pureed diet",
            }
        ]
    },
}
SPEC_AMOXICILLIN = {
    **AMOXICILLIN_DRAFT,
    "meta": {"lastUpdated": "2018-04-30T13:25:40.845-04:00"},
    "dosageInstruction": [
        {
            "text": "5 mL bid x 10 days",
            "timing": {
                "repeat": {
                    "boundsPeriod": {"start": "2005-01-04"},
                    "frequency": 2,
                    "period": 1,
                    "periodUnit": "d",
                }
            },
            "doseAndRate": {
                "doseQuantity": {
                    "value": 5,
                    "unit": "mL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mL",
                }
            },
        }
    ],
    "dispenseRequest": {
        "numberOfRepeatsAllowed": 1,
        "quantity": {"value": 1, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
        "expectedSupplyDuration": {
            "value": 10,
            "unit": "days",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        },
    },
}


def hook_body(
    hook: str = "order-sign",
    *,
    drafts: list[dict[str, Any]] | None = None,
    prefetch: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return a CDS Hooks request shaped like the spec's R4 examples, with an LDN draft."""
    drafts = copy.deepcopy(drafts if drafts is not None else [AMOXICILLIN_DRAFT, NALTREXONE_LDN])
    context: dict[str, Any] = {
        "userId": "PractitionerRole/123",
        "patientId": PATIENT_ID,
        "encounterId": "89284",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": r} for r in drafts]},
    }
    if hook == "order-select":
        context["selections"] = [f"MedicationRequest/{NALTREXONE_LDN['id']}"]
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        **extra,
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    """Return a searchset Bundle of ``resources`` (Medications as ``_include``d entries)."""
    modes = ["include" if r["resourceType"] == "Medication" else "match" for r in resources]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": modes.count("match"),
        "entry": [
            {"resource": r, "search": {"mode": m}} for r, m in zip(resources, modes, strict=True)
        ],
    }


ACTIVE_OXYCODONE = {
    "resourceType": "MedicationStatement",
    "id": "ms-oxy",
    "status": "active",
    "medicationCodeableConcept": {"text": "oxycodone 5 mg tablet"},
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
}


def oxycodone_prefetch() -> dict[str, Any]:
    """Return a prefetch whose patient is on active oxycodone: the answer must be critical."""
    return {
        "medicationStatements": searchset(ACTIVE_OXYCODONE),
        "medicationRequests": None,
        "conditions": None,
    }
