"""Context: what a handler knows about the message it is handling, and how it answers back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from . import _core
    from ._mesh import LocalMesh

__all__ = ["Context"]


@final
class Context:
    """Passed to ``on_message`` (and the hooks) with the message's addressing.

    Created by the mesh, one per handled message; valid on the agent's home loop. Sends made
    through it carry this agent as the sender.
    """

    __slots__ = ("_mesh", "_agent", "_envelope")

    def __init__(self, mesh: LocalMesh, agent: str, envelope: _core.Envelope | None) -> None:
        self._mesh = mesh
        self._agent = agent
        self._envelope = envelope

    @property
    def agent(self) -> str:
        """The name of the agent handling the message."""
        return self._agent

    @property
    def mesh(self) -> LocalMesh:
        """The mesh the agent belongs to."""
        return self._mesh

    @property
    def sender(self) -> str | None:
        """The sending agent's name, or None for messages sent from outside any agent."""
        return None if self._envelope is None else self._envelope.sender

    @property
    def message_id(self) -> int | None:
        """The message's id, unique within the mesh (None in the start and stop hooks)."""
        return None if self._envelope is None else self._envelope.message_id

    @property
    def request_id(self) -> int | None:
        """The request's id when the message is a query, else None."""
        if self._envelope is None:
            return None
        return self._envelope.request_id or None

    async def send_to(self, target: str, payload: Any) -> None:
        """Sends a one-way message as this agent; waits while the target's mailbox is full.

        Raises AgentNotFound or MeshClosed.
        """
        await self._mesh._send(target, payload, self._agent)

    async def query(self, target: str, payload: Any, *, timeout: float | None = 30.0) -> Any:
        """Asks ``target`` as this agent and returns its handler's result.

        A query to this same agent from its own handler raises RuntimeError when the agent
        handles one message at a time (it could only deadlock). Raises AgentNotFound,
        QueryTimeout, HandlerError or MeshClosed; cancelling the await cancels the request.
        """
        return await self._mesh._query(target, payload, self._agent, timeout)

    def __repr__(self) -> str:
        return (
            f"<Context agent={self._agent!r} sender={self.sender!r} "
            f"message_id={self.message_id} request_id={self.request_id}>"
        )
