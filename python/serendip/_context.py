"""Context: what a handler knows about the message it is handling, and how it answers back.

Native (``_core.Context``) so that the dispatcher describes each message without running
Python code; its ``send_to`` and ``query`` forward to the mesh as this agent.
"""

from ._core import Context

__all__ = ["Context"]
