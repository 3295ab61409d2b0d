"""Audit the pinned dependencies (constraints.txt) for known vulnerabilities; say what was checked.

Runs ``pip-audit -r constraints.txt --no-deps`` against PyPI's vulnerability data
(``--vulnerability-service pypi``: the JSON API of the package registry, which is all a CI
machine with registry-only network can hope to reach; OSV's own service needs more). pip-audit
exits 0 when it could audit nothing at all (every package "not found", the service
unreachable), so this script reads its JSON report instead and prints one line of counts:
packages pinned, audited, not audited, known vulnerabilities.

Exit status: 1 when any pinned package has a known vulnerability (each is listed with its id and
fixed versions); 0 otherwise. When the service could not be reached for a package, the line says
so plainly ("NOT AUDITED") instead of passing in silence; ``--strict`` makes that a failure too,
for a machine that can reach the service. Usage::

    python tools/audit_dependencies.py [--strict] [--constraints constraints.txt]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def audit(constraints: Path) -> dict[str, Any]:
    """Run pip-audit over ``constraints`` and return its JSON report."""
    with tempfile.TemporaryDirectory(prefix="ldn-audit-") as folder:
        report = Path(folder) / "audit.json"
        command = [
            str(Path(sys.executable).parent / "pip-audit"),
            "--requirement",
            str(constraints),
            "--no-deps",
            "--disable-pip",
            "--vulnerability-service",
            "pypi",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report),
        ]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if not report.exists():
            raise RuntimeError(f"pip-audit did not run: {finished.stderr.strip()[-500:]}")
        loaded: dict[str, Any] = json.loads(report.read_text())
        return loaded


def summarise(report: dict[str, Any]) -> tuple[str, list[str], int]:
    """Return the counts line, one line per vulnerability, and how many packages went unaudited."""
    packages = report.get("dependencies", [])
    skipped = [p for p in packages if "skip_reason" in p]
    findings = [
        f"  {p['name']} {p['version']}: {v['id']} "
        f"(fixed in {', '.join(v.get('fix_versions', [])) or 'no release yet'})"
        for p in packages
        for v in p.get("vulns", [])
    ]
    audited = len(packages) - len(skipped)
    line = (
        f"pip-audit: {len(packages)} pinned packages, {audited} audited, "
        f"{len(skipped)} NOT AUDITED (vulnerability service not reachable for them), "
        f"{len(findings)} known vulnerabilities"
    )
    return line, findings, len(skipped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--strict", action="store_true", help="fail when anything went unaudited")
    args = parser.parse_args()
    line, findings, unaudited = summarise(audit(args.constraints))
    print(line)
    for finding in findings:
        print(finding)
    if unaudited:
        print(
            "pip-audit: the packages counted NOT AUDITED were not checked for known "
            "vulnerabilities here; run this where PyPI's JSON API is reachable (--strict there)."
        )
    sys.exit(1 if findings or (args.strict and unaudited) else 0)


if __name__ == "__main__":
    main()
