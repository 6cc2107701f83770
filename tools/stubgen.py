"""Writes python/serendip/_core.pyi from the built extension (nanobind's stubgen).

`serendip` re-labels its public classes as living in `serendip`; for the native Context that
would make the stub import it from `serendip`, which imports it from `_core`: a cycle with no
definition. The stub is written with the native class labelled as what it is.

Usage: python tools/stubgen.py [OUTPUT]
"""

from __future__ import annotations

import pathlib
import sys

import nanobind.stubgen

import serendip._core

TOOLS = pathlib.Path(__file__).resolve().parent
DEFAULT = TOOLS.parent / "python" / "serendip" / "_core.pyi"
PATTERNS = TOOLS / "core_stub_patterns.txt"  # signatures of what nanobind did not define


def main() -> None:
    output = sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT)
    serendip._core.Context.__module__ = "serendip._core"
    try:
        nanobind.stubgen.main(["-q", "-m", "serendip._core", "-p", str(PATTERNS), "-o", output])
    finally:
        serendip._core.Context.__module__ = "serendip"


if __name__ == "__main__":
    main()
