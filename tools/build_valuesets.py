"""Build the project's FHIR ValueSets from the terminology snapshot.

Reads ``terminology/`` (or ``$LDN_TERMINOLOGY``) and writes R4 ValueSets with a
``compose`` (the rule, as enumerated codes) and an ``expansion`` (the resulting codes) into
``fhir_profiles/valuesets/``, in the manner of the CDC opioid IG (cqframework/opioid-cds-r4). Each
ValueSet names its sources (repository, path and commit) in its description and carries the
copyright notes of the code systems it uses. It also writes one ValueSet per project CodeSystem
in ``fhir_profiles/codesystems/``.

Codes retire and change: refresh ``terminology/`` (RxNorm with NLM's RxNav service) and rerun::

    python tools/build_valuesets.py
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fhir_profiles.artefacts import ARTEFACT_VERSION, PACKAGE_DIR, canonical

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LDN_TERMINOLOGY", REPO / "terminology"))
OUT_DIR = PACKAGE_DIR / "valuesets"
CODESYSTEM_DIR = PACKAGE_DIR / "codesystems"

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
PUBLISHER = "LDN Opioid-Safety project"
US = {"coding": [{"system": "urn:iso:std:iso:3166", "code": "US", "display": "United States"}]}

COPYRIGHT = {
    RXNORM: "RxNorm (SAB=RXNORM) is produced by the US National Library of Medicine and is free "
    "to use and redistribute.",
    SNOMED: "This value set includes content from SNOMED CT, copyright © SNOMED International. "
    "Use in the United States is free under the NLM UMLS licence (the US is a SNOMED "
    "International member); use elsewhere needs a SNOMED CT affiliate licence.",
    ICD10CM: "ICD-10-CM is published by the US CDC National Center for Health Statistics and is "
    "in the public domain.",
}
CDC_COPYRIGHT = "CDC opioid value set content © CDC 2016+, published under CC0 by cqframework."

# The terminology README: loperamide and diphenoxylate act on opioid receptors but carry no
# withdrawal risk, so they do not block naltrexone.
NOT_WITHDRAWAL_RISK = {"loperamide", "diphenoxylate"}

# Condition group (clinical/data/conditions.json) -> ValueSet id and title.
CONDITION_VALUESETS = {
    "fibromyalgia": ("condition-fibromyalgia", "Fibromyalgia"),
    "crohns": ("condition-crohns-disease", "Crohn's disease"),
    "multiple_sclerosis": ("condition-multiple-sclerosis", "Multiple sclerosis"),
    "chronic_pain": ("condition-chronic-pain", "Chronic pain"),
    "alcohol_use_disorder": ("condition-alcohol-use-disorder", "Alcohol use disorder"),
    "opioid_use_disorder": ("condition-opioid-use-disorder", "Opioid use disorder"),
    "liver_disease": ("condition-liver-disease", "Liver disease"),
    "cancer": ("condition-cancer", "Cancer"),
    "obesity": ("condition-obesity", "Obesity"),
}


@dataclass(frozen=True)
class Code:
    """One code with its display."""

    system: str
    code: str
    display: str


@dataclass(frozen=True)
class Source:
    """Where a list of codes came from."""

    title: str
    where: str


def read_json(relative: str) -> Any:
    """Return the parsed JSON of a file in the terminology snapshot."""
    path = SHARED / relative
    if not path.is_file():
        raise SystemExit(f"missing {path}: set LDN_TERMINOLOGY to the terminology folder")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def snapshot_date() -> str:
    """Return the date the shared terminology snapshot was gathered (its ``generated`` field)."""
    # The ValueSets' date and expansion timestamp: a rebuild from the same data is identical.
    return str(read_json("opioids/opioid-ingredients.json")["generated"])


def provenance_text(provenance: dict[str, Any]) -> str:
    """Return ``repo path @commit`` for a provenance record of the shared folder."""
    return f"{provenance['repo']} `{provenance['path']}` @{provenance['commit'][:10]}"


def cdc_extract(relative: str) -> tuple[list[Code], Source]:
    """Return the codes and source of a CDC opioid IG value set extract."""
    data = read_json(relative)
    codes = [Code(c["system"], c["code"], c["display"]) for c in data["contains"]]
    source = Source(f"CDC {data['title']} ({data['url']})", provenance_text(data["provenance"]))
    return codes, source


def unique(codes: Iterable[Code]) -> list[Code]:
    """Return codes without repeats (first display wins), sorted by system and code."""
    seen: dict[tuple[str, str], Code] = {}
    for code in codes:
        seen.setdefault((code.system, code.code), code)
    return sorted(seen.values(), key=lambda c: (c.system, c.code))


def names_any(display: str, words: Iterable[str]) -> bool:
    """Return whether ``display`` names any of ``words`` as a whole word (case-insensitive)."""
    return any(re.search(rf"\b{re.escape(word)}\b", display, re.IGNORECASE) for word in words)


def value_set(
    vs_id: str,
    title: str,
    description: str,
    sources: list[Source],
    include: list[Code],
    exclude: Sequence[Code] = (),
    copyright_extra: str = "",
) -> dict[str, Any]:
    """Return an R4 ValueSet with an enumerated compose and its expansion."""
    excluded = {(c.system, c.code) for c in exclude}
    expansion = [c for c in unique(include) if (c.system, c.code) not in excluded]
    systems = sorted({c.system for c in include})
    source_lines = "\n".join(f"- {s.title}: {s.where}" for s in sources)
    compose: dict[str, Any] = {"include": [_block(system, include) for system in systems]}
    if exclude:
        compose["exclude"] = [
            _block(system, exclude) for system in sorted({c.system for c in exclude})
        ]
    notices = [COPYRIGHT[system] for system in systems]
    return {
        "resourceType": "ValueSet",
        "id": vs_id,
        "url": canonical("ValueSet", vs_id),
        "version": ARTEFACT_VERSION,
        "name": "".join(part.capitalize() for part in vs_id.split("-")),
        "title": title,
        "status": "draft",
        "experimental": False,
        "date": snapshot_date(),
        "publisher": PUBLISHER,
        "description": f"{description}\n\nSources (shared terminology snapshot):\n{source_lines}",
        "jurisdiction": [US],
        "purpose": "Built by tools/build_valuesets.py from the project's shared terminology "
        "snapshot; rebuild after refreshing the codes (RxNorm via NLM RxNav).",
        "copyright": " ".join(filter(None, [*notices, copyright_extra])),
        "compose": compose,
        "expansion": {
            "timestamp": f"{snapshot_date()}T00:00:00Z",
            "total": len(expansion),
            "contains": [_entry(c) for c in expansion],
        },
    }


def _block(system: str, codes: Iterable[Code]) -> dict[str, Any]:
    concepts = [{"code": c.code, "display": c.display} for c in unique(codes) if c.system == system]
    return {"system": system, "concept": concepts}


def _entry(code: Code) -> dict[str, str]:
    return {"system": code.system, "code": code.code, "display": code.display}


def opioid_ingredient_names() -> list[str]:
    """Return the ingredient names of the systemic opioids that block naltrexone."""
    data = read_json("opioids/opioid-ingredients.json")
    return [i["name"] for i in data["ingredients"] if i["name"] not in NOT_WITHDRAWAL_RISK]


def naloxone_only() -> tuple[list[Code], Source]:
    """Return the CDC naloxone products that contain no opioid agonist."""
    codes, source = cdc_extract("opioids/cdc/cdc-naloxone-medications.json")
    return [c for c in codes if not names_any(c.display, opioid_ingredient_names())], source


def opioid_products() -> dict[str, Any]:
    """Return the ValueSet of systemic opioid products (any that blocks naltrexone)."""
    codes: list[Code] = []
    sources: list[Source] = []
    for path in sorted((SHARED / "opioids" / "cdc").glob("cdc-*.json")):
        if path.name == "cdc-omtk-drug-ingredients-2020.json":
            continue
        extract, source = cdc_extract(f"opioids/cdc/{path.name}")
        codes += extract
        sources.append(source)
    omtk = read_json("opioids/cdc/cdc-omtk-drug-ingredients-2020.json")
    codes += [Code(RXNORM, row["drugCode"], row["drugName"]) for row in omtk["rows"]]
    sources.append(
        Source("CDC OMTK 2020 drug-ingredient table", provenance_text(omtk["provenance"]))
    )
    combos = read_json("naltrexone/naltrexone-codes.json")["opioidNaltrexoneCombinations"]
    codes += [Code(RXNORM, c["code"], c["display"]) for c in combos["contains"]]
    sources.append(Source("Opioid + naltrexone products", "naltrexone/naltrexone-codes.json"))
    not_opioid, _ = naloxone_only()
    antidiarrheal = [c for c in codes if names_any(c.display, NOT_WITHDRAWAL_RISK)]
    overlap = {c.code for c in codes} & {c.code for c in naltrexone_codes()}
    if overlap:
        raise SystemExit(f"naltrexone-only codes found among opioid products: {sorted(overlap)}")
    return value_set(
        "opioid-products",
        "Systemic opioid products",
        "RxNorm products that contain a systemic opioid agonist or partial agonist: the union of "
        "every CDC opioid IG medication value set (including buprenorphine/naloxone, which is "
        "an opioid), the CDC OMTK 2020 product table (adds cough and cold products and "
        "injectables that the CDC 'ambulatory misuse' set leaves out), and the opioid products "
        "with sequestered naltrexone (Embeda, Troxyca), which are opioids. Naloxone-only "
        "products are excluded: they are antagonists. A product-code list is never enough "
        "on its own; the rules also match ingredient codes and names.",
        sources,
        codes,
        not_opioid + antidiarrheal,
        CDC_COPYRIGHT,
    )


def opioid_ingredients() -> dict[str, Any]:
    """Return the ValueSet of opioid ingredients (RxNorm TTY=IN)."""
    data = read_json("opioids/opioid-ingredients.json")
    codes = [
        Code(i["system"], i["rxcui"], i["name"])
        for i in data["ingredients"]
        if i["name"] not in NOT_WITHDRAWAL_RISK
    ]
    unverified = sorted(i["name"] for i in data["ingredients"] if i["evidenceTier"] != "primary")
    unverified = [name for name in unverified if name not in NOT_WITHDRAWAL_RISK]
    return value_set(
        "opioid-ingredients",
        "Opioid ingredients",
        "RxNorm ingredients (TTY=IN) of systemic opioid agonists, partial agonists and mixed "
        "agonist-antagonists. Loperamide and diphenoxylate are left out: they act on opioid "
        "receptors but carry no withdrawal risk. Seen only in third-party data, to verify "
        f"against RxNorm: {', '.join(unverified)}.",
        [Source("Opioid ingredient list", "opioids/opioid-ingredients.json (CDC OMTK, VSAC)")],
        codes,
    )


def naltrexone_codes() -> list[Code]:
    """Return the RxNorm naltrexone ingredient and product codes."""
    data = read_json("naltrexone/naltrexone-codes.json")
    return [
        Code(c["system"], c["code"], c["display"])
        for c in data["codes"]
        if c["system"] == RXNORM and "naltrexone" in c["display"].lower()
    ]


def naltrexone_products() -> dict[str, Any]:
    """Return the ValueSet of naltrexone ingredient and product codes."""
    return value_set(
        "naltrexone-products",
        "Naltrexone ingredient and products",
        "The RxNorm naltrexone ingredient (7243) and the naltrexone products with their own "
        "RxNorm codes: the 50 mg tablet, the 380 mg extended-release injection and "
        "bupropion/naltrexone. Low-dose naltrexone is compounded and has no RxNorm product: it "
        "shows up as the ingredient, as text, or miscoded as the 50 mg tablet. Opioid products "
        "with sequestered naltrexone are opioids and are not in this set.",
        [Source("Naltrexone codes", "naltrexone/naltrexone-codes.json (VSAC via cqframework)")],
        naltrexone_codes(),
    )


def naloxone_only_products() -> dict[str, Any]:
    """Return the ValueSet of naloxone products that contain no opioid agonist."""
    codes, source = naloxone_only()
    return value_set(
        "naloxone-only-products",
        "Naloxone-only products",
        "CDC naloxone products that contain no opioid agonist (rescue naloxone). They are "
        "antagonists and never count as opioid exposure; the naloxone combinations with "
        "buprenorphine or pentazocine are opioids and are not in this set.",
        [source],
        codes,
        copyright_extra=CDC_COPYRIGHT,
    )


def condition_sets() -> list[dict[str, Any]]:
    """Return one ValueSet per condition group, from the rules' ``clinical/data/conditions.json``.

    The ValueSets publish exactly what the classifier matches: its SNOMED CT and ICD-10-CM codes,
    and each ICD-10-CM category it matches by prefix as an ``is-a`` filter (the category code
    itself stands in the expansion).
    """
    data = json.loads((REPO / "clinical" / "data" / "conditions.json").read_text("utf-8"))
    sources = {source["id"]: source for source in data["sources"]}
    built = []
    for group in data["groups"]:
        vs_id, title = CONDITION_VALUESETS[group["key"]]
        codes = [Code(SNOMED, c["code"], c["display"]) for c in group["snomed"]]
        codes += [Code(ICD10CM, c["code"], c["display"]) for c in group["icd10cm"]["codes"]]
        prefixes = [Code(ICD10CM, p["prefix"], p["display"]) for p in group["icd10cm"]["prefixes"]]
        used = sorted(
            {
                source
                for entry in (*group["snomed"], *group["icd10cm"]["codes"])
                for source in entry["sources"]
            }
        )
        cited = [_condition_source(sources[key]) for key in used]
        cited.append(Source("Rules' condition data", "clinical/data/conditions.json"))
        match = (
            " ICD-10-CM codes under "
            + ", ".join(p.code for p in prefixes)
            + " also count (is-a filter; the classifier matches by prefix)."
            if prefixes
            else ""
        )
        built_set = value_set(
            vs_id,
            f"{title} (SNOMED CT and ICD-10-CM)",
            f"Condition codes for {title.lower()}, as the LDN rules classify them.{match}",
            cited,
            [*codes, *prefixes],
        )
        if prefixes:
            built_set["compose"]["include"].append(
                {
                    "system": ICD10CM,
                    "filter": [
                        {"property": "concept", "op": "is-a", "value": p.code} for p in prefixes
                    ],
                }
            )
        built.append(built_set)
    return built


def _condition_source(source: dict[str, Any]) -> Source:
    """Return a condition code source as cited: repository and commit, or the ICD-10-CM release."""
    if "provenance" in source:
        return Source(source["title"], provenance_text(source["provenance"]))
    return Source(source["title"], f"{source['file']} ({source['icd10cmSource']})")


def codesystem_sets() -> list[dict[str, Any]]:
    """Return one ValueSet holding all codes of each project CodeSystem."""
    built = []
    for path in sorted(CODESYSTEM_DIR.glob("CodeSystem-*.json")):
        system = json.loads(path.read_text(encoding="utf-8"))
        concepts = [{"code": c["code"], "display": c["display"]} for c in system["concept"]]
        built.append(
            {
                "resourceType": "ValueSet",
                "id": system["id"],
                "url": system["valueSet"],
                "version": ARTEFACT_VERSION,
                "name": system["name"],
                "title": system["title"],
                "status": "draft",
                "experimental": False,
                "date": snapshot_date(),
                "publisher": PUBLISHER,
                "description": f"All codes of the project CodeSystem {system['url']}.",
                "compose": {"include": [{"system": system["url"], "version": system["version"]}]},
                "expansion": {
                    "timestamp": f"{snapshot_date()}T00:00:00Z",
                    "total": len(concepts),
                    "contains": [{"system": system["url"], **c} for c in concepts],
                },
            }
        )
    return built


def build_all() -> list[dict[str, Any]]:
    """Return every ValueSet the project publishes."""
    return [
        opioid_products(),
        opioid_ingredients(),
        naltrexone_products(),
        naloxone_only_products(),
        *condition_sets(),
        *codesystem_sets(),
    ]


def main() -> int:
    """Write every ValueSet to ``fhir_profiles/valuesets/``; return the exit status."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for resource in build_all():
        path = OUT_DIR / f"ValueSet-{resource['id']}.json"
        path.write_text(json.dumps(resource, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path.relative_to(REPO)}: {resource['expansion']['total']} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
