"""The implementations the suite compares: serendip and the baselines, one module each.

Every module exposes the same scenario functions (see ``scenarios.py`` for their arguments).
Each builds its agents first, then times only the message work with ``time.perf_counter`` and
returns those seconds; it checks the outcome (messages counted, replies compared) and raises
``AssertionError`` when it is wrong. An implementation that cannot express a scenario raises
``Unsupported`` with the reason, which the report shows as "fails" instead of dropping the row.
A module may also set ``NOTES[scenario]`` to say how it had to drive its library there.
"""

from __future__ import annotations

__all__ = ["IMPLEMENTATIONS", "OWN_THREADS", "Unsupported", "check"]

# Report order: serendip first, then what a Python user would write instead, then the peers.
IMPLEMENTATIONS: dict[str, str] = {
    "serendip": "impls.serendip_impl",
    "asyncio": "impls.asyncio_impl",
    "pykka": "impls.pykka_impl",
    "autogen": "impls.autogen_impl",
    "ceylon": "impls.ceylon_impl",
}

# Those that run their agents on threads of their own (Pykka: one per actor; ceylon: its Rust
# runtime's), so that no scenario pins them to one CPU (measure.cpu_for).
OWN_THREADS = frozenset({"pykka", "ceylon"})


class Unsupported(Exception):
    """The implementation cannot run this scenario as specified; the message says why."""


def check(ok: bool, what: str) -> None:
    """Fails the measurement loudly when its outcome is wrong (not stripped by ``-O``)."""
    if not ok:
        raise AssertionError(what)
