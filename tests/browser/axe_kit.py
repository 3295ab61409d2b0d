"""axe-core inside the page: the WCAG 2.1 A and AA rules, and their violations told readably.

axe-core comes from the npm registry, pinned in ``tests/browser/axe/package-lock.json`` and
installed by ``scripts/setup`` (``npm ci``). The pages' Content-Security-Policy rightly refuses
injected ``<script>`` tags, so the source is evaluated in the page through Playwright (the
DevTools protocol is not bound by the page's CSP), once per document. Each document is checked on
its own: the EHR page and the app inside its iframe are two runs, so every violation names the
page it belongs to.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Frame, Page

AXE_SOURCE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# The rule sets WCAG 2.1 level AA asks for (axe-core's tags).
WCAG21_AA_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

RUN_AXE = """async tags => {
    const results = await window.axe.run(document, {
        runOnly: {type: "tag", values: tags},
        resultTypes: ["violations"],
        iframes: false,
    });
    return results.violations.map(v => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map(n => n.target.join(" ")),
        summaries: v.nodes.map(n => n.failureSummary || ""),
    }));
}"""


@cache
def axe_source() -> str:
    """Return axe-core's source, as ``npm ci`` installed it."""
    if not AXE_SOURCE.is_file():
        raise RuntimeError(
            f"axe-core is not installed at {AXE_SOURCE}: run `bash scripts/setup` "
            "(it runs `npm ci` in tests/browser/axe)"
        )
    # A trailing expression: Playwright evaluates the text as a script, not as a function.
    return AXE_SOURCE.read_text(encoding="utf-8") + "\n;true"


def axe_violations(target: Page | Frame) -> list[dict[str, Any]]:
    """Run axe-core's WCAG 2.1 A/AA rules over the document in ``target``; return the violations."""
    if not target.evaluate("() => typeof window.axe === 'object'"):
        target.evaluate(axe_source())
    found: list[dict[str, Any]] = target.evaluate(RUN_AXE, list(WCAG21_AA_TAGS))
    return found


def describe(where: str, violations: list[dict[str, Any]]) -> str:
    """Say each violation as a reader needs it: rule id, impact, what it asks, which elements."""
    lines = [f"{where}: {len(violations)} WCAG 2.1 A/AA violation(s)"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for selector, summary in zip(violation["targets"], violation["summaries"], strict=True):
            first = summary.splitlines()[1].strip() if summary.count("\n") else summary
            lines.append(f"    {selector}  {first}")
    return "\n".join(lines)


def assert_accessible(target: Page | Frame, where: str) -> None:
    """Fail with a readable list when axe-core finds any WCAG 2.1 A/AA violation."""
    violations = axe_violations(target)
    assert not violations, describe(where, violations)
