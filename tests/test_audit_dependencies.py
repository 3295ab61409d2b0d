"""The dependency audit says what it checked and fails only on known vulnerabilities."""

from __future__ import annotations

from tools.audit_dependencies import summarise


def test_known_vulnerabilities_are_listed_and_counted() -> None:
    report = {
        "dependencies": [
            {"name": "flask", "version": "3.1.3", "vulns": []},
            {
                "name": "werkzeug",
                "version": "3.0.0",
                "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["3.0.6"]}],
            },
        ]
    }
    line, findings, unaudited = summarise(report)
    assert line == (
        "pip-audit: 2 pinned packages, 2 audited, 0 NOT AUDITED (vulnerability service not "
        "reachable for them), 1 known vulnerabilities"
    )
    assert findings == ["  werkzeug 3.0.0: GHSA-xxxx (fixed in 3.0.6)"]
    assert unaudited == 0


def test_an_unreachable_service_is_said_not_passed_in_silence() -> None:
    report = {
        "dependencies": [
            {"name": "flask", "skip_reason": "Dependency not found on PyPI"},
            {"name": "jinja2", "version": "3.1.6", "vulns": []},
        ]
    }
    line, findings, unaudited = summarise(report)
    assert "1 audited, 1 NOT AUDITED" in line
    assert findings == []
    assert unaudited == 1
