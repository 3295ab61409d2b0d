"""Recognise an OperationOutcome and say in one short line what it reports.

The CDS service receives an OperationOutcome in place of a prefetch result when the EHR could not
fetch it (CDS Hooks 2.0, prefetch), and FHIR servers return one with every error.
"""

from __future__ import annotations

from fhir_profiles.mapping.fields import Fields, JsonObject, shorten

_INFORMATION = "information"
_SUMMARY_LIMIT = 300
_ISSUE_TEXT_LIMIT = 120


def is_operation_outcome(obj: object) -> bool:
    """Tell whether a parsed JSON value is an OperationOutcome resource."""
    return isinstance(obj, dict) and obj.get("resourceType") == "OperationOutcome"


def is_informational(outcome: JsonObject) -> bool:
    """Tell whether every issue of an OperationOutcome is ``information`` (nothing went wrong)."""
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues:
        return False
    return all(
        isinstance(issue, dict) and issue.get("severity") == _INFORMATION for issue in issues
    )


def summarise_operation_outcome(outcome: object) -> str:
    """Return a short line of an OperationOutcome's issues: ``error (not-found): text; ...``."""
    if not isinstance(outcome, dict):
        return "not an OperationOutcome"
    fields = Fields()
    parts = [
        _issue(fields, issue, path) for path, issue in fields.objects(outcome, "issue", "issue")
    ]
    if not parts:
        return "OperationOutcome without readable issues"
    return shorten("; ".join(parts), _SUMMARY_LIMIT)


def _issue(fields: Fields, issue: JsonObject, path: str) -> str:
    severity = fields.string(issue, "severity", path) or "issue"
    code = fields.string(issue, "code", path)
    label = f"{shorten(severity, 20)} ({shorten(code, 40)})" if code else shorten(severity, 20)
    text = _issue_text(fields, issue, path)
    return f"{label}: {shorten(text, _ISSUE_TEXT_LIMIT)}" if text else label


def _issue_text(fields: Fields, issue: JsonObject, path: str) -> str | None:
    """Prefer the human text of ``details``, then its coding's display, then ``diagnostics``."""
    details = fields.object(issue, "details", path)
    if details is not None:
        text = fields.string(details, "text", path)
        if text:
            return text
        for coding_path, coding in fields.objects(details, "coding", path):
            display = fields.string(coding, "display", coding_path)
            if display:
                return display
    return fields.string(issue, "diagnostics", path)
