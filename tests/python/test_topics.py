"""Topics: subscriptions with NATS-style wildcards, publish, and ctx.topic."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from _support import SAFETY, Gate, Twin, TwinRunner, wait_until
from serendip import Agent, AgentNotFound, Context, LocalMesh


class Listener(Agent):
    """Records (topic, message, sender) for everything it handles."""

    def __init__(self, name: str, *patterns: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.heard: list[tuple[str | None, Any, str | None]] = []
        for pattern in patterns:
            self.subscribe(pattern)

    async def on_message(self, message: Any, ctx: Context) -> Any:
        self.heard.append((ctx.topic, message, ctx.sender))


class Orders(Listener):
    subscriptions = ["orders.*"]


def test_publish_reaches_exactly_the_matching_subscribers_once_each(twin: TwinRunner) -> None:
    async def scenario(m: Twin) -> None:
        star = m.mesh.add_agent(Listener("star", "orders.*"))
        tail = m.mesh.add_agent(Listener("tail", "orders.>", "orders.*"))  # overlapping
        everything = m.mesh.add_agent(Listener("all", ">"))
        other = m.mesh.add_agent(Listener("other", "invoices.*"))
        assert await m.publish("orders.new", 1) == 3
        assert await m.publish("orders.eu.new", 2) == 2
        assert await m.publish("orders", 3) == 1
        assert await m.publish("nobody.listens", 4) == 1
        await m.wait_idle()
        assert star.heard == [("orders.new", 1, None)]
        assert tail.heard == [("orders.new", 1, None), ("orders.eu.new", 2, None)]
        assert [h[0] for h in everything.heard] == [
            "orders.new",
            "orders.eu.new",
            "orders",
            "nobody.listens",
        ]
        assert other.heard == []

    twin.run(scenario)


def test_class_subscriptions_and_early_subscribe_apply_when_the_agent_joins(
    mesh: LocalMesh,
) -> None:
    agent = Orders("orders")
    assert agent.subscribe("audit.>") is True
    assert agent.subscribe("audit.>") is False
    mesh.add_agent(agent)
    assert mesh.subscriptions("orders") == ["orders.*", "audit.>"]
    assert mesh.publish_sync("audit.log", "x") == 1
    assert agent.unsubscribe("audit.>") is True
    assert agent.unsubscribe("audit.>") is False
    assert mesh.publish_sync("audit.log", "y") == 0
    mesh.wait_idle_sync()
    assert agent.heard == [("audit.log", "x", None)]


def test_a_direct_message_has_no_topic(mesh: LocalMesh) -> None:
    agent = mesh.add_agent(Listener("l", "a.b"))
    mesh.send_to_sync("l", "direct")
    mesh.wait_idle_sync()
    assert agent.heard == [(None, "direct", None)]


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a.", "a*", "a.>.b", "a b"])
def test_malformed_patterns_are_value_errors_before_anything_is_registered(
    mesh: LocalMesh, bad: str
) -> None:
    with pytest.raises(ValueError):
        Agent("x").subscribe(bad)

    class Bad(Agent):
        subscriptions = [bad]

    with pytest.raises(ValueError):
        mesh.add_agent(Bad("bad"))
    assert mesh.agents == []


@pytest.mark.parametrize("bad", ["", "a.*", "a.>", "a..b"])
def test_publishing_to_a_malformed_subject_is_a_value_error(mesh: LocalMesh, bad: str) -> None:
    with pytest.raises(ValueError):
        mesh.publish_sync(bad, 1)


def test_a_removed_agent_loses_its_subscriptions(mesh: LocalMesh) -> None:
    mesh.add_agent(Listener("gone", "news.*"))
    mesh.remove_agent("gone")
    assert mesh.publish_sync("news.today", 1) == 0
    with pytest.raises(AgentNotFound):
        mesh.subscriptions("gone")
    again = mesh.add_agent(Listener("gone"))  # same name, no subscriptions carried over
    assert mesh.subscriptions("gone") == []
    assert mesh.publish_sync("news.today", 2) == 0
    assert again.heard == []


def test_an_agent_being_removed_hears_no_more_publishes(mesh: LocalMesh, gate: Gate) -> None:
    # A draining removal frees the name at once: sends to it fail from then on, and a
    # publish must not reach it either while it finishes what it had.
    class Slow(Listener):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            await gate.wait()
            await super().on_message(message, ctx)

    slow = mesh.add_agent(Slow("slow", "news.*"))
    assert mesh.publish_sync("news.today", 1) == 1
    assert wait_until(lambda: gate.entered == 1)
    with ThreadPoolExecutor(1) as pool:
        removal = pool.submit(mesh.remove_agent, "slow")  # drains: waits for the gate
        assert wait_until(lambda: "slow" not in mesh.agents)
        assert mesh.publish_sync("news.today", 2) == 0
        gate.open()
        removal.result(timeout=SAFETY)
    assert [message for _, message, _ in slow.heard] == [1]


def test_publish_waits_for_a_full_subscriber_and_counts_only_who_got_it(
    twin: TwinRunner, gate: Gate
) -> None:
    class Slow(Listener):
        async def on_message(self, message: Any, ctx: Context) -> Any:
            if message == "block":
                await gate.wait()
            await super().on_message(message, ctx)

    async def scenario(m: Twin) -> None:
        slow = m.mesh.add_agent(Slow("slow", "t.*", mailbox_size=1))
        dropper = m.mesh.add_agent(Slow("dropper", "t.*", mailbox_size=1, overflow="reject"))
        await m.send_to("slow", "block")
        await m.send_to("dropper", "block")
        assert await m.until(lambda: gate.entered == 2)
        m.send_to_nowait("slow", "queued")
        m.send_to_nowait("dropper", "queued")  # full, and it rejects rather than waits
        published = m.start(m.publish, "t.x", "news")
        await m.pause()
        assert not m.done(published)  # waiting for room at "slow"
        gate.open()
        assert await m.result(published) == 1
        await m.wait_idle()
        assert [h[1] for h in slow.heard] == ["block", "queued", "news"]
        assert [h[1] for h in dropper.heard] == ["block", "queued"]

    twin.run(scenario)
