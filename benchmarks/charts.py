"""Synthetic charts in a real chart's mix (tools/bench_cds.py builds them; one place for both)."""

from __future__ import annotations

from tools.bench_cds import PATIENT_ID, USER, chart_prefetch

__all__ = ["PATIENT_ID", "USER", "chart_prefetch"]
