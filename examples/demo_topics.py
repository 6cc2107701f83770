"""Topics: publish once, reach every subscriber whose pattern matches.

Two agents subscribe with NATS-style patterns (``*`` is one token, ``>`` the rest), declared
as a class attribute. The script publishes order events; each agent sees the subject in
``ctx.topic``, and ``publish`` says how many subscribers it reached.

Run: python examples/demo_topics.py
"""

import serendip


class Logger(serendip.Agent):
    """Hears everything about orders."""

    subscriptions = ["orders.>"]

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.lines: list[str] = []

    def on_message(self, message: str, ctx: serendip.Context) -> None:
        self.lines.append(f"{ctx.topic}: {message}")


class Billing(serendip.Agent):
    """Bills new orders in any region."""

    subscriptions = ["orders.*.new"]

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.billed: list[str] = []

    def on_message(self, message: str, ctx: serendip.Context) -> None:
        self.billed.append(message)


def main() -> None:
    with serendip.LocalMesh("orders") as mesh:
        log = mesh.add_agent(Logger("log"))
        billing = mesh.add_agent(Billing("billing"))
        events = [("orders.eu.new", "A1"), ("orders.us.new", "B7"), ("orders.eu.paid", "A1")]
        for subject, order in events:
            reached = mesh.publish_sync(subject, order)
            print(f"{subject} -> {reached} subscriber(s)")
        mesh.wait_idle_sync()
        print("log:", "; ".join(log.lines))
        print("billed:", ", ".join(billing.billed))


if __name__ == "__main__":
    main()
