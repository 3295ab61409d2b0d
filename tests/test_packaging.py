"""Packaging: a non-editable install ships every package and every data file the code reads."""

from __future__ import annotations

import glob
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
TOP_LEVEL = ("clinical", "fhir_profiles", "fhir_client", "cds_hooks", "smart_app", "sandbox")
DATA_SUFFIXES = {".json", ".html", ".css", ".svg", ".js", ".txt"}


def _source_dir(package: str) -> Path:
    mapped = SETUPTOOLS.get("package-dir", {})
    for parent, folder in mapped.items():
        if package == parent or package.startswith(parent + "."):
            return ROOT / folder / Path(*package[len(parent) :].split(".")[1:])
    return ROOT.joinpath(*package.split("."))


def _package_of(path: Path) -> str:
    """Return the installed package whose directory holds ``path``."""
    listed = sorted(SETUPTOOLS["packages"], key=lambda p: -len(str(_source_dir(p))))
    for package in listed:
        if path.is_relative_to(_source_dir(package)):
            return package
    raise AssertionError(f"{path.relative_to(ROOT)} is in no listed package")


def _shipped(package: str, patterns: list[str]) -> set[str]:
    """Return the files that setuptools' package-data globs select in ``package``."""
    root = _source_dir(package)
    return {
        Path(match).as_posix()
        for pattern in patterns
        for match in glob.glob(pattern, root_dir=root, recursive=True)
    }


def test_every_folder_with_data_is_a_listed_package() -> None:
    """Setuptools ships a folder only as a listed package (and warns about any it must guess)."""
    folders = {
        path.parent
        for top in (*TOP_LEVEL, "templates")
        for path in (ROOT / top).rglob("*")
        if path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts
    }
    listed = {_source_dir(package) for package in SETUPTOOLS["packages"]}
    assert sorted(str(f.relative_to(ROOT)) for f in folders - listed) == []


def test_every_python_package_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in (*TOP_LEVEL, "ldn_safety")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - set(SETUPTOOLS["packages"]) == set()


def test_every_data_file_is_covered_by_package_data() -> None:
    globs = SETUPTOOLS["package-data"]
    missing = []
    for top in (*TOP_LEVEL, "templates"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in DATA_SUFFIXES or "__pycache__" in path.parts:
                continue
            package = _package_of(path)
            relative = path.relative_to(_source_dir(package)).as_posix()
            patterns = [*globs.get("*", []), *globs.get(package, [])]
            if relative not in _shipped(package, patterns):
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []
