"""The evidence summary as HTML and plain text: every fact of the article, nothing it lacks."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest
from flask import Flask, render_template

from clinical.conditions import ConditionGroup
from clinical.evidence import (
    ConditionEvidence,
    EvidenceKnowledge,
    EvidenceSummary,
    GeneralSection,
    select_evidence,
)
from clinical.knowledge import load_knowledge
from clinical.text import words
from fhir_profiles.evidence_render import render_html, render_text, summary_view
from tests.fhir_profiles.save_cases import CASES, HOSTILE, SaveCase, case_params

# Facts derived from the source article, which stays outside the repository
# (tools/build_article_fingerprints.py): the numbers it states, its 12-word run fingerprints.
NUMBERS = Path(__file__).parents[1] / "clinical" / "article_numbers.txt"
FINGERPRINTS = Path(__file__).parents[1] / "clinical" / "article_fingerprints.txt"
KNOWLEDGE = EvidenceKnowledge.load()
RANGE = "\N{EN DASH}"  # the summary writes a range with an en dash, as the article does
FIBRO_AND_MS = frozenset({ConditionGroup.FIBROMYALGIA, ConditionGroup.MULTIPLE_SCLEROSIS})

# The article's dosing, safety, side-effect, stopping and AUD facts, as a reader must find them.
KEY_FACTS = (
    # Dosing and titration
    "1.5 mg",
    "3 mg",
    "4.5 mg",
    "once nightly at bedtime",
    "every 7 or 14 days",
    "tolerated",
    "vivid dreams",
    "compounded",
    # The critical safety issue: opioids, with the washout table
    "withdrawal",
    "oxycodone",
    "tramadol",
    "codeine",
    "Short-acting opioid",
    f"7{RANGE}10 days",
    "Long-acting opioid",
    f"10{RANGE}14 days or more",
    "Buprenorphine",
    "Methadone",
    "specialist guidance",
    "Depot buprenorphine",
    # What to avoid
    "surgical team",
    "emergency physicians",
    "disulfiram",
    # Side effects
    "Vivid or unusual dreams",
    "insomnia",
    "fatigue",
    "Headache",
    "nausea",
    "Rare",
    "liver",
    # Stopping
    "No taper is needed",
    "no withdrawal syndrome",
    # Alcohol use disorder
    "50 mg",
    "Sinclair Method",
    # Multiple sclerosis
    "not a disease-modifying therapy",
)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.skip = tag in {"style", "script"}

    def handle_endtag(self, tag: str) -> None:
        self.skip = False

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def visible(html: str) -> str:
    """Return what a reader sees of ``html``: its text, entities decoded, spaces collapsed."""
    parser = _Text()
    parser.feed(html)
    return flat(" ".join(parser.parts))


def flat(text: str) -> str:
    """Collapse runs of white space (wrapped lines read as one)."""
    return " ".join(text.split())


def summary(groups: frozenset[ConditionGroup] = frozenset()) -> EvidenceSummary:
    return select_evidence(groups, KNOWLEDGE)


def both(groups: frozenset[ConditionGroup] = frozenset()) -> dict[str, str]:
    chosen = summary(groups)
    return {
        "html": visible(render_html(chosen, patient_name="Alex Example")),
        "text": flat(render_text(chosen)),
    }


@pytest.mark.parametrize("form", ["html", "text"])
@pytest.mark.parametrize("fact", KEY_FACTS)
def test_every_key_fact_of_the_article_is_shown(form: str, fact: str) -> None:
    assert fact in both()[form]


def html_section(html: str, key: str) -> str:
    """Return the visible text of one section of the HTML summary."""
    start = html.index(f'id="ldn-evidence-{key}"')
    return visible(html[start : html.index("</section>", start)])


def text_section(text: str, title: str) -> str:
    """Return one section of the plain-text summary, from its underlined title to the blank line."""
    start = text.index(f"{title}\n{'-' * len(title)}\n")
    return flat(text[start : text.index("\n\n", start)])


def test_every_grade_is_shown_by_its_display_in_its_condition() -> None:
    html = render_html(summary(), patient_name=None)
    text = render_text(summary())
    for entry in KNOWLEDGE.conditions:
        said = f"Evidence grade: {entry.grade.display}. {entry.grade.definition}"
        assert said in html_section(html, entry.key)
        assert said in text_section(text, entry.title)


@pytest.mark.parametrize("form", ["html", "text"])
def test_every_section_and_every_point_is_shown(form: str) -> None:
    shown = both(FIBRO_AND_MS)[form]
    sections: tuple[ConditionEvidence | GeneralSection, ...] = (
        *KNOWLEDGE.conditions,
        *KNOWLEDGE.sections,
    )
    for section in sections:
        assert section.title in shown
        for point in section.points:
            assert flat(point.text) in shown, point.text


def test_the_patients_conditions_come_first_and_are_marked() -> None:
    html = render_html(summary(FIBRO_AND_MS), patient_name=None)
    text = render_text(summary(FIBRO_AND_MS))
    order = ("fibromyalgia", "multiple_sclerosis", "crohns")
    positions = [html.index(f'id="ldn-evidence-{key}"') for key in order]
    assert positions == sorted(positions)
    assert positions[1] < html.index("Other conditions the article covers") < positions[2]
    titles = (
        "Fibromyalgia\n---",
        "Multiple sclerosis\n---",
        "OTHER CONDITIONS",
        "Crohn's disease\n",
    )
    positions = [text.index(title) for title in titles]
    assert positions == sorted(positions)
    for group in ("Fibromyalgia", "Multiple sclerosis"):
        assert f"On this patient's chart: {group}" in html_section(
            html, group.lower().replace(" ", "_")
        )
        assert f"On this patient's chart: {group}" in text_section(text, group)
    assert "On this patient's chart" not in html_section(html, "crohns")
    assert "On this patient's chart" not in text_section(text, "Crohn's disease")


def test_the_patients_condition_sections_are_marked_in_the_markup() -> None:
    html = render_html(summary(FIBRO_AND_MS), patient_name=None)
    for key in ("fibromyalgia", "multiple_sclerosis"):
        assert f'ldn-evidence__section--patient" id="ldn-evidence-{key}"' in html
    assert 'ldn-evidence__section--patient" id="ldn-evidence-crohns"' not in html


def test_a_patient_without_matching_conditions_is_told_so() -> None:
    for shown in both().values():
        assert "No condition on this patient's chart matched one the article discusses" in shown
        assert "On this patient's chart:" not in shown


def test_a_related_general_section_is_marked_for_the_patient() -> None:
    shown = both(frozenset({ConditionGroup.LIVER_DISEASE}))
    for text in shown.values():
        assert "On this patient's chart: Liver disease" in text


@case_params
def test_every_patient_gets_the_whole_summary(case: SaveCase) -> None:
    html = visible(render_html(case.summary(), patient_name="Alex Example"))
    text = flat(render_text(case.summary()))
    for shown in (html, text):
        assert all(entry.title in shown for entry in KNOWLEDGE.conditions)
        assert f"10{RANGE}14 days or more" in shown
    view = summary_view(case.summary())
    assert {s.key for s in view.patient_conditions} == {
        e.key for e in KNOWLEDGE.conditions if e.group in case.groups
    }


def test_the_depot_row_says_it_is_not_the_articles() -> None:
    view = summary_view(summary())
    (depot,) = [row for row in view.washouts if row.label.startswith("Depot")]
    assert depot.window == "specialist guidance"
    assert "the article does not discuss depot products" in depot.guidance


def test_methadone_gets_no_number_the_article_does_not_give() -> None:
    view = summary_view(summary())
    (methadone,) = [row for row in view.washouts if row.label == "Methadone"]
    assert methadone.window == "specialist guidance"
    assert not re.search(r"\d", methadone.window + methadone.guidance)
    for shown in both().values():
        assert not re.search(r"[Mm]ethadone[^.]{0,80}\b\d+\s*days", shown)


def test_a_locally_configured_methadone_washout_is_shown_as_local() -> None:
    shown = flat(render_text(summary(), knowledge=load_knowledge(methadone_washout_days=30)))
    assert "Methadone: 30 days or more (set locally), with specialist guidance." in shown


def test_no_cancer_treatment_is_endorsed() -> None:
    view = summary_view(summary(frozenset({ConditionGroup.CANCER})))
    (cancer,) = view.patient_conditions
    said = flat(" ".join([cancer.headline or "", *(point.text for point in cancer.points)]))
    assert cancer.grade is not None
    assert cancer.grade.display == "No rigorous evidence"
    assert "oncologist" in said
    for claim in ("recommended", "effective", "benefit", "improve", "helps"):
        assert claim not in said.lower()


@pytest.mark.parametrize("form", ["html", "text"])
def test_every_number_shown_is_one_the_article_states(form: str) -> None:
    lines = NUMBERS.read_text(encoding="utf-8").splitlines()
    article = {line for line in lines if not line.startswith("#")}
    shown = set(re.findall(r"\d+(?:\.\d+)?", both(FIBRO_AND_MS)[form]))
    assert shown - article == set()


@pytest.mark.parametrize("form", ["html", "text"])
def test_no_run_of_the_article_is_copied(form: str) -> None:
    lines = FINGERPRINTS.read_text(encoding="utf-8").splitlines()
    article = {line for line in lines if not line.startswith("#")}
    tokens = words(both(FIBRO_AND_MS)[form])
    copied = [
        " ".join(tokens[i : i + 12])
        for i in range(len(tokens) - 11)
        if hashlib.sha256(" ".join(tokens[i : i + 12]).encode()).hexdigest()[:16] in article
    ]
    assert copied == []


def test_hostile_text_is_escaped_in_the_html() -> None:
    html = render_html(summary(), patient_name=HOSTILE)
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html
    assert f"Prepared for {HOSTILE}" in visible(html)


def test_the_html_is_a_complete_document() -> None:
    html = render_html(summary(), patient_name="Alex Example")
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html
    assert '<meta charset="utf-8">' in html
    assert "<title>Low-dose naltrexone: what the evidence shows: Alex Example</title>" in html


def test_the_fragment_renders_on_its_own_in_the_app_with_autoescape() -> None:
    app = Flask(__name__, template_folder=str(files("ldn_safety.templates")))
    view = summary_view(summary(FIBRO_AND_MS), patient_name=HOSTILE)
    with app.app_context():
        fragment = render_template("evidence/summary.html", view=view)
    assert fragment.lstrip().startswith('<article class="ldn-evidence"')
    assert "<script" not in fragment
    assert f"Prepared for {HOSTILE}" in visible(fragment)
    assert "On this patient's chart: Fibromyalgia" in visible(fragment)


@case_params
def test_the_plain_text_has_no_markup(case: SaveCase) -> None:
    text = render_text(case.summary())
    assert not re.search(r"<[A-Za-z/!]", text)
    assert not re.search(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);", text)
    assert all(len(line) <= 100 for line in text.splitlines())


def test_the_cases_cover_every_condition_of_the_article() -> None:
    covered = {group for case in CASES for group in case.groups}
    assert {entry.group for entry in KNOWLEDGE.conditions} <= covered


@pytest.mark.parametrize("form", ["html", "text"])
def test_no_wording_about_how_the_article_was_researched(form: str) -> None:
    shown = both(frozenset({ConditionGroup.FIBROMYALGIA}))[form]
    for internal in ("retrieved", "corpus", "citable keys", "indexed literature"):
        assert internal not in shown


def test_the_stored_document_folds_nothing() -> None:
    html = render_html(summary(frozenset({ConditionGroup.FIBROMYALGIA})))
    assert "<details" not in html
    assert html.count('<section class="ldn-evidence__section') == len(KNOWLEDGE.sections) + len(
        KNOWLEDGE.conditions
    )
