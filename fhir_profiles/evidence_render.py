"""Render a patient's LDN evidence summary as HTML (autoescaped Jinja) and as plain text.

Both renderings come from one view, :func:`summary_view`, so they always say the same things in
the same order: the patient's own conditions first (marked as such), then the other conditions
the article covers, then every general section. Evidence grades are shown by their display and
definition. The opioid section carries the washout table read from ``clinical/data/washouts.json``
and the dosing section the protocol of ``titration.json``, both through the one knowledge loader
(``clinical.knowledge.load_knowledge``, which applies a site's methadone setting): numbers live
only in those data files.

The HTML fragment ``evidence/summary.html`` is renderable on its own with one variable, ``view``,
so the SMART app can include it in its page (``render_template(..., view=summary_view(...))``);
:func:`render_html` wraps it in a complete document for the DocumentReference attachment.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from clinical.conditions import ConditionKnowledge
from clinical.evidence import (
    EvidenceGrade,
    EvidencePoint,
    EvidenceSummary,
    SummarySection,
)
from clinical.knowledge import Knowledge, load_knowledge
from clinical.opioids import OpioidKnowledge
from clinical.titration import TitrationProtocol, format_mg
from clinical.wording import washout_words
from fhir_profiles.artefacts import DURATION_CLASS_SYSTEM, load_artefact

WASHOUTS = "washouts.json"
DEPOT_LABEL = "Depot buprenorphine (extended-release injection or implant)"
DEPOT_NOTE = "(A rule of this product: the article does not discuss depot products.)"
TITRATION = "titration.json"
TEXT_WIDTH = 88


@dataclass(frozen=True, slots=True)
class WashoutRow:
    """One line of the washout table: the opioid class, its window, and the guidance in words."""

    label: str
    window: str
    guidance: str


@dataclass(frozen=True, slots=True)
class SectionView:
    """One section ready to show; ``on_chart`` names the patient's conditions it concerns."""

    key: str
    title: str
    points: tuple[EvidencePoint, ...]
    on_chart: tuple[str, ...]
    sources: tuple[str, ...]
    grade: EvidenceGrade | None = None
    headline: str | None = None
    shows_washouts: bool = False
    shows_titration: bool = False


@dataclass(frozen=True, slots=True)
class SectionGroup:
    """A run of sections under one heading; ``empty`` is said when it has no section."""

    key: str
    heading: str
    sections: tuple[SectionView, ...]
    empty: str | None = None


@dataclass(frozen=True, slots=True)
class SummaryView:
    """Everything the summary shows, as display-ready text (the templates format nothing).

    ``groups`` are, in order: the patient's conditions, the other conditions, the general
    sections.
    """

    title: str
    article_title: str
    attribution: str
    patient_name: str | None
    groups: tuple[SectionGroup, ...]
    washouts: tuple[WashoutRow, ...]
    titration: tuple[str, ...]

    @property
    def patient_conditions(self) -> tuple[SectionView, ...]:
        """The condition sections for the patient's own conditions."""
        return self.groups[0].sections

    @property
    def washout_caption(self) -> str:
        """The title of the washout table."""
        return "Washout after the last opioid dose, before the first naltrexone dose"

    @property
    def titration_caption(self) -> str:
        """The title of the titration protocol list."""
        return "Titration protocol"


NO_PATIENT_CONDITIONS = (
    "No condition on this patient's chart matched one the article discusses; "
    "the evidence for each condition it covers follows."
)


@cache
def _class_displays() -> dict[str, str]:
    system = load_artefact(DURATION_CLASS_SYSTEM)
    return {concept["code"]: concept["display"] for concept in system["concept"]}


def _washout_rows(opioids: OpioidKnowledge) -> tuple[WashoutRow, ...]:
    displays = _class_displays()
    ordered = sorted(opioids.washouts.values(), key=lambda w: w.duration_class.rank)
    rows = [
        WashoutRow(displays[w.duration_class.value], washout_words(w), w.guidance) for w in ordered
    ]
    # A depot keeps releasing drug for weeks, so no window can be computed (clinical.exposure).
    # The article does not name depot products, so the row says whose rule it is.
    guidance = f"{opioids.depot_guidance} {DEPOT_NOTE}"
    rows.append(WashoutRow(DEPOT_LABEL, "specialist guidance", guidance))
    return tuple(rows)


def _titration_facts(protocol: TitrationProtocol) -> tuple[str, ...]:
    return (
        f"Start: {format_mg(protocol.start_dose_mg)} {protocol.timing_display}.",
        f"Raise by {format_mg(protocol.step_mg)} every {protocol.interval_choices()}, "
        "only while the current dose is tolerated.",
        f"Target: {format_mg(protocol.default_target_mg)} nightly; the clinician may choose "
        f"{protocol.target_choices()}.",
        *protocol.notes,
    )


