"""The committed stubs of the native module describe the module that is built."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_committed_core_stub_matches_the_built_extension(tmp_path: pathlib.Path) -> None:
    fresh = tmp_path / "_core.pyi"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "stubgen.py"), str(fresh)],
        check=True,
        timeout=120,
    )
    committed = ROOT / "python" / "serendip" / "_core.pyi"
    assert fresh.read_text() == committed.read_text(), (
        "python/serendip/_core.pyi is stale: run `python tools/stubgen.py`"
    )
