"""Describe the machine a benchmark ran on: the figures mean little without it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown memory"


def describe() -> str:
    """One line: CPU, cores, memory, OS, Python, and the load when the run started."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{_cpu_model()}; {os.cpu_count()} cores; {_memory_gib()}; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"load average at start {load}"
    )


def rss_bytes(pid: int) -> int:
    """Return the resident memory of process ``pid`` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def children(pid: int) -> list[int]:
    """Return the ids of the direct child processes of ``pid`` (gunicorn's workers)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                found.append(int(status.parent.name))
                break
    return sorted(found)
