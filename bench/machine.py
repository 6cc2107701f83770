"""What the numbers were measured on: without it a benchmark result means little."""

from __future__ import annotations

import datetime
import importlib.util
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["describe", "serendip_build"]

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("serendip", "pykka", "autogen-core", "ceylonai-next", "openai", "httpx2", "matplotlib")


def _first_line(command: list[str]) -> str | None:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def serendip_build() -> str | None:
    """When the installed serendip's native module was written: it tells one build from the
    next, and the working tree's commit need not be what is installed."""
    spec = importlib.util.find_spec("serendip")
    if spec is None or not spec.submodule_search_locations:
        return None
    modules = sorted(Path(spec.submodule_search_locations[0]).glob("_core*.so"))
    if not modules:
        return None
    mtime = modules[0].stat().st_mtime
    return datetime.datetime.fromtimestamp(mtime, datetime.UTC).isoformat(timespec="seconds")


def describe() -> dict[str, object]:
    commit = _first_line(["git", "rev-parse", "HEAD"])
    dirty = _first_line(["git", "status", "--porcelain", "--untracked-files=no"]) is not None
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "compiler": _first_line(["g++", "--version"]),
        "caf": _first_line(["dpkg-query", "-W", "-f=${Version}", "libcaf-dev"]),
        "serendip_commit": commit and (commit + ("+uncommitted" if dirty else "")),
        "serendip_build": serendip_build(),
        "packages": {p: _version(p) for p in PACKAGES},
    }
