"""The words every face uses for an opioid finding: one place, so the card and the app agree.

The CDS card, the SMART app's review and the evidence summary all describe the same
:class:`~clinical.exposure.OpioidExposure` with these phrases, written for a busy clinician
reading a narrow pane: the drug, its class, where it stands (taking now, last dose, planned
end), the washout in days and the earliest start. FHIR vocabulary (status codes, period names,
record ids) stays out of them; record ids belong to "what was checked".

A date in the future is never a "last dose": an active record's end date is its *planned end*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clinical.exposure import DRAFTS, ExposureState, OpioidExposure
from clinical.opioids import DurationClass, Washout

RANGE = "\N{EN DASH}"  # a typographic range ("7 to 10 days" in print)

_CLASS_WORDS = {
    DurationClass.SHORT_ACTING: "short-acting opioid",
    DurationClass.LONG_ACTING: "long-acting opioid",
    DurationClass.BUPRENORPHINE: "buprenorphine",
    DurationClass.METHADONE: "methadone",
}


@dataclass(frozen=True, slots=True)
class ExposureWords:
    """One opioid finding in plain words, field by field (the same in every face)."""

    drug: str
    kind: str
    status: str
    washout: str
    earliest: str


def day(value: date) -> str:
    """Write a calendar date the one way every face shows it (ISO 8601: unambiguous)."""
    return value.isoformat()


def washout_words(washout: Washout, *, depot: bool = False) -> str:
    """Say how long a class waits ("7 to 10 days", "10 to 14 days or more", specialist guidance).

    A depot keeps releasing drug whatever its class, and methadone has no number in the article:
    both say "specialist guidance"; a number set locally is shown as such, beside those words.
    """
    if depot or washout.max_days is None:
        return "specialist guidance"
    span = (
        f"{washout.min_days}{RANGE}{washout.max_days} days"
        if washout.min_days is not None and washout.min_days != washout.max_days
        else f"{washout.max_days} days"
    )
    if washout.or_more:
        span += " or more"
    if washout.configured:
        span += " (set locally)"
    if washout.specialist_guidance:
        span += ", with specialist guidance"
    return span


def _drug(exposure: OpioidExposure) -> str:
    match = exposure.match
    ingredients = match.ingredient_names
    if match.label.strip().lower() == ingredients.lower():
        return match.label
    return f"{match.label} ({ingredients})"


def _kind(exposure: OpioidExposure) -> str:
    words = _CLASS_WORDS[exposure.match.duration_class]
    return f"depot {words}" if exposure.match.depot else words


def _status(exposure: OpioidExposure) -> str:
    last = exposure.last_exposure
    match exposure.state:
        case ExposureState.ACTIVE if exposure.source == DRAFTS:
            return "Ordered in this session"
        case ExposureState.ACTIVE if exposure.planned_end is not None:
            return f"Taking now, planned to end {day(exposure.planned_end)}"
        case ExposureState.ACTIVE:
            return "Taking now, no end date recorded"
        case ExposureState.RECENT if last is not None and exposure.at_least:
            return f"Dose on {day(last)}; later doses not ruled out"
        case ExposureState.RECENT if last is not None:
            return f"Stopped recently, last dose {day(last)}"
        case ExposureState.GUIDANCE if last is not None:
            return f"Stopped, last dose {day(last)}: specialist guidance"
        case ExposureState.PAST if last is not None:
            return f"Stopped, last dose {day(last)}: washout over"
        case ExposureState.UNKNOWN if last is not None:
            return f"Dose on {day(last)}; last dose not recorded"
        case _:
            return "Last dose not recorded"


def _earliest(exposure: OpioidExposure) -> str:
    if exposure.state is ExposureState.GUIDANCE and exposure.guidance_until is not None:
        return f"specialist guidance (until {day(exposure.guidance_until)})"
    if exposure.earliest_start is not None:
        if exposure.state is ExposureState.ACTIVE:
            return f"{day(exposure.earliest_start)} if it ends as planned"
        if exposure.at_least:
            return f"at least until {day(exposure.earliest_start)}"
        return day(exposure.earliest_start)
    if exposure.specialist_guidance:
        return "specialist guidance"
    if exposure.state is ExposureState.ACTIVE:
        return "only after it is stopped, plus the washout"
    return "cannot be worked out: last dose not recorded"


def exposure_words(exposure: OpioidExposure) -> ExposureWords:
    """Describe one opioid finding in the words every face shows."""
    return ExposureWords(
        drug=_drug(exposure),
        kind=_kind(exposure),
        status=_status(exposure),
        washout=washout_words(exposure.washout, depot=exposure.match.depot),
        earliest=_earliest(exposure),
    )
