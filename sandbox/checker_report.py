"""Show the checker's progress a line per step as it happens, and the summary table at the end.

Plain lines, no terminal control codes, so that a CI log reads the same as a terminal:
``[ 3/21] CDS check oxycodone-active ... PASS critical, do-not-start (1.2 s)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

# echo(text, newline): click.echo in the command, a list in tests.
Echo = Callable[[str, bool], None]


class Verdict(StrEnum):
    """How one step ended."""

    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    FAIL = "FAIL"
    NOT_RUN = "NOT RUN"


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's verdict, a one-line detail (what was found, or why it failed) and its time."""

    number: int
    name: str
    group: str
    verdict: Verdict
    detail: str
    seconds: float


class Progress:
    """Write ``[n/total] name ... VERDICT detail (s)`` for each step, as the step runs."""

    def __init__(self, total: int, echo: Echo) -> None:
        self._total = total
        self._echo = echo
        self._width = len(str(total))

    def begin(self, number: int, name: str) -> None:
        """Announce a step before it runs (the verdict follows on the same line)."""
        self._echo(f"[{number:>{self._width}}/{self._total}] {name} ... ", False)

    def end(self, result: StepResult) -> None:
        """Finish the step's line with its verdict, detail and time."""
        timing = "" if result.verdict is Verdict.NOT_RUN else f" ({result.seconds:.1f} s)"
        self._echo(f"{result.verdict} {one_line(result.detail)}{timing}".rstrip(), True)


def one_line(text: str) -> str:
    """Collapse ``text`` to one line (server messages may carry newlines)."""
    return " ".join(text.split())


def summary_lines(results: Sequence[StepResult], *, target: str, seconds: float) -> list[str]:
    """Return the summary: passed, failed and not run per group of steps; failures; result."""
    groups = list(dict.fromkeys(r.group for r in results))
    width = max((len(g) for g in groups), default=5)
    lines = ["", f"Summary for {target} ({seconds:.1f} s)", ""]
    lines.append(f"  {'steps':<{width}}  passed  failed  not run")
    for group in [*groups, "total"]:
        mine = [r for r in results if group in (r.group, "total")]
        passed, failed, not_run = (
            sum(r.verdict is v for r in mine) for v in (Verdict.PASS, Verdict.FAIL, Verdict.NOT_RUN)
        )
        lines.append(f"  {group:<{width}}  {passed:>6}  {failed:>6}  {not_run:>7}")
    failures = [r for r in results if r.verdict is Verdict.FAIL]
    if failures:
        lines += ["", "Failed:"]
        lines += [f"  [{r.number}] {r.name}: {one_line(r.detail)}" for r in failures]
    lines += ["", "RESULT: PASSED" if all_passed(results) else "RESULT: FAILED"]
    return lines


def all_passed(results: Sequence[StepResult]) -> bool:
    """Say whether every step ran and passed (an empty run has not passed)."""
    return bool(results) and all(r.verdict is Verdict.PASS for r in results)
