"""serendip.testing: helpers for testing code built on serendip.

:class:`ScriptedLLMServer` is a real HTTP server on 127.0.0.1 that answers OpenAI-compatible,
Anthropic and Ollama chat requests from a script of :class:`Reply` and :class:`Fault` turns,
and records each :class:`RecordedRequest`, so LLM agents are tested without a model or network::

    with ScriptedLLMServer() as server:
        server.script(Reply(tool_calls=[ToolCall("lookup", {"sku": "A1"})]), Reply("In stock."))
        ...  # point the client at server.openai_base_url (or anthropic_base_url, or url)
"""

from ._scripted_server import Fault as Fault
from ._scripted_server import RecordedRequest as RecordedRequest
from ._scripted_server import Reply as Reply
from ._scripted_server import ScriptedLLMServer as ScriptedLLMServer
from ._scripted_server import ToolCall as ToolCall

__all__ = ["Fault", "RecordedRequest", "Reply", "ScriptedLLMServer", "ToolCall"]

# Tracebacks and reprs say serendip.testing.Reply, not serendip.testing._scripted_server.Reply.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
