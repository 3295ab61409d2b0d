"""The counts the fault-injection tests print at the end of the run (see conftest.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FaceCounts:
    """What one face did under faults: tried, answered in time, and false all-clears."""

    tried: int = 0
    answers_in_time: int = 0
    all_clears: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def record(self, *, in_time: bool, all_clear: bool, outcome: str) -> None:
        """Count one faulted call."""
        self.tried += 1
        self.answers_in_time += in_time
        self.all_clears += all_clear
        self.outcomes[outcome] += 1

    def line(self, face: str) -> str:
        """Say the counts in one line."""
        outcomes = ", ".join(f"{name} {n}" for name, n in sorted(self.outcomes.items()))
        return (
            f"fault injection, {face}: {self.tried} faults tried, {self.answers_in_time} answers "
            f"within the deadline, {self.all_clears} all-clears ({outcomes})"
        )


REPORT: dict[str, FaceCounts] = {}


def counts(face: str) -> FaceCounts:
    """Return the counts of ``face``, created on first use."""
    return REPORT.setdefault(face, FaceCounts())
