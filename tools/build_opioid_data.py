"""Build ``clinical/data/opioids.json``, ``naltrexone.json`` and ``washouts.json``.

Sources, all under ``terminology/`` (see its README for where each list came from):

* ``opioids/opioid-ingredients.json``: opioid ingredients (RxCUI, pharmacology, default class).
* ``opioids/cdc/*.json``: the CDC opioid guideline value sets (expanded) and the OMTK 2020
  product -> opioid ingredient table.
* ``naltrexone/naltrexone-codes.json`` and ``naltrexone/vsac/*.json``: naltrexone and antagonist
  codes, the opioid + naltrexone products, and the VSAC buprenorphine/methadone sets.
* the clinical source article (``ldn-evidence-article.txt``, kept outside the repository): the
  washout windows (section "The Critical Safety Issue: Opioids"), restated in the project's own
  words below.

Choices made here (reviewed through the diff of the JSON):

* Every code of every CDC opioid value set becomes a product, except naloxone-only products: the
  CDC naloxone set mixes those (not opioids) with buprenorphine/naloxone and pentazocine/naloxone
  (opioids). OMTK rows, the VSAC buprenorphine/methadone codes and the opioid + naltrexone
  products (Embeda, Troxyca) are added.
* A product's opioid ingredients come from OMTK when it lists the product, otherwise from the
  ingredient names in its RxNorm name; the script fails when the two disagree.
* Duration class per product (the ``durationClassRule`` of opioid-ingredients.json, plus
  ``LONG_ACTING_INGREDIENTS``: levorphanol is long-acting, as its own note asks): methadone or
  levomethadyl -> methadone; buprenorphine -> buprenorphine; in the CDC extended-release set or
  named Extended Release / Transdermal / Drug Implant / 12 HR / 24 HR -> long-acting; otherwise
  short-acting.
* Depot: buprenorphine implants and the extended-release buprenorphine prefilled syringes
  (50 MG/ML and stronger: Sublocade, Brixadi); the script fails unless exactly the depot brands
  are caught.
* Loperamide and diphenoxylate are dropped from the ingredients (they act on opioid receptors but
  carry no withdrawal risk) and listed, with the antagonists, as exclusions.
* Brand names are curated below; each brand found in the RxNorm names of the code lists is
  checked against them (same opioid ingredients, class among the brand's product classes).
* ATC codes are left out (bulk redistribution needs WHO permission).

Usage::

    python tools/build_opioid_data.py            # write the three files
    python tools/build_opioid_data.py --check    # exit 1 when a file is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from clinical.text import words

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TERMINOLOGY = REPO / "terminology"
OUTPUT = REPO / "clinical" / "data"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ARTICLE = "ldn-evidence-article.txt (the clinical source article)"
ARTICLE_SECTION = "The Critical Safety Issue: Opioids"

SHORT, LONG, BUP, METH = "short-acting", "long-acting", "buprenorphine", "methadone"
CLASS_ORDER = (SHORT, LONG, BUP, METH)

# RxNorm concepts the terminology snapshot names only in prose, not in a code list: without them a
# record coded with one and no display could not be cleared, so it would be "unchecked".
# 352364: the multi-ingredient concept buprenorphine / naloxone (naltrexone/naltrexone-codes.json,
# "notNaltrexone", which warns that a public demo data set mislabels it as naltrexone).
NOTED_PRODUCTS = {"352364": "buprenorphine / naloxone"}
NOTED_PRODUCTS_LIST = "noted:naltrexone/naltrexone-codes.json#notNaltrexone"

# Ingredients the CDC lists carry that opioid-ingredients.json does not; their RxCUIs are not in
# the terminology snapshot, so they are matched by product code and by name only.
EXTRA_INGREDIENTS: dict[str, dict[str, Any]] = {
    "heroin": {"pharmacology": "full agonist", "synonyms": ["diamorphine", "diacetylmorphine"]},
    "pholcodine": {"pharmacology": "antitussive opioid (morphine derivative)", "synonyms": []},
    "dextromoramide": {"pharmacology": "full agonist", "synonyms": []},
    "dipipanone": {"pharmacology": "full agonist", "synonyms": []},
    "meptazinol": {"pharmacology": "partial agonist", "synonyms": []},
}

# Illicit synthetic opioids that charts record in substance-use histories: no RxNorm concept and
# no CDC list, so they are matched by name only. Each is a mu-opioid agonist scheduled by the DEA;
# the source names the scheduling order. Fentanyl analogues take fentanyl's class.
TEMPORARY_ORDER = "DEA temporary scheduling order"
ILLICIT_INGREDIENTS: dict[str, dict[str, Any]] = {
    "carfentanil": {
        "synonyms": ["carfentanyl"],
        "source": "Schedule II (21 CFR 1308.12); veterinary product Wildnil",
    },
    "acetylfentanyl": {
        "synonyms": ["acetyl fentanyl"],
        "source": "DEA scheduling order, 80 FR 42381 (2015)",
    },
    "furanylfentanyl": {
        "synonyms": ["furanyl fentanyl"],
        "source": f"{TEMPORARY_ORDER}, 81 FR 85873 (2016)",
    },
    "isotonitazene": {
        "synonyms": [],
        "source": f"{TEMPORARY_ORDER}, 85 FR 51342 (2020)",
    },
    "metonitazene": {"synonyms": [], "source": f"{TEMPORARY_ORDER}, 87 FR 21556 (2022)"},
    "protonitazene": {
        "synonyms": [],
        "source": f"{TEMPORARY_ORDER}, 87 FR 21556 (2022)",
    },
    "etodesnitazene": {
        "synonyms": [],
        "source": f"{TEMPORARY_ORDER}, 87 FR 21556 (2022)",
    },
    "etonitazepyne": {
        "synonyms": ["N-pyrrolidino etonitazene"],
        "source": f"{TEMPORARY_ORDER}, 87 FR 21556 (2022)",
    },
    "etonitazene": {"synonyms": [], "source": "Schedule I (21 CFR 1308.11)"},
    "nitazene": {
        "synonyms": ["nitazenes"],
        "source": "class name of the benzimidazole opioids above (DEA scheduling orders)",
    },
    "brorphine": {"synonyms": [], "source": f"{TEMPORARY_ORDER}, 85 FR 45331 (2020)"},
    "U-47700": {"synonyms": ["U47700"], "source": f"{TEMPORARY_ORDER}, 81 FR 79389 (2016)"},
}

# Other names a clinician or a patient-reported list uses for an ingredient.
SYNONYMS: dict[str, list[str]] = {
    "meperidine": ["pethidine"],
    "propoxyphene": ["dextropropoxyphene"],
    "levomethadyl": ["levacetylmethadol", "LAAM"],
    "opium": ["paregoric", "laudanum"],
    "hydrocodone": ["dihydrocodeinone"],
    "hydromorphone": ["dihydromorphinone"],
}

NOT_OPIOIDS: list[dict[str, Any]] = [
    {
        "name": "naloxone",
        "rxcui": "7242",
        "kind": "antagonist",
        "brands": ["Narcan", "Kloxxado", "Zimhi", "Rextovy", "Evzio"],
    },
    {
        "name": "naltrexone",
        "rxcui": "7243",
        "kind": "antagonist",
        "brands": ["Revia", "Vivitrol", "Depade"],
    },
    {"name": "nalmefene", "rxcui": None, "kind": "antagonist", "brands": ["Revex", "Opvee"]},
    {
        "name": "methylnaltrexone",
        "rxcui": None,
        "kind": "peripheral antagonist",
        "brands": ["Relistor"],
    },
    {"name": "naloxegol", "rxcui": None, "kind": "peripheral antagonist", "brands": ["Movantik"]},
    {"name": "alvimopan", "rxcui": None, "kind": "peripheral antagonist", "brands": ["Entereg"]},
    {"name": "samidorphan", "rxcui": None, "kind": "antagonist", "brands": ["Lybalvi"]},
    {
        "name": "loperamide",
        "rxcui": "6468",
        "kind": "peripheral agonist, no withdrawal risk",
        "brands": ["Imodium"],
    },
    {
        "name": "diphenoxylate",
        "rxcui": "3500",
        "kind": "peripheral agonist, no withdrawal risk",
        "brands": ["Lomotil"],
    },
]


@dataclass(frozen=True)
class Brand:
    """One curated brand: its names, opioid ingredients, class for the plain name, depot flag."""

    name: str
    ingredients: tuple[str, ...]
    duration_class: str
    synonyms: tuple[str, ...] = ()
    depot: bool = False
    contains_naltrexone: bool = False
    note: str | None = None


def _b(name: str, ingredients: str, cls: str, *synonyms: str, **flags: Any) -> Brand:
    return Brand(name, tuple(ingredients.split("+")), cls, synonyms, **flags)


# The duration class is the one for the plain brand name; "ER", "XR", "12 HR" and the like in the
# text still make a product long-acting (see longActingWords in opioids.json).
BRANDS: tuple[Brand, ...] = (
    _b("OxyContin", "oxycodone", LONG),
    _b("Percocet", "oxycodone", SHORT),
    _b("Percodan", "oxycodone", SHORT, "Percodan Reformulated May 2009"),
    _b("Endocet", "oxycodone", SHORT),
    _b("Endodan", "oxycodone", SHORT, "Endodan Reformulated May 2009"),
    _b("Roxicodone", "oxycodone", SHORT),
    _b("Roxicet", "oxycodone", SHORT),
    _b("Roxybond", "oxycodone", SHORT),
    _b("Oxaydo", "oxycodone", SHORT),
    _b("Oxecta", "oxycodone", SHORT),
    _b("Oxyfast", "oxycodone", SHORT),
    _b("Xtampza", "oxycodone", LONG),
    _b("Xartemis", "oxycodone", LONG),
    _b("Nalocet", "oxycodone", SHORT),
    _b("Primlev", "oxycodone", SHORT),
    _b("Prolate", "oxycodone", SHORT),
    _b("Xolox", "oxycodone", SHORT),
    _b("Tylox", "oxycodone", SHORT, note="Withdrawn brand; not in the shared lists."),
    _b("Targiniq", "oxycodone", LONG),
    _b("Troxyca", "oxycodone", LONG, contains_naltrexone=True),
    _b("Norco", "hydrocodone", SHORT),
    _b("Vicodin", "hydrocodone", SHORT),
    _b("Lortab", "hydrocodone", SHORT),
    _b("Lorcet", "hydrocodone", SHORT),
    _b("Hycet", "hydrocodone", SHORT),
    _b("Xodol", "hydrocodone", SHORT),
    _b("Verdrocet", "hydrocodone", SHORT),
    _b("Zydone", "hydrocodone", SHORT),
    _b("Maxidone", "hydrocodone", SHORT),
    _b("Zamicet", "hydrocodone", SHORT),
    _b("Vicoprofen", "hydrocodone", SHORT),
    _b("Reprexain", "hydrocodone", SHORT),
    _b("Ibudone", "hydrocodone", SHORT),
    _b("Xylon", "hydrocodone", SHORT),
    _b("Hysingla", "hydrocodone", LONG),
    _b("Zohydro", "hydrocodone", LONG),
    _b("Hycodan", "hydrocodone", SHORT),
    _b("Hydromet", "hydrocodone", SHORT),
    _b("Tussigon", "hydrocodone", SHORT),
    _b("Tussionex", "hydrocodone", LONG),
    _b("TussiCaps", "hydrocodone", LONG),
    _b("Apadaz", "benzhydrocodone", SHORT),
    _b("MS Contin", "morphine", LONG),
    _b("Kadian", "morphine", LONG),
    _b("Avinza", "morphine", LONG),
    _b("Arymo", "morphine", LONG),
    _b("Morphabond", "morphine", LONG),
    _b("Embeda", "morphine", LONG, contains_naltrexone=True),
    _b("Duramorph", "morphine", SHORT),
    _b("Infumorph", "morphine", SHORT),
    _b("Astramorph", "morphine", SHORT),
    _b("Mitigo", "morphine", SHORT),
    _b("Dilaudid", "hydromorphone", SHORT),
    _b("Exalgo", "hydromorphone", LONG),
    _b("Opana", "oxymorphone", SHORT),
    _b("Duragesic", "fentanyl", LONG),
    _b("Actiq", "fentanyl", SHORT),
    _b("Fentora", "fentanyl", SHORT),
    _b("Abstral", "fentanyl", SHORT),
    _b("Subsys", "fentanyl", SHORT),
    _b("Lazanda", "fentanyl", SHORT),
    _b("Sublimaze", "fentanyl", SHORT),
    _b("Dsuvia", "sufentanil", SHORT),
    _b("Ultiva", "remifentanil", SHORT),
    _b("Demerol", "meperidine", SHORT),
    _b("Nucynta", "tapentadol", SHORT),
    _b("Ultram", "tramadol", SHORT),
    _b("Ultracet", "tramadol", SHORT),
    _b("ConZip", "tramadol", LONG),
    _b("Ryzolt", "tramadol", LONG),
    _b("Seglentis", "tramadol", SHORT),
    _b("Qdolo", "tramadol", SHORT),
    _b(
        "Tylenol with Codeine",
        "codeine",
        SHORT,
        "Tylenol #3",
        "Tylenol #4",
        "Tylenol No. 3",
        "Tylenol No. 4",
        "Tylenol-Codeine",
    ),
    _b("Fioricet with Codeine", "codeine", SHORT),
    _b("Fiorinal with Codeine", "codeine", SHORT),
    _b("Soma Compound with Codeine", "codeine", SHORT),
    _b("Capital and Codeine", "codeine", SHORT),
    _b("Brontex", "codeine", SHORT),
    _b("Tuzistra", "codeine", LONG),
    _b("Tuxarin", "codeine", LONG),
    _b("Trezix", "dihydrocodeine", SHORT),
    _b("Synalgos-DC", "dihydrocodeine", SHORT),
    _b("Dvorah", "dihydrocodeine", SHORT),
    _b("Panlor", "dihydrocodeine", SHORT, "Panlor Reformulated Jan 2018"),
    _b("Talwin", "pentazocine", SHORT),
    _b("Talacen", "pentazocine", SHORT),
    _b("Stadol", "butorphanol", SHORT, note="Brand of the nasal spray; not in the shared lists."),
    _b("Nubain", "nalbuphine", SHORT, note="Not in the shared lists."),
    _b("Levo-Dromoran", "levorphanol", LONG, note="Withdrawn brand; not in the shared lists."),
    _b("Olinvyk", "oliceridine", SHORT, note="Not in the shared lists."),
    _b(
        "Darvon",
        "propoxyphene",
        SHORT,
        "Darvon-N",
        "Darvocet",
        note="Withdrawn in 2010; may persist in old records.",
    ),
    _b("Dolophine", "methadone", METH),
    _b("Methadose", "methadone", METH),
    _b("Diskets", "methadone", METH),
    _b("Suboxone", "buprenorphine", BUP),
    _b("Zubsolv", "buprenorphine", BUP),
    _b("Bunavail", "buprenorphine", BUP),
    _b("Cassipa", "buprenorphine", BUP),
    _b("Subutex", "buprenorphine", BUP),
    _b("Buprenex", "buprenorphine", BUP),
    _b("Butrans", "buprenorphine", BUP),
    _b("Belbuca", "buprenorphine", BUP),
    _b("Sublocade", "buprenorphine", BUP, depot=True),
    _b("Brixadi", "buprenorphine", BUP, depot=True),
    _b("Probuphine", "buprenorphine", BUP, depot=True),
)

# Words that make a name long-acting (normalised to lower-case words when matched).
LONG_ACTING_WORDS = [
    "extended release",
    "extended-release",
    "ER",
    "XR",
    "XL",
    "SR",
    "CR",
    "controlled release",
    "sustained release",
    "long acting",
    "long-acting",
    "12 HR",
    "24 HR",
    "72 HR",
    "168 HR",
    "12 hour",
    "24 hour",
    "12 hr",
    "12 h",
    "24 h",
    "72 h",
    "q72h",
    "every 72 hours",
    "transdermal",
    "transdermal system",
    "TD",
    "TTS",
    "patch",
    "patches",
    "mcg/hr",
    "mcg/h",
    "mcg/hour",
    "mcg per hour",
    "microgram/hour",
    "micrograms/hour",
    "micrograms per hour",
    "LA",
    "OROS",
    "depot",
    "implant",
    "Contin",
]
# Words that make a buprenorphine name a depot (monthly or weekly injection, implant).
DEPOT_WORDS = [
    "implant",
    "depot",
    "extended release injection",
    "extended-release injection",
    "extended release injectable",
    "extended-release injectable",
    "ER injection",
    "ER injectable",
    "monthly injection",
    "weekly injection",
    "XR injection",
    "extended-release subcutaneous",
    "monthly depot",
    "weekly depot",
    "subdermal implant",
]
# RxNorm dose forms (TTY=DF) that make a coded form long-acting. Only codes the shared terminology
# names are listed; a form's display or text is read with longActingWords as well.
LONG_ACTING_DOSE_FORMS = [
    {
        "code": "316987",
        "display": "Transdermal System",
        "source": "terminology/opioids/mme-conversion-factors.json (CDC MME cqlEncoding)",
    },
]
# Ingredients whose class the shared list leaves at short-acting while its own note says the drug
# stays long: classed long-acting for every product and name, so that one ingredient has one class.
LONG_ACTING_INGREDIENTS = {
    "levorphanol": (
        "opioid-ingredients.json defaults levorphanol to short-acting but notes its 11-16 h "
        "half-life ('consider long-acting washout'); the article's longer window applies"
    ),
}

WASHOUTS: dict[str, dict[str, Any]] = {
    SHORT: {
        "minDays": 7,
        "maxDays": 10,
        "orMore": False,
        "specialistGuidance": False,
        "guidance": "Most short-acting opioids need at least 7 to 10 days off before naltrexone.",
    },
    LONG: {
        "minDays": 10,
        "maxDays": 14,
        "orMore": True,
        "specialistGuidance": False,
        "guidance": "Long-acting opioids need a longer washout, sometimes 10 to 14 days or more.",
    },
    BUP: {
        "minDays": 10,
        "maxDays": 14,
        "orMore": True,
        "specialistGuidance": False,
        "guidance": "Buprenorphine needs a longer washout, sometimes 10 to 14 days or more.",
    },
    METH: {
        "minDays": None,
        "maxDays": None,
        "orMore": True,
        "specialistGuidance": True,
        "guidance": (
            "Methadone needs an even longer washout than long-acting opioids, planned with "
            "specialist guidance. The article gives no number of days."
        ),
        "configuration": (
            "maxDays stays null unless a specialist or local protocol sets it; the product "
            "then shows that number, otherwise 'specialist guidance'."
        ),
    },
}
DEPOT_WASHOUT = {
    "specialistGuidance": True,
    "guidance": (
        "An extended-release buprenorphine injection or implant keeps releasing drug for weeks "
        "after it is given: exposure continues, and the start date needs specialist guidance."
    ),
    "source": (
        "Project rule: the article names buprenorphine's longer washout but not depot products; "
        "no number is given."
    ),
}


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(terminology: Path, path: Path, provenance: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"file": str(path.relative_to(terminology.parent))}
    if provenance:
        entry["from"] = f"{provenance['repo']} {provenance['path']}@{provenance['commit'][:10]}"
        entry["licence"] = provenance.get("repoLicense")
    return entry


def _product_class(ingredients: set[str], name: str, in_er_set: bool) -> str:
    """Apply the durationClassRule of opioid-ingredients.json to one product."""
    if ingredients & {"methadone", "levomethadyl"}:
        return METH
    if "buprenorphine" in ingredients:
        return BUP
    if ingredients & set(LONG_ACTING_INGREDIENTS):
        return LONG
    tokens = " ".join(words(name))
    markers = ("extended release", "transdermal", "drug implant", "12 hr", "24 hr")
    if in_er_set or any(f" {m} " in f" {tokens} " for m in markers):
        return LONG
    return SHORT


def _is_depot(ingredients: set[str], name: str) -> bool:
    """Tell whether a buprenorphine product is an implant or an extended-release injection."""
    if "buprenorphine" not in ingredients:
        return False
    lower = name.lower()
    strength = re.search(r"buprenorphine ([\d.]+) mg/ml", lower)
    syringe = "prefilled syringe" in lower and strength is not None and float(strength[1]) >= 50
    return "drug implant" in lower or syringe


class Builder:
    """Gather the shared lists and produce the three data documents."""

    def __init__(self, terminology: Path) -> None:
        self.terminology = terminology
        self.sources: list[dict[str, Any]] = []
        self.ingredients: dict[str, dict[str, Any]] = {}
        self.name_to_ingredient: dict[str, str] = {}

    def load(self, relative: str) -> Any:
        """Read one shared file and note it as a source."""
        path = self.terminology / relative
        data = _read(path)
        self.sources.append(_source(self.terminology, path, data.get("provenance")))
        return data

    def build_ingredients(self) -> None:
        """Collect opioid ingredients (minus the exclusions) and the names that stand for them."""
        data = self.load("opioids/opioid-ingredients.json")
        excluded = {entry["name"] for entry in NOT_OPIOIDS}
        for item in data["ingredients"]:
            name = item["name"]
            if name in excluded:
                continue
            self.ingredients[name] = {
                "name": name,
                "rxcui": item["rxcui"],
                "synonyms": SYNONYMS.get(name, []),
                "pharmacology": item["pharmacology"],
                "durationClass": LONG
                if name in LONG_ACTING_INGREDIENTS
                else item["defaultDurationClass"],
                "evidence": item["evidenceTier"],
                "note": LONG_ACTING_INGREDIENTS.get(name, item.get("formulationNotes")),
            }
        for name, extra in EXTRA_INGREDIENTS.items():
            self.ingredients[name] = {
                "name": name,
                "rxcui": None,
                "synonyms": extra["synonyms"],
                "pharmacology": extra["pharmacology"],
                "durationClass": SHORT,
                "evidence": "CDC value set product names; RxCUI not in the shared terminology",
                "note": None,
            }
        for name, illicit in ILLICIT_INGREDIENTS.items():
            self.ingredients[name] = {
                "name": name,
                "rxcui": None,
                "synonyms": illicit["synonyms"],
                "pharmacology": "full agonist (illicit synthetic opioid)",
                "durationClass": SHORT,
                "evidence": f"not a medicine, no RxCUI: {illicit['source']}",
                "note": None,
            }
        for name, item in self.ingredients.items():
            for label in (name, *item["synonyms"]):
                self.name_to_ingredient[" ".join(words(label))] = name

    def ingredients_named(self, display: str) -> set[str]:
        """Find the opioid ingredients an RxNorm name mentions."""
        tokens = words(display)
        found = set()
        for size in (1, 2):
            for start in range(len(tokens) - size + 1):
                hit = self.name_to_ingredient.get(" ".join(tokens[start : start + size]))
                if hit:
                    found.add(hit)
        return found

    def build_products(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Map every opioid product code to its ingredients, class and depot flag."""
        names: dict[str, str] = {}
        lists: dict[str, set[str]] = defaultdict(set)
        excluded: list[dict[str, Any]] = []
        cdc = sorted((self.terminology / "opioids" / "cdc").glob("cdc-*.json"))
        er_codes: set[str] = set()
        omtk_ingredients: dict[str, set[str]] = defaultdict(set)
        rxcui_to_name = {item["rxcui"]: name for name, item in self.ingredients.items()}
        for path in cdc:
            data = self.load(str(path.relative_to(self.terminology)))
            if "rows" in data:
                for row in data["rows"]:
                    names.setdefault(row["drugCode"], row["drugName"])
                    lists[row["drugCode"]].add("omtk-2020")
                    omtk_ingredients[row["drugCode"]].add(rxcui_to_name[row["ingredientCode"]])
                continue
            for concept in data["contains"]:
                assert concept["system"] == RXNORM, concept
                code, display = concept["code"], concept["display"]
                if not self.ingredients_named(display):
                    # Only the naloxone set holds products without an opioid: naloxone alone.
                    assert data["id"] == "naloxone-medications", concept
                    excluded.append({"rxcui": code, "name": display, "list": data["id"]})
                    continue
                names[code] = display
                lists[code].add(data["id"])
                if data["id"] == "extended-release-opioid-with-ambulatory-misuse-potential":
                    er_codes.add(code)
        naltrexone = self.load("naltrexone/naltrexone-codes.json")
        for concept in naltrexone["opioidNaltrexoneCombinations"]["contains"]:
            names.setdefault(concept["code"], concept["display"])
            lists[concept["code"]].add("opioid-naltrexone-combinations")
        for path in sorted((self.terminology / "naltrexone" / "vsac").glob("*.json")):
            data = self.load(str(path.relative_to(self.terminology)))
            for concept in data["contains"]:
                if concept["system"] == RXNORM and self.ingredients_named(concept["display"]):
                    names.setdefault(concept["code"], concept["display"])
                    lists[concept["code"]].add(f"vsac:{data['id']}")
        for code, display in NOTED_PRODUCTS.items():
            names.setdefault(code, display)
            lists[code].add(NOTED_PRODUCTS_LIST)
        products = []
        for code in sorted(names, key=int):
            display = names[code]
            ingredients = self.ingredients_named(display)
            if code in omtk_ingredients and omtk_ingredients[code] != ingredients:
                raise SystemExit(f"{code} {display}: OMTK {omtk_ingredients[code]} != name")
            products.append(
                {
                    "rxcui": code,
                    "name": display,
                    "ingredients": sorted(ingredients),
                    "durationClass": _product_class(ingredients, display, code in er_codes),
                    "depot": _is_depot(ingredients, display),
                    "containsNaltrexone": "naltrexone" in words(display),
                    "lists": sorted(lists[code]),
                }
            )
        return products, excluded

    def check_brands(self, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Check each curated brand against the RxNorm names carrying it; fail on a mismatch."""
        by_brand: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for product in products:
            for bracket in re.findall(r"\[([^\]]+)\]", product["name"]):
                by_brand[" ".join(words(bracket))].append(product)
        out = []
        for brand in BRANDS:
            unknown = set(brand.ingredients) - set(self.ingredients)
            if unknown:
                raise SystemExit(f"brand {brand.name}: unknown ingredients {unknown}")
            found = [
                p
                for label in (brand.name, *brand.synonyms)
                for p in by_brand[" ".join(words(label))]
            ]
            verified = None
            if found:
                ingredients = {i for p in found for i in p["ingredients"]}
                classes = {p["durationClass"] for p in found}
                depot = {p["depot"] for p in found}
                if ingredients != set(brand.ingredients) or brand.duration_class not in classes:
                    raise SystemExit(f"brand {brand.name}: {ingredients} {classes} disagree")
                if (classes == {LONG} and brand.duration_class != LONG) or depot != {brand.depot}:
                    raise SystemExit(f"brand {brand.name}: class or depot disagrees")
                verified = f"{len(found)} RxNorm product name(s) in the shared lists"
            out.append(
                {
                    "name": brand.name,
                    "synonyms": list(brand.synonyms),
                    "ingredients": list(brand.ingredients),
                    "durationClass": brand.duration_class,
                    "depot": brand.depot,
                    "containsNaltrexone": brand.contains_naltrexone,
                    "verified": verified,
                    "note": brand.note,
                }
            )
        depot_brands = {b.name for b in BRANDS if b.depot}
        caught = {b for p in products if p["depot"] for b in re.findall(r"\[([^\]]+)\]", p["name"])}
        if caught != depot_brands:
            raise SystemExit(f"depot rule caught {caught}, expected {depot_brands}")
        return out

    def naltrexone(self) -> dict[str, Any]:
        """Collect the naltrexone and other antagonist codes a naltrexone order can carry."""
        data = _read(self.terminology / "naltrexone" / "naltrexone-codes.json")
        products = []
        for concept in data["codes"]:
            code, display = concept["code"], concept["display"]
            tokens = words(display)
            if code == "7243":
                continue
            entry: dict[str, Any] = {"code": code, "system": concept["system"], "display": display}
            if "samidorphan" in tokens:
                entry.update(kind="combination", antagonist="samidorphan", partner="olanzapine")
            elif "bupropion" in tokens:
                entry.update(kind="combination", antagonist="naltrexone", partner="bupropion")
            elif code in ("637213", "J2315"):
                # J2315 bills depot naltrexone, whose one product is the 380 mg injection.
                entry.update(kind="full-dose", antagonist="naltrexone", doseMg=380)
            elif code == "1483744":
                entry.update(kind="full-dose", antagonist="naltrexone", doseMg=50)
            else:
                entry.update(kind="unknown-dose", antagonist="naltrexone")
            products.append(entry)
        return {
            "ingredient": {"rxcui": "7243", "name": "naltrexone"},
            "ldnMaxMgPerDose": 5,
            "ldnSource": (
                "The product's rule: LDN is a dose of 5 mg or less per administration; the "
                "article's LDN range is 1.5 to 4.5 mg."
            ),
            "names": ["naltrexone", "Revia", "Depade", "Vivitrol"],
            "lowDoseNames": ["LDN", "low dose naltrexone", "low-dose naltrexone"],
            "combinationNames": [
                {"name": "Contrave", "antagonist": "naltrexone", "partner": "bupropion"},
                {"name": "Lybalvi", "antagonist": "samidorphan", "partner": "olanzapine"},
                {"name": "samidorphan", "antagonist": "samidorphan", "partner": None},
            ],
            "partnerNames": ["bupropion", "olanzapine"],
            "products": products,
            "opioidCombinations": {
                "note": (
                    "Opioids with sequestered naltrexone (Embeda, Troxyca) are opioid exposures, "
                    "never naltrexone orders; they are also products in opioids.json."
                ),
                "rxcuis": [c["code"] for c in data["opioidNaltrexoneCombinations"]["contains"]],
            },
            "notNaltrexone": ["naloxone", "nalmefene", "methylnaltrexone", "naloxegol"],
        }


def _provenance(sources: list[dict[str, Any]], what: str) -> dict[str, Any]:
    return {
        "what": what,
        "generatedBy": "tools/build_opioid_data.py",
        "generated": date.today().isoformat(),
        "sources": sources,
        "licence": (
            "RxNorm codes and names (SAB=RXNORM), CDC value sets (CC0 repository; content (c) CDC "
            "2016+), VSAC expansions via cqframework/dqm-content-cms-2025 (CC0) and HCPCS are "
            "redistributable. No ATC codes (WHO permission needed for bulk use)."
        ),
        "refresh": (
            "Codes retire: rebuild from refreshed shared lists (RxNorm via NLM RxNav) and keep "
            "matching on ingredient and name as well as product code."
        ),
    }


def build(terminology: Path) -> dict[str, dict[str, Any]]:
    """Build the three documents, keyed by file name."""
    builder = Builder(terminology)
    builder.build_ingredients()
    products, excluded = builder.build_products()
    brands = builder.check_brands(products)
    opioids = {
        "provenance": _provenance(builder.sources, "Opioid ingredients, products and brands"),
        "durationClasses": list(CLASS_ORDER),
        "durationClassRule": (
            "methadone/levomethadyl -> methadone; buprenorphine -> buprenorphine; "
            "longActingIngredients -> long-acting; CDC extended-release set or RxNorm name with "
            "Extended Release/Transdermal/Drug Implant/12 HR/24 HR -> long-acting; otherwise "
            "short-acting. Names and brands: the class of the ingredient or brand, raised to "
            "long-acting by a longActingWords entry or a longActingDoseForms code."
        ),
        "depotRule": (
            "Buprenorphine implants and extended-release buprenorphine prefilled syringes "
            "(50 MG/ML and stronger), and names with a depotWords entry next to buprenorphine."
        ),
        "longActingWords": LONG_ACTING_WORDS,
        "longActingDoseForms": {
            "rule": "A Medication.form coded with one of these RxNorm dose forms is long-acting.",
            "codes": LONG_ACTING_DOSE_FORMS,
        },
        "longActingIngredients": LONG_ACTING_INGREDIENTS,
        "depotWords": DEPOT_WORDS,
        "ingredients": list(builder.ingredients.values()),
        "brands": brands,
        "notOpioids": [*NOT_OPIOIDS, {"name": "naloxone-only products", "products": excluded}],
        "products": products,
    }
    naltrexone = {
        "provenance": _provenance(
            [
                {
                    **_source(
                        terminology, terminology / "naltrexone" / "naltrexone-codes.json", None
                    ),
                    "from": (
                        "VSAC sets via cqframework/dqm-content-cms-2025@207ec58cfb (CC0) and "
                        "cqframework/opioid-cds-r4 input/cql@b29bdcbf6d (CC0), per code in the file"
                    ),
                }
            ],
            "Naltrexone and other opioid-antagonist order knowledge",
        ),
        **builder.naltrexone(),
    }
    washouts = {
        "provenance": {
            "what": "Washout before naltrexone, per opioid duration class",
            "generatedBy": "tools/build_opioid_data.py",
            "generated": date.today().isoformat(),
            "article": ARTICLE,
            "section": ARTICLE_SECTION,
            "note": (
                "The article's statements, in the project's words; not a validated guideline. "
                "Earliest naltrexone start = last exposure + maxDays."
            ),
        },
        "classes": {
            name: {**entry, "source": f"{ARTICLE}, section '{ARTICLE_SECTION}'"}
            for name, entry in WASHOUTS.items()
        },
        "depot": DEPOT_WASHOUT,
    }
    return {"opioids.json": opioids, "naltrexone.json": naltrexone, "washouts.json": washouts}


def dump(document: dict[str, Any]) -> str:
    """Write JSON with one product per line so that a review diff shows one line per change."""
    body = dict(document)
    products = body.pop("products", None)
    text = json.dumps(body, indent=2, ensure_ascii=False)
    if products is None:
        return text + "\n"
    lines = ",\n".join("    " + json.dumps(p, ensure_ascii=False) for p in products)
    return text[:-2] + ',\n  "products": [\n' + lines + "\n  ]\n}\n"


def _without_date(text: str) -> str:
    return re.sub(r'"generated": "[^"]*"', "", text)


def main(argv: list[str] | None = None) -> int:
    """Build (or with ``--check`` verify) the opioid, naltrexone and washout data files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminology", type=Path, default=DEFAULT_TERMINOLOGY)
    parser.add_argument("--check", action="store_true", help="fail when a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, document in build(args.terminology).items():
        path, text = OUTPUT / name, dump(document)
        if args.check:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if _without_date(current) != _without_date(text):
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run tools/build_opioid_data.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
