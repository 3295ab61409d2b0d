"""Naltrexone orders are recognised in every form they arrive in, with the right kind and dose."""

from __future__ import annotations

import pytest

from clinical.naltrexone import NaltrexoneKind, NaltrexoneOrder, recognise_naltrexone
from clinical.opioids import OpioidKnowledge
from clinical.records import (
    RXNORM,
    Coding,
    Concept,
    Ingredient,
    Medication,
    Quantity,
    Source,
)
from tests.clinical.medication_builders import coded, named, record, shared

KNOWLEDGE = OpioidKnowledge.load()
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NALTREXONE = Coding(RXNORM, "7243", "naltrexone")


def order(
    medication: Medication,
    doses: tuple[Quantity, ...] = (),
    dosage_text: tuple[str, ...] = (),
) -> NaltrexoneOrder | None:
    rec = record(
        medication, "draft", source=Source.REQUEST, doses=doses, dosage_text=dosage_text, id="o1"
    )
    return recognise_naltrexone(rec, KNOWLEDGE)


def compounded(mg: float, *, coded_ingredient: bool = True) -> Medication:
    """Pattern A of the shared LDN representation notes: a compounded Medication."""
    item = Concept((NALTREXONE,) if coded_ingredient else (), "naltrexone hydrochloride")
    return Medication(
        Concept(text="Naltrexone oral capsule (compounded)"),
        ingredients=(Ingredient(item, Quantity(mg, "mg")),),
    )


@pytest.mark.parametrize(
    ("medication", "doses", "dosage_text", "kind", "dose"),
    [
        (compounded(4.5), (), (), NaltrexoneKind.LDN, 4.5),
        (compounded(1.5, coded_ingredient=False), (), (), NaltrexoneKind.LDN, 1.5),
        (compounded(1.5), (Quantity(2, "capsule"),), (), NaltrexoneKind.LDN, 3.0),
        (named("Naltrexone 4.5mg capsule (compounded)"), (), (), NaltrexoneKind.LDN, 4.5),
        (named("naltrexone"), (), ("Take 4.5 mg at bedtime",), NaltrexoneKind.LDN, 4.5),
        (named("LDN 3 mg"), (), (), NaltrexoneKind.LDN, 3.0),
        (named("LDN"), (), (), NaltrexoneKind.LDN, None),
        (named("Low-dose naltrexone"), (), ("1,5 mg nightly",), NaltrexoneKind.LDN, 1.5),
        (coded("7243", "naltrexone"), (Quantity(4.5, "mg"),), (), NaltrexoneKind.LDN, 4.5),
        (coded("7243"), (Quantity(4500, "ug"),), (), NaltrexoneKind.LDN, 4.5),
        (coded("7243"), (), (), NaltrexoneKind.UNKNOWN_DOSE, None),
        (named("naltrexone"), (), (), NaltrexoneKind.UNKNOWN_DOSE, None),
        # Pattern C: compounded LDN miscoded as the 50 mg tablet, with the real dose.
        (coded("1483744"), (Quantity(4.5, "mg"),), (), NaltrexoneKind.LDN, 4.5),
        (coded("1483744"), (), (), NaltrexoneKind.FULL_DOSE, 50.0),
        (coded("1483744"), (Quantity(1, "tablet"),), (), NaltrexoneKind.FULL_DOSE, 50.0),
        (named("naltrexone 50 mg tablet"), (), (), NaltrexoneKind.FULL_DOSE, 50.0),
        (coded("637213", "naltrexone 380 MG Injection"), (), (), NaltrexoneKind.FULL_DOSE, 380.0),
        (named("Vivitrol"), (Quantity(380, "mg"),), (), NaltrexoneKind.FULL_DOSE, 380.0),
        (coded("J2315", system=HCPCS), (), (), NaltrexoneKind.FULL_DOSE, 380.0),
        (named("naltrexone"), (), ("1.5 mg, then 3 mg, then 4.5 mg",), NaltrexoneKind.LDN, 4.5),
        (named("naltrexone"), (), ("5 mg nightly",), NaltrexoneKind.LDN, 5.0),
        (named("naltrexone"), (), ("6 mg nightly",), NaltrexoneKind.FULL_DOSE, 6.0),
        # The 50 mg tablet cut or dissolved: a part of a tablet by the strength in its name.
        (
            named("naltrexone 50 mg tablet"),
            (Quantity(0.09, "tablet"),),
            (),
            NaltrexoneKind.LDN,
            4.5,
        ),
        # Liquid LDN: a volume by the concentration; a concentration is never a dose.
        (
            named("naltrexone 1 mg/mL oral solution"),
            (Quantity(3, "mL"),),
            (),
            NaltrexoneKind.LDN,
            3.0,
        ),
        (
            named("naltrexone 1mg/ml suspension"),
            (Quantity(10, "mL"),),
            (),
            NaltrexoneKind.FULL_DOSE,
            10.0,
        ),
        (
            named("naltrexone 50 mg in 50 mL water"),
            (),
            ("Take 4.5 mL at bedtime",),
            NaltrexoneKind.LDN,
            4.5,
        ),
        (named("naltrexone 1 mg/mL oral solution"), (), (), NaltrexoneKind.UNKNOWN_DOSE, None),
        (
            named("naltrexone oral liquid"),
            (Quantity(3, "mL"),),
            (),
            NaltrexoneKind.UNKNOWN_DOSE,
            None,
        ),
        (
            Medication(
                Concept(text="LDN liquid"),
                ingredients=(Ingredient(Concept((NALTREXONE,)), Quantity(1, "mg/mL")),),
            ),
            (Quantity(4.5, "mL"),),
            (),
            NaltrexoneKind.LDN,
            4.5,
        ),
    ],
)
def test_kind_and_dose(
    medication: Medication,
    doses: tuple[Quantity, ...],
    dosage_text: tuple[str, ...],
    kind: NaltrexoneKind,
    dose: float | None,
) -> None:
    found = order(medication, doses, dosage_text)
    assert found is not None
    assert found.kind is kind
    assert found.dose_mg == dose
    assert found.antagonist == "naltrexone"
    assert found.reference == "MedicationRequest/o1"


