"""Build ``clinical/data/conditions.json`` from the repository's terminology snapshot.

The result tells ``clinical.conditions`` which Condition codes belong to each condition group the
product reasons about (the article's conditions plus the cautions: opioid use disorder, liver
disease). For each group it records SNOMED CT codes, ICD-10-CM codes and category prefixes, and the
words used when a Condition carries no recognised code, each code naming the source lists it came
from. Sources, all under ``terminology/`` (see its README):

* ``conditions/ldn-conditions.json``: the curated core codes per condition and the ICD-10-CM
  prefixes (multiple sclerosis matches ``G35`` because ICD-10-CM FY2026 split it).
* ``conditions/icd10cm-F10…``/``…F11…``: the ICD-10-CM alcohol and opioid families.
* ``conditions/cdc/``: CDC opioid misuse disorders; CDC malignant cancer conditions (its
  3-character C categories become the cancer prefixes).
* ``conditions/vsac/``: liver disease, hepatitis A/B, chronic liver disease, opioid use disorder,
  and the CDS4CPM "conditions associated with chronic pain".

Choices made here (reviewed through the diff of the JSON):

* From the hepatitis, liver and opioid value sets only SNOMED CT ``(disorder)`` concepts are
  taken: those sets also hold serology results, immunity and history findings, which are not
  the disease.
* A code claimed by a specific group is removed from the broad chronic-pain set, so that
  fibromyalgia counts as fibromyalgia and "chronic pain" means other chronic pain, as in the
  article.
* Cancer: the malignant (C) categories of the CDC set plus in-situ neoplasms D00-D09; neoplasms
  of uncertain behaviour (D37-D49) and neoplasm-related pain (G89.3) are left out.
* ICD-9-CM codes in the sources are ignored: Condition resources today carry ICD-10-CM.

Usage::

    python tools/build_condition_data.py            # write clinical/data/conditions.json
    python tools/build_condition_data.py --check    # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TERMINOLOGY = REPO / "terminology"
OUTPUT = REPO / "clinical" / "data" / "conditions.json"

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CORE_FILE = "conditions/ldn-conditions.json"

# Statuses that mean "not on the chart now" (FHIR condition-clinical / condition-ver-status).
# Remission is treated as not current, as the brief for the evidence ordering asks; unconfirmed,
# provisional and differential diagnoses still count, because for a caution card it is safer to
# show too much than too little.
IGNORED_CLINICAL_STATUSES = ["inactive", "remission", "resolved"]
IGNORED_VERIFICATION_STATUSES = ["entered-in-error", "refuted"]

# Text fallback: phrases that make free text about a condition not a diagnosis of it.
TEXT_EXCLUSIONS = [
    "antibody",
    "contact with",
    "denies",
    "exposure to",
    "family history",
    "fear of",
    "history of",
    "immune",
    "immunity",
    "immunization",
    "negative for",
    "no evidence of",
    "rule out",
    "ruled out",
    "screening",
    "vaccination",
    "vaccine",
]


@dataclass(frozen=True)
class ExtraSet:
    """A further source list for a group, and how much of it to take."""

    file: str
    snomed_disorders_only: bool = True
    # When set, the list is read only for its 3-character categories under these letters, which
    # become match prefixes; its individual codes are then implied and not copied.
    category_letters: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Group:
    """How one condition group is assembled from the sources."""

    key: str
    display: str
    core_name: str
    text_terms: tuple[str, ...]
    extra_sets: tuple[ExtraSet, ...] = ()
    extra_prefixes: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


IN_SITU = tuple(f"D0{digit}" for digit in range(10))

GROUPS = (
    Group("fibromyalgia", "Fibromyalgia", "fibromyalgia", ("fibromyalgia",)),
    Group(
        "crohns",
        "Crohn's disease",
        "Crohn's disease",
        ("crohn", "crohns", "regional enteritis"),
    ),
    Group(
        "multiple_sclerosis",
        "Multiple sclerosis",
        "multiple sclerosis",
        ("multiple sclerosis",),
    ),
    Group(
        "chronic_pain",
        "Chronic pain",
        "chronic pain",
        ("chronic pain",),
        extra_sets=(
            ExtraSet(
                "conditions/vsac/conditions-associated-with-chronic-pain-"
                "2.16.840.1.113762.1.4.1021.95.json",
                snomed_disorders_only=False,
            ),
        ),
        notes=(
            "Includes the CDS4CPM 'conditions associated with chronic pain' set, minus codes "
            "another group claims (fibromyalgia is its own group).",
        ),
    ),
    Group(
        "alcohol_use_disorder",
        "Alcohol use disorder",
        "alcohol use disorder",
        ("alcohol use disorder", "alcohol dependence", "alcohol abuse", "alcoholism"),
        extra_sets=(ExtraSet("conditions/icd10cm-F10-alcohol-related-disorders.json"),),
    ),
    Group(
        "opioid_use_disorder",
        "Opioid use disorder",
        "opioid use disorder",
        (
            "opioid use disorder",
            "opioid dependence",
            "opioid abuse",
            "opiate dependence",
            "opiate abuse",
            "opioid addiction",
        ),
        extra_sets=(
            ExtraSet("conditions/icd10cm-F11-opioid-related-disorders.json"),
            ExtraSet("conditions/cdc/cdc-opioid-misuse-disorders.json"),
            ExtraSet(
                "conditions/vsac/vsac-opioid-use-disorder-a-2.16.840.1.113762.1.4.1046.242.json"
            ),
            ExtraSet(
                "conditions/vsac/vsac-opioid-use-disorder-b-2.16.840.1.113762.1.4.1046.243.json"
            ),
            ExtraSet(
                "conditions/vsac/vsac-opioid-use-disorder-c-2.16.840.1.113762.1.4.1111.171.json"
            ),
        ),
    ),
    Group(
        "liver_disease",
        "Liver disease",
        "liver disease (hepatic caution)",
        (
            "liver disease",
            "cirrhosis",
            "hepatitis",
            "hepatic failure",
            "liver failure",
            "fatty liver",
            "steatohepatitis",
            "hepatic steatosis",
        ),
        extra_sets=tuple(
            ExtraSet(f"conditions/vsac/{name}")
            for name in (
                "vsac-liver-disease-a-2.16.840.1.113762.1.4.1047.12.json",
                "vsac-liver-disease-b-2.16.840.1.113762.1.4.1047.42.json",
                "vsac-liver-disease-c-2.16.840.1.113762.1.4.1047.43.json",
                "vsac-liver-disease-moderate-to-severe-2.16.840.1.113762.1.4.1248.137.json",
                "chronic-liver-disease-2.16.840.1.113883.3.464.1003.199.12.1035.json",
                "vsac-hepatitis-a-2.16.840.1.113883.3.464.1003.110.11.1068.json",
                "vsac-hepatitis-b-2.16.840.1.113883.3.464.1003.110.11.1071.json",
            )
        ),
    ),
    Group(
        "cancer",
        "Cancer",
        "cancer (broad)",
        (
            "cancer",
            "malignant",
            "malignancy",
            "carcinoma",
            "lymphoma",
            "leukemia",
            "leukaemia",
            "melanoma",
            "sarcoma",
            "myeloma",
            "metastatic",
            "metastasis",
        ),
        extra_sets=(
            ExtraSet(
                "conditions/cdc/cdc-malignant-cancer-conditions.json", category_letters=("C",)
            ),
        ),
        extra_prefixes=IN_SITU,
        notes=(
            "ICD-10-CM prefixes: every 3-character malignant (C) category in the CDC set, plus "
            "in-situ neoplasms D00-D09; neoplasms of uncertain behaviour are not cancer here.",
        ),
    ),
    Group(
        "obesity",
        "Obesity and weight",
        "obesity / weight loss",
        ("obesity", "obese", "overweight"),
        notes=("BMI codes (Z68) are supporting codes, not diagnoses, and are not matched.",),
    ),
)


def normalise_icd10(code: str) -> str:
    """Compare ICD-10-CM codes without the dot and without case."""
    return code.replace(".", "").strip().upper()


def is_ranged(code: str) -> bool:
    """Whether a code is a CDC chapter range such as ``C00-C14`` rather than a code."""
    return "-" in code


def read(terminology: Path, relative: str) -> dict[str, Any]:
    """Load one JSON file from the terminology folder."""
    data: dict[str, Any] = json.loads((terminology / relative).read_text(encoding="utf-8"))
    return data


def source_entry(relative: str, data: dict[str, Any]) -> dict[str, Any]:
    """Describe one source list for the provenance block of the output."""
    if relative == CORE_FILE:
        return {
            "id": "ldn-conditions",
            "file": relative,
            "title": data["title"],
            "generated": data["generated"],
            "icd10cmSource": data["icd10cmSource"],
        }
    if "codes" in data:  # the ICD-10-CM family extracts
        return {
            "id": Path(relative).stem,
            "file": relative,
            "title": data["title"],
            "icd10cmSource": data["source"],
        }
    return {
        "id": data["id"],
        "file": relative,
        "title": data["title"],
        "url": data["url"],
        "version": data["version"],
        "publisher": data["publisher"],
        "expansionTimestamp": data["expansion"]["timestamp"],
        "provenance": data["provenance"],
    }


class GroupBuilder:
    """Collect one group's codes with the sources that name them."""

    def __init__(self, group: Group, core: dict[str, Any]) -> None:
        self.group = group
        self.snomed: dict[str, dict[str, Any]] = {}
        self.icd10: dict[str, dict[str, Any]] = {}
        prefixes = core.get("icd10cmMatchPrefixes") or (
            [core["icd10cmMatchPrefix"]] if "icd10cmMatchPrefix" in core else []
        )
        self.prefixes: set[str] = {*prefixes, *group.extra_prefixes}
        self.core = core

    def add(self, system: str, code: str, display: str, source: str, verified: bool) -> None:
        """Record that ``source`` lists ``code`` for this group."""
        table = self.snomed if system == SNOMED else self.icd10
        entry = table.setdefault(code, {"code": code, "display": display, "sources": []})
        if source not in entry["sources"]:
            entry["sources"].append(source)
        if system == SNOMED:
            entry["verified"] = entry.get("verified", False) or verified

    def add_core(self) -> None:
        """Take the curated codes of ``ldn-conditions.json``."""
        for item in self.core.get("snomed", []):
            self.add(SNOMED, item["code"], item["display"], "ldn-conditions", item["verified"])
        for item in self.core.get("icd10cm", []):
            self.add(ICD10CM, item["code"], item["display"], "ldn-conditions", True)

    def add_set(self, extra: ExtraSet, source_id: str, data: dict[str, Any]) -> None:
        """Take the codes of one further list, filtered as ``extra`` says."""
        for item in data.get("contains", data.get("codes", [])):
            system, code, display = item["system"], item["code"], item["display"]
            if system == SNOMED:
                if extra.snomed_disorders_only and not display.endswith("(disorder)"):
                    continue
                # VSAC/CDC expansions come from the SNOMED CT US Edition: corroborated.
                self.add(SNOMED, code, display, source_id, True)
            elif system != ICD10CM or is_ranged(code):
                continue
            elif extra.category_letters is None:
                self.add(ICD10CM, code, display, source_id, True)
            elif code.startswith(extra.category_letters):
                self.prefixes.add(code[:3])

    def covers_icd10(self, code: str) -> bool:
        """Whether ``code`` equals or descends from one of this group's codes or prefixes."""
        stems = {normalise_icd10(stem) for stem in (*self.icd10, *self.prefixes)}
        return normalise_icd10(code).startswith(tuple(stems))

    def drop(self, snomed: set[str], builders: list[GroupBuilder]) -> None:
        """Remove codes that other, more specific groups claim."""
        for code in snomed:
            self.snomed.pop(code, None)
        for code in list(self.icd10):
            if any(other.covers_icd10(code) for other in builders):
                del self.icd10[code]

    def result(self) -> dict[str, Any]:
        """Return this group's entry of the output file."""
        prefix_displays = {normalise_icd10(c): e["display"] for c, e in self.icd10.items()}
        return {
            "key": self.group.key,
            "display": self.group.display,
            "terminologyName": self.group.core_name,
            "snomed": sorted(self.snomed.values(), key=lambda e: int(e["code"])),
            "icd10cm": {
                "prefixes": [
                    {"prefix": p, "display": prefix_displays.get(normalise_icd10(p))}
                    for p in sorted(self.prefixes)
                ],
                "codes": sorted(self.icd10.values(), key=lambda e: normalise_icd10(e["code"])),
            },
            "textTerms": list(self.group.text_terms),
            "notes": [*self.group.notes, *([self.core["note"]] if "note" in self.core else [])],
        }


