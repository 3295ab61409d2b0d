"""The repository stands alone: no code, test or document points to a folder beside it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Written in two parts so that this file does not match itself.
OUTSIDE = ("shared" + "/", "DESIGN" + ".md")


SKIPPED_FOLDERS = {"build", "dist", "node_modules", "var", "__pycache__"}


def _sources() -> list[Path]:
    """Return the code, tests, documents, data and settings (no hidden folder, no build)."""
    return [
        path
        for path in REPO.rglob("*")
        if path.suffix in {".py", ".md", ".toml", ".txt", ".cfg", ".json"}
        and not SKIPPED_FOLDERS.intersection(path.relative_to(REPO).parts)
        and not any(part.startswith(".") for part in path.relative_to(REPO).parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
        and path.is_file()
    ]


def test_no_code_test_or_document_points_outside_the_repository() -> None:
    files = _sources()
    assert len(files) > 50
    found = [
        f"{path.relative_to(REPO)}: {marker}"
        for path in files
        for marker in OUTSIDE
        if marker in path.read_text(encoding="utf-8")
    ]
    assert found == []


def test_the_terminology_snapshot_keeps_its_provenance_and_notices() -> None:
    readme = (REPO / "terminology" / "README.md").read_text(encoding="utf-8")
    notice = (REPO / "terminology" / "NOTICE").read_text(encoding="utf-8")
    for source in ("RxNorm", "CDC", "VSAC", "ICD-10-CM", "SNOMED CT", "LOINC"):
        assert source in notice
    files = [p for p in (REPO / "terminology").rglob("*.json")]
    assert files
    for path in files:
        folder = path.relative_to(REPO / "terminology").parts[0]
        assert f"`{folder}/" in readme, path
