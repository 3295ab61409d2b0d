"""Where the offline FHIR R4 core package (``hl7.fhir.r4.core#4.0.1``) lives.

The validator needs the official R4 definitions. They are not on any registry reachable from here,
so ``tools/build_fhir_core_package.py`` assembles them into an NPM-format FHIR package in a cache
folder; this module is the one place that says where that folder is.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_NAME = "hl7.fhir.r4.core"
PACKAGE_VERSION = "4.0.1"
CACHE_ENV = "LDN_FHIR_CACHE"
BUILD_COMMAND = "python tools/build_fhir_core_package.py"

# The repository root in an editable install (the way the project is developed and tested).
_DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".fhir-cache"


class CorePackageMissingError(RuntimeError):
    """The R4 core package has not been built into the cache folder."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"The FHIR R4 core package {PACKAGE_NAME}#{PACKAGE_VERSION} is missing at {path}. "
            f"Build it (needs npm once) with `{BUILD_COMMAND}` from the repository root, "
            f"or point {CACHE_ENV} at a folder that holds it."
        )
        self.path = path


def cache_dir() -> Path:
    """Return the cache folder: ``$LDN_FHIR_CACHE`` or ``.fhir-cache/`` in the repository."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else _DEFAULT_CACHE


def core_package_path() -> Path:
    """Return where the core package tarball is (or is to be) stored."""
    return cache_dir() / f"{PACKAGE_NAME}-{PACKAGE_VERSION}.tgz"


def require_core_package() -> Path:
    """Return the core package path, or raise ``CorePackageMissingError`` naming the command."""
    path = core_package_path()
    if not path.is_file():
        raise CorePackageMissingError(path)
    return path
