"""A plain-function agent driven from a plain script: no asyncio in sight.

Run: python examples/demo_simple_agent.py
"""

import serendip


class Greeter(serendip.Agent):
    """Counts the greetings it receives and answers queries with a greeting."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[str] = []

    def on_message(self, message: str, ctx: serendip.Context) -> str:
        self.seen.append(message)
        return f"hello, {message} (message #{len(self.seen)})"


def main() -> None:
    with serendip.LocalMesh("simple") as mesh:
        greeter = mesh.add_agent(Greeter("greeter"))
        for name in ["ada", "grace", "linus"]:
            print(mesh.query_sync("greeter", name))
        for i in range(100):
            mesh.send_to_sync("greeter", f"guest-{i}")
        mesh.wait_idle_sync(timeout=10)
        print(f"greeter handled {len(greeter.seen)} messages")


if __name__ == "__main__":
    main()