def _section_view(section: SummarySection, conditions: ConditionKnowledge) -> SectionView:
    headings: list[str] = []
    for point in section.points:
        if point.source.heading not in headings:
            headings.append(point.source.heading)
    return SectionView(
        key=section.key,
        title=section.title,
        points=section.points,
        on_chart=tuple(sorted(conditions.display(group) for group in section.patient_groups)),
        sources=tuple(headings),
        grade=section.grade,
        headline=section.headline,
        shows_washouts=WASHOUTS in section.data_refs,
        shows_titration=TITRATION in section.data_refs,
    )


def summary_view(
    summary: EvidenceSummary,
    *,
    patient_name: str | None = None,
    knowledge: Knowledge | None = None,
) -> SummaryView:
    """Prepare ``summary`` for display, with ``knowledge`` (default: the packaged knowledge).

    Pass the knowledge the rest of the app uses (``site_knowledge(config)``, kept in each face's
    settings) so the washout table says what the opioid review applied.
    """
    knowledge = knowledge or load_knowledge()
    evidence, conditions = knowledge.evidence, knowledge.conditions

    def views(sections: tuple[SummarySection, ...]) -> tuple[SectionView, ...]:
        return tuple(_section_view(section, conditions) for section in sections)

    return SummaryView(
        title=evidence.title,
        article_title=evidence.article_title,
        attribution=evidence.attribution,
        patient_name=(patient_name or "").strip() or None,
        groups=(
            SectionGroup(
                "patient",
                "This patient's conditions",
                views(summary.patient_conditions),
                empty=NO_PATIENT_CONDITIONS,
            ),
            SectionGroup(
                "other", "Other conditions the article covers", views(summary.other_conditions)
            ),
            SectionGroup("general", "For every patient taking LDN", views(summary.general)),
        ),
        washouts=_washout_rows(knowledge.opioids),
        titration=_titration_facts(knowledge.titration),
    )


@cache
def _environment() -> Environment:
    # The templates are package data shared with the app (``ldn_safety.templates``); reading
    # them imports no application code. Autoescape is on for everything rendered here.
    folder = str(files("ldn_safety.templates"))
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    summary: EvidenceSummary,
    *,
    patient_name: str | None = None,
    knowledge: Knowledge | None = None,
) -> str:
    """Render the summary as a complete, self-contained HTML document (every value escaped)."""
    view = summary_view(summary, patient_name=patient_name, knowledge=knowledge)
    return _environment().get_template("evidence/document.html").render(view=view)


def _wrapped(text: str, *, bullet: str = "", indent: int = 0) -> str:
    lead = " " * indent
    return textwrap.fill(
        text,
        width=TEXT_WIDTH,
        initial_indent=lead + bullet,
        subsequent_indent=lead + " " * len(bullet),
        break_on_hyphens=False,
    )


def _point_text(point: EvidencePoint) -> str:
    return f"{point.label}: {point.text}" if point.label else point.text


def _section_text(section: SectionView, view: SummaryView) -> list[str]:
    lines = [section.title, "-" * len(section.title)]
    if section.on_chart:
        lines.append(_wrapped(f"On this patient's chart: {', '.join(section.on_chart)}."))
    if section.grade is not None:
        lines.append(
            _wrapped(f"Evidence grade: {section.grade.display}. {section.grade.definition}")
        )
    if section.headline:
        lines.append(_wrapped(section.headline))
    lines.extend(_wrapped(_point_text(point), bullet="- ") for point in section.points)
    if section.shows_titration:
        lines.append(f"{view.titration_caption}:")
        lines.extend(_wrapped(fact, bullet="- ", indent=2) for fact in view.titration)
    if section.shows_washouts:
        lines.append(f"{view.washout_caption}:")
        lines.extend(
            _wrapped(f"{row.label}: {row.window}. {row.guidance}", bullet="- ", indent=2)
            for row in view.washouts
        )
    lines.append(_wrapped(f"Source: the article's section(s) {'; '.join(section.sources)}."))
    return lines


def render_text(
    summary: EvidenceSummary,
    *,
    knowledge: Knowledge | None = None,
) -> str:
    """Render the summary as plain text (no markup), in the same order as the HTML."""
    view = summary_view(summary, knowledge=knowledge)
    blocks = [
        [
            view.title,
            "=" * len(view.title),
            _wrapped(f"Source article: {view.article_title}. {view.attribution}"),
        ]
    ]
    for group in view.groups:
        if group.sections:
            blocks.append([group.heading.upper()])
            blocks.extend(_section_text(section, view) for section in group.sections)
        elif group.empty:
            blocks.append([group.heading.upper(), _wrapped(group.empty)])
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"