@pytest.mark.parametrize(
    ("medication", "antagonist", "partner"),
    [
        (coded("1551468"), "naltrexone", "bupropion"),
        (named("Contrave 8/90"), "naltrexone", "bupropion"),
        (named("bupropion/naltrexone ER"), "naltrexone", "bupropion"),
        (coded("2570399"), "samidorphan", "olanzapine"),
        (named("Lybalvi 10-10 mg"), "samidorphan", "olanzapine"),
        (named("olanzapine/samidorphan"), "samidorphan", "olanzapine"),
    ],
)
def test_combinations_are_antagonists(
    medication: Medication, antagonist: str, partner: str
) -> None:
    found = order(medication)
    assert found is not None
    assert found.kind is NaltrexoneKind.COMBINATION
    assert (found.antagonist, found.partner) == (antagonist, partner)


def test_every_shared_naltrexone_code_is_recognised() -> None:
    for concept in shared("naltrexone/naltrexone-codes.json")["codes"]:
        medication = coded(concept["code"], concept["display"], concept["system"])
        assert order(medication) is not None, concept["code"]


@pytest.mark.parametrize(
    "medication",
    [
        named("naloxone 4 mg nasal spray"),
        named("Narcan"),
        named("nalmefene"),
        named("methylnaltrexone 12 mg injection"),
        named("naloxegol"),
        named("bupropion 150 mg XL"),
        named("olanzapine 10 mg"),
        coded("7242", "naloxone"),
        # A public demo data set mislabels buprenorphine/naloxone as "naltrexone".
        coded("352364", "Buprenorphine / Naltrexone"),
        named("Embeda 20 mg/0.8 mg"),
        named("morphine sulfate / naltrexone hydrochloride ER capsule"),
        coded("863848"),
        coded("1806707"),
        named("Troxyca ER 10 mg"),
        Medication(),
    ],
)
def test_not_a_naltrexone_order(medication: Medication) -> None:
    assert order(medication) is None


def test_shared_ldn_example_medication_is_ldn() -> None:
    example = shared("naltrexone/ldn-fhir-representation.json")["exampleMedication"]
    ingredient = example["ingredient"][0]
    coding = ingredient["itemCodeableConcept"]["coding"][0]
    numerator = ingredient["strength"]["numerator"]
    medication = Medication(
        Concept(text=example["code"]["text"]),
        ingredients=(
            Ingredient(
                Concept((Coding(coding["system"], coding["code"], coding["display"]),)),
                Quantity(numerator["value"], numerator["unit"]),
            ),
        ),
    )
    found = order(medication)
    assert found is not None
    assert found.kind is NaltrexoneKind.LDN
    assert found.dose_mg == 4.5
    assert found.evidence == "RxNorm ingredient 7243"