def build(terminology: Path) -> dict[str, Any]:
    """Assemble the whole ``conditions.json`` document."""
    core_data = read(terminology, CORE_FILE)
    core_by_name = {entry["condition"]: entry for entry in core_data["conditions"]}
    sources = {CORE_FILE: source_entry(CORE_FILE, core_data)}
    builders = []
    for group in GROUPS:
        builder = GroupBuilder(group, core_by_name[group.core_name])
        builder.add_core()
        for extra in group.extra_sets:
            data = read(terminology, extra.file)
            sources.setdefault(extra.file, source_entry(extra.file, data))
            builder.add_set(extra, sources[extra.file]["id"], data)
        builders.append(builder)
    chronic = next(b for b in builders if b.group.key == "chronic_pain")
    others = [b for b in builders if b is not chronic]
    chronic.drop({code for b in others for code in b.snomed}, others)
    check_disjoint(builders)
    return {
        "title": "Condition groups for the LDN evidence summary and cautions",
        "generatedBy": "tools/build_condition_data.py",
        "licences": {
            "snomedCt": core_data["snomedNote"],
            "icd10cm": "ICD-10-CM (CDC/NCHS) is in the public domain.",
            "valueSets": "CDC and VSAC value-set content keeps its publishers' terms; see each "
            "source's provenance.repoLicense.",
            "loinc": "No LOINC content is used in this file.",
        },
        "systems": {"snomed": SNOMED, "icd10cm": ICD10CM},
        "ignoredClinicalStatuses": IGNORED_CLINICAL_STATUSES,
        "ignoredVerificationStatuses": IGNORED_VERIFICATION_STATUSES,
        "textExclusions": TEXT_EXCLUSIONS,
        "sources": sorted(sources.values(), key=lambda s: s["id"]),
        "groups": [builder.result() for builder in builders],
    }


def check_disjoint(builders: list[GroupBuilder]) -> None:
    """Fail the build when one code would land in two groups."""
    seen: dict[str, str] = {}
    for builder in builders:
        for code in builder.snomed:
            if code in seen:
                raise SystemExit(f"SNOMED {code} in both {seen[code]} and {builder.group.key}")
            seen[code] = builder.group.key


def render(document: dict[str, Any]) -> str:
    """Serialise deterministically, so the diff shows only real changes."""
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Build (or with ``--check`` verify) ``clinical/data/conditions.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminology", type=Path, default=DEFAULT_TERMINOLOGY)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the output is stale")
    args = parser.parse_args(argv)
    document = build(args.terminology)
    text = render(document)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    for group in document["groups"]:
        codes = len(group["snomed"]), len(group["icd10cm"]["codes"])
        print(f"{group['key']}: {codes[0]} SNOMED CT, {codes[1]} ICD-10-CM codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
