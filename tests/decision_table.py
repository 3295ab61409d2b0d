"""One table of charts and the decision both faces must reach for each (issue 9, items 5-8).

Each case is a patient's chart as FHIR JSON (built for the face's own ``today``), the site's
settings, and what the clinician must be told: the status (the same in the CDS card's app link
and on the app's review), words both faces show, words neither may show, and the cautions
raised (warning cards in the CDS answer, ``#cautions`` on the review). The CDS service runs it
in ``tests/cds_hooks/test_cds_decision_table.py``, the app in
``tests/smart_app/test_review_decision_table.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

PATIENT = "decision-patient"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
DAYS_3 = {"value": 3, "unit": "days", "system": UCUM, "code": "d"}
DAYS_30 = {"value": 30, "unit": "days", "system": UCUM, "code": "d"}

Json = dict[str, Any]


def _medication(text: str, code: str | None = None) -> Json:
    concept: Json = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    return concept


def statement(text: str, status: str, code: str | None = None, **dates: str) -> Json:
    """A MedicationStatement; ``dates`` are its FHIR date elements."""
    resource: Json = {
        "resourceType": "MedicationStatement",
        "status": status,
        "medicationCodeableConcept": _medication(text, code),
    }
    start, end = dates.pop("start", None), dates.pop("end", None)
    if start or end:
        resource["effectivePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    return {**resource, **dates}


def request(text: str, status: str, code: str | None = None, **fields: Any) -> Json:
    """A MedicationRequest with ``fields`` (authoredOn, dispenseRequest) as given."""
    return {
        "resourceType": "MedicationRequest",
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": _medication(text, code),
        **fields,
    }


def dispense(text: str, status: str, handed_over: str, supply: Json | None = None) -> Json:
    """A MedicationDispense (pharmacy fill) handed over on ``handed_over``."""
    resource: Json = {
        "resourceType": "MedicationDispense",
        "status": status,
        "medicationCodeableConcept": _medication(text),
        "whenHandedOver": handed_over,
    }
    if supply is not None:
        resource["daysSupply"] = supply
    return resource


def administration(text: str, status: str, given: str, code: str | None = None) -> Json:
    """A MedicationAdministration (a dose given) at ``given``."""
    return {
        "resourceType": "MedicationAdministration",
        "status": status,
        "medicationCodeableConcept": _medication(text, code),
        "effectiveDateTime": given,
    }


def oud(clinical_status: str = "active") -> Json:
    """An opioid use disorder Condition coded in ICD-10-CM (the shared F11 list)."""
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical_status}]},
        "code": {
            "coding": [
                {"system": ICD10CM, "code": "F11.20", "display": "Opioid dependence, uncomplicated"}
            ]
        },
    }


@dataclass(frozen=True)
class Case:
    """A chart (a function of today), the site's settings, and what both faces must say.

    ``shown`` and ``hidden`` are functions of today returning words (case-insensitive).
    """

    id: str
    chart: Callable[[Callable[[int], str]], list[Json]]
    status: str
    shown: Callable[[Callable[[int], str]], tuple[str, ...]] = lambda d: ()
    hidden: tuple[str, ...] = ()
    cautions: frozenset[str] = frozenset()
    settings: dict[str, Any] = field(default_factory=dict)

    def resources(self, today: date) -> list[Json]:
        """Return the chart for ``today``, each resource with an id and the patient."""
        out = []
        for n, resource in enumerate(self.chart(day_of(today))):
            out.append(
                {**resource, "id": f"r{n + 1}", "subject": {"reference": f"Patient/{PATIENT}"}}
            )
        return out

    def words(self, today: date) -> tuple[str, ...]:
        """Return the words both faces must show on ``today``."""
        return self.shown(day_of(today))


def day_of(today: date) -> Callable[[int], str]:
    """Return a function giving ``today + n`` days as a FHIR date."""
    return lambda n: (today + timedelta(days=n)).isoformat()


OXY = "Oxycodone 5 mg tablet"
METHADONE = "Methadone 10 mg tablet"
SUBLOCADE = "Sublocade 300 mg/1.5 mL extended-release injection"
SUBOXONE = "Suboxone 8 mg/2 mg sublingual film"
NO_OPIOID = "No opioid found"

CASES = (
    # -- timing: a record's own dates prove a dose ----------------------------------------
    Case(
        "start-date-only-proves-a-dose",
        lambda d: [statement(OXY, "completed", effectiveDateTime=d(-3))],
        "wait-until",
        lambda d: ("at least until " + d(7), "oxycodone"),
        hidden=("last exposure unknown", NO_OPIOID),
    ),
    Case(
        "authored-date-only-proves-a-dose",
        lambda d: [request(OXY, "completed", authoredOn=d(-2))],
        "wait-until",
        lambda d: ("at least until " + d(8),),
    ),
    Case(
        "start-date-only-outside-the-window-is-uncertain",
        lambda d: [statement(OXY, "completed", effectiveDateTime=d(-30))],
        "uncertain",
        lambda d: ("oxycodone",),
        hidden=(NO_OPIOID,),
    ),
    Case(
        "future-end-is-a-planned-end",
        lambda d: [
            request(
                OXY, "active", dispenseRequest={"validityPeriod": {"start": d(-3), "end": d(5)}}
            )
        ],
        "do-not-start",
        lambda d: ("planned to end " + d(5),),
    ),
    # -- sources: pharmacy dispenses and administrations ------------------------------------
    Case(
        "dispense-date-plus-days-supply",
        lambda d: [dispense("Hydrocodone/APAP 5/325 mg", "completed", d(-6), DAYS_3)],
        "wait-until",
        lambda d: ("until " + d(7), "hydrocodone", "MedicationDispense"),
        hidden=("at least until",),
    ),
    Case(
        "dispense-without-supply-proves-a-dose",
        lambda d: [dispense("Hydrocodone/APAP 5/325 mg", "completed", d(-2))],
        "wait-until",
        lambda d: ("at least until " + d(8),),
    ),
    Case(
        "dispense-whose-supply-still-runs",
        lambda d: [dispense("Oxycodone 5 mg tablet", "completed", d(-2), DAYS_30)],
        "do-not-start",
        lambda d: ("planned to end " + d(28), "MedicationDispense"),
    ),
    Case(
        "intra-operative-fentanyl-administration",
        lambda d: [administration("Fentanyl citrate 50 mcg/mL injection", "completed", d(-2))],
        "wait-until",
        lambda d: ("until " + d(8), "fentanyl", "MedicationAdministration"),
    ),
    Case(
        "administration-not-done-is-no-exposure",
        lambda d: [administration("Fentanyl citrate 50 mcg/mL injection", "not-done", d(-2))],
        "safe-to-start",
        lambda d: (NO_OPIOID,),
    ),
    # -- classes and open windows ----------------------------------------------------------
    Case(
        "methadone-inside-the-long-acting-bound",
        lambda d: [statement(METHADONE, "completed", start=d(-200), end=d(-5))],
        "specialist-guidance",
        lambda d: ("specialist guidance", "methadone"),
    ),
    Case(
        "methadone-past-the-bound-is-a-specialist-warning",
        lambda d: [statement(METHADONE, "completed", start=d(-200), end=d(-60))],
        "uncertain",
        lambda d: ("specialist guidance", "methadone", d(120)),
        hidden=(NO_OPIOID,),
    ),
    Case(
        "methadone-years-ago-is-past-and-listed",
        lambda d: [statement(METHADONE, "completed", start=d(-2400), end=d(-1826))],
        "safe-to-start",
        lambda d: ("methadone", d(-1826), "horizon"),
        hidden=(NO_OPIOID,),
    ),
    Case(
        "depot-buprenorphine-inside-its-month",
        lambda d: [administration(SUBLOCADE, "completed", d(-21), code="1996189")],
        "specialist-guidance",
        lambda d: ("buprenorphine",),
    ),
    Case(
        "depot-buprenorphine-past-its-critical-window",
        lambda d: [administration(SUBLOCADE, "completed", d(-90), code="1996189")],
        "uncertain",
        lambda d: ("specialist guidance", "buprenorphine"),
    ),
    Case(
        "depot-buprenorphine-three-years-ago",
        lambda d: [administration(SUBLOCADE, "completed", d(-1100), code="1996189")],
        "safe-to-start",
        lambda d: ("buprenorphine", d(-1100)),
        hidden=(NO_OPIOID,),
    ),
    Case(
        "long-use-of-buprenorphine-ended-14-days-ago",
        lambda d: [statement(SUBOXONE, "completed", start=d(-414), end=d(-14))],
        "uncertain",
        lambda d: ("specialist guidance", "buprenorphine"),
        hidden=(NO_OPIOID,),
    ),
    Case(
        "short-course-of-buprenorphine-ended-14-days-ago",
        lambda d: [statement(SUBOXONE, "completed", start=d(-21), end=d(-14))],
        "safe-to-start",
        lambda d: ("buprenorphine", "washout ended " + d(0)),
        hidden=(NO_OPIOID,),
    ),
    # -- site settings ----------------------------------------------------------------------
    Case(
        "site-methadone-washout-gives-a-date-beside-specialist-guidance",
        lambda d: [statement(METHADONE, "completed", start=d(-200), end=d(-5))],
        "wait-until",
        lambda d: ("until " + d(16), "specialist guidance"),
        settings={"METHADONE_WASHOUT_DAYS": 21},
    ),
    Case(
        "site-horizon-shorter-closes-the-warning",
        lambda d: [statement(METHADONE, "completed", start=d(-200), end=d(-60))],
        "safe-to-start",
        lambda d: ("methadone", "horizon"),
        settings={"SPECIALIST_GUIDANCE_HORIZON_DAYS": 45},
    ),
    Case(
        "site-horizon-longer-keeps-the-warning",
        lambda d: [statement(METHADONE, "completed", start=d(-400), end=d(-200))],
        "uncertain",
        lambda d: ("specialist guidance", d(165)),
        settings={"SPECIALIST_GUIDANCE_HORIZON_DAYS": 365},
    ),
    # -- conditions and naltrexone already taken --------------------------------------------
    Case(
        "opioid-use-disorder-raises-a-caution",
        lambda d: [oud()],
        "safe-to-start",
        lambda d: ("Opioid use disorder on the chart",),
        cautions=frozenset({"opioid-use-disorder"}),
    ),
    Case(
        "resolved-opioid-use-disorder-raises-none",
        lambda d: [oud("resolved")],
        "safe-to-start",
    ),
    Case(
        "naltrexone-50-mg-active",
        lambda d: [request("Naltrexone 50 mg tablet", "active", "1483744", authoredOn=d(-40))],
        "safe-to-start",
        lambda d: ("Naltrexone 50 mg tablet",),
        cautions=frozenset({"naltrexone-therapy"}),
    ),
    Case(
        "naltrexone-injection-inside-its-month",
        lambda d: [administration("Vivitrol 380 mg injection", "completed", d(-12), "637213")],
        "safe-to-start",
        lambda d: ("Vivitrol",),
        cautions=frozenset({"naltrexone-therapy"}),
    ),
    Case(
        "naltrexone-injection-two-months-ago",
        lambda d: [administration("Vivitrol 380 mg injection", "completed", d(-60), "637213")],
        "safe-to-start",
    ),
    Case(
        "naltrexone-bupropion-active",
        lambda d: [statement("Contrave 8 mg/90 mg extended-release tablet", "active")],
        "safe-to-start",
        lambda d: ("Contrave",),
        cautions=frozenset({"naltrexone-therapy"}),
    ),
    Case(
        "naltrexone-stopped-long-ago",
        lambda d: [statement("Naltrexone 50 mg tablet", "completed", start=d(-300), end=d(-100))],
        "safe-to-start",
    ),
    # -- the all-clear tells the truth --------------------------------------------------------
    Case(
        "no-record-at-all",
        lambda d: [],
        "safe-to-start",
        lambda d: (NO_OPIOID, "Ask the patient", "other prescribers", "cough syrups"),
    ),
    Case(
        "past-opioid-is-listed-with-why-it-no-longer-blocks",
        lambda d: [statement(OXY, "completed", start=d(-40), end=d(-30))],
        "safe-to-start",
        lambda d: ("oxycodone", d(-30), "washout ended " + d(-20), "Ask the patient"),
        hidden=(NO_OPIOID,),
    ),
)
