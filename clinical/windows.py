"""How the washout windows the article leaves open are closed (``clinical/data/windows.json``).

The article (section "The Critical Safety Issue: Opioids") gives numbers for short-acting and
long-acting opioids and buprenorphine, and none for methadone ("specialist guidance"). A window
that never closes would keep a critical card on a patient whose methadone ended five years ago,
which trains clinicians to override. So an open window is cut in two bands:

* critical (do not start, specialist guidance) up to the long-acting upper bound after the last
  exposure, a depot's month of release added first;
* a warning asking for specialist guidance until the *horizon*, a site setting
  (``LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS``) whose default is the project's policy, not the
  article's; after it the exposure is past.

A site may also agree a methadone washout with its specialists (``LDN_METHADONE_WASHOUT_DAYS``);
it may never be shorter than the long-acting upper bound, since the article says methadone needs
longer than long-acting opioids.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from clinical.opioids import DurationClass, OpioidKnowledge

DATA_FILE = "windows.json"
HORIZON_SETTING = "LDN_SPECIALIST_GUIDANCE_HORIZON_DAYS"
METHADONE_SETTING = "LDN_METHADONE_WASHOUT_DAYS"


@dataclass(frozen=True, slots=True)
class OpenWindows:
    """The numbers that close open washout windows, and where each comes from.

    ``critical_days`` is the long-acting upper bound; ``horizon_days`` counts from the last
    exposure; ``horizon_configured`` marks a number set by the site.
    """

    critical_days: int
    depot_release_days: int
    buprenorphine_long_use_days: int
    horizon_days: int
    horizon_configured: bool = False

    @classmethod
    def load(cls, knowledge: OpioidKnowledge) -> OpenWindows:
        """Return the packaged policy, the critical band taken from ``knowledge``'s washouts."""
        return cls.from_document(_document(), knowledge)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], knowledge: OpioidKnowledge) -> OpenWindows:
        """Build the policy from the parsed ``windows.json``."""
        critical = knowledge.washouts[DurationClass(document["criticalClass"]["value"])].max_days
        if critical is None:
            raise ValueError(f"{DATA_FILE}: the critical class must have a number of days")
        windows = cls(
            critical_days=critical,
            depot_release_days=int(document["depotReleaseDays"]["value"]),
            buprenorphine_long_use_days=int(document["buprenorphineLongUseDays"]["value"]),
            horizon_days=int(document["specialistGuidanceHorizonDays"]["value"]),
        )
        windows.check_horizon(windows.horizon_days)
        return windows

    @property
    def depot_critical_days(self) -> int:
        """Days after a depot is given during which it is critical: its release, then the window."""
        return self.depot_release_days + self.critical_days

    def check_horizon(self, days: object) -> int:
        """Return ``days`` if it is a usable horizon; raise ValueError naming the setting."""
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValueError(f"{HORIZON_SETTING} must be a whole number of days: {days!r}")
        if days < self.depot_critical_days:
            raise ValueError(
                f"{HORIZON_SETTING} ({days} days) must be at least the critical window of a "
                f"depot ({self.depot_critical_days} days), or a warning would end before the "
                "critical card does"
            )
        return days

    def with_horizon(self, days: object) -> OpenWindows:
        """Return a copy with the site's horizon (checked)."""
        return dataclasses.replace(
            self, horizon_days=self.check_horizon(days), horizon_configured=True
        )

    def check_methadone_washout(self, days: object) -> int:
        """Return a site methadone washout if usable; raise ValueError naming the setting."""
        if isinstance(days, bool) or not isinstance(days, int):
            raise ValueError(
                f"{METHADONE_SETTING}: the methadone washout must be a whole number "
                f"of days: {days!r}"
            )
        if days < self.critical_days:
            raise ValueError(
                f"{METHADONE_SETTING} ({days} days) is shorter than the long-acting washout "
                f"({self.critical_days} days); the article says methadone needs longer"
            )
        return days


@cache
def _document() -> Any:
    text = resources.files("clinical.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text)
