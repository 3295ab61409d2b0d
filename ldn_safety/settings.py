"""The deployable's own settings (not either face's): logs, proxies and HSTS, checked once.

``create_app`` reads them from ``app.config`` (environment ``LDN_<NAME>``, JSON-parsed) before
anything else; a malformed one stops start-up with a message naming it. The faces check their
own: ``cds_hooks.config`` and ``smart_app.settings``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HSTS_DEFAULT_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class DeployableSettings:
    """How the deployable logs, which proxies it believes, and how long browsers keep to HTTPS."""

    log_level: str | int
    trusted_proxy_hops: int
    hsts_seconds: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeployableSettings:
        """Check the deployable's settings in ``config``; raise ValueError naming a bad one."""
        level = config.get("LOG_LEVEL", "INFO")
        if not _log_level(level):
            raise ValueError(f'LOG_LEVEL must be a level such as "INFO", got {level!r}')
        return cls(
            log_level=level,
            trusted_proxy_hops=_non_negative_int(config, "TRUSTED_PROXY_HOPS", 0),
            hsts_seconds=_non_negative_int(config, "HSTS_SECONDS", HSTS_DEFAULT_SECONDS),
        )


def _log_level(value: object) -> bool:
    if isinstance(value, str):
        return value in logging.getLevelNamesMapping()
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _non_negative_int(config: Mapping[str, Any], name: str, default: int) -> int:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of at least 0, got {value!r}")
    return value
