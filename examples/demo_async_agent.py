"""Async agents under asyncio.run: real awaits, queries, and a handler that asks another agent.

Run: python examples/demo_async_agent.py
"""

import asyncio

import serendip


class Weather(serendip.Agent):
    """Pretends to call a weather service (an await that really suspends)."""

    TEMPERATURES = {"oslo": 4, "lisbon": 19, "cairo": 31}

    async def on_message(self, city: str, ctx: serendip.Context) -> int:
        await asyncio.sleep(0.02)  # simulated network I/O
        return self.TEMPERATURES[city]


class Advisor(serendip.Agent):
    """Asks the weather agent, then gives advice: a handler awaiting another agent."""

    async def on_message(self, city: str, ctx: serendip.Context) -> str:
        temperature = await ctx.query("weather", city, timeout=5)
        advice = "bring a coat" if temperature < 10 else "leave the coat"
        return f"{city}: {temperature} C, {advice}"


async def main() -> None:
    async with serendip.LocalMesh("async-demo") as mesh:
        mesh.add_agent(Weather("weather", max_concurrency=8))
        mesh.add_agent(Advisor("advisor", max_concurrency=8))
        answers = await asyncio.gather(
            *(mesh.query("advisor", city) for city in ["oslo", "lisbon", "cairo"])
        )
        for answer in answers:
            print(answer)
        try:
            await mesh.query("weather", "atlantis")
        except serendip.HandlerError as error:
            print(f"weather failed as expected: {error.remote_type}: {error.remote_message}")
        print(f"advisor handled {mesh.metrics()['agents']['advisor']['handled']} queries")


if __name__ == "__main__":
    asyncio.run(main())
