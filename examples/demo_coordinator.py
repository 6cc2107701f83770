"""The main demo: a coordinator fans work out to async workers and a sync agent.

Three async workers fetch "pages" with simulated I/O; a sync word counter does CPU work
inline; the coordinator queries them all at once, handles a failing job, and prints a summary.

Run: make demo   (or: python examples/demo_coordinator.py)
"""

import asyncio
import time

import serendip

PAGES = {
    "intro": "serendip routes messages to agents by name",
    "async": "handlers may be plain functions or coroutines on their home loop",
    "speed": "one wake per batch and no task per message",
    "sync": "every call has a blocking twin for plain scripts",
    "close": "closing fails in flight queries instead of hanging",
}


class Fetcher(serendip.Agent):
    """Fetches a page: an async handler that really waits (simulated network latency)."""

    async def on_message(self, page: str, ctx: serendip.Context) -> str:
        await asyncio.sleep(0.05)
        if page not in PAGES:
            raise KeyError(f"no page {page!r}")
        return PAGES[page]


class WordCounter(serendip.Agent):
    """Counts words: a plain function, called inline on its loop."""

    def on_message(self, text: str, ctx: serendip.Context) -> int:
        return len(text.split())


class Coordinator(serendip.Agent):
    """Fans each job out: fetch on any fetcher, then count on the word counter."""

    async def on_message(self, pages: list[str], ctx: serendip.Context) -> dict[str, object]:
        async def one(i: int, page: str) -> tuple[str, object]:
            try:
                text = await ctx.query(f"fetcher-{i % 3}", page, timeout=5)
            except serendip.HandlerError as error:
                return page, f"failed ({error.remote_type})"
            return page, await ctx.query("counter", text)

        results = await asyncio.gather(*(one(i, page) for i, page in enumerate(pages)))
        return dict(results)


async def main() -> None:
    async with serendip.LocalMesh("demo") as mesh:
        for i in range(3):
            mesh.add_agent(Fetcher(f"fetcher-{i}", max_concurrency=16))
        mesh.add_agent(WordCounter("counter"))
        mesh.add_agent(Coordinator("coordinator"))

        jobs = [*PAGES, "missing"]
        started = time.perf_counter()
        counts = await mesh.query("coordinator", jobs)
        elapsed = time.perf_counter() - started

        for page, count in counts.items():
            print(f"{page:>8}: {count}")
        words = sum(c for c in counts.values() if isinstance(c, int))
        failed = [p for p, c in counts.items() if not isinstance(c, int)]
        totals = mesh.metrics()["totals"]
        print(
            f"summary: {len(jobs)} jobs, {words} words, {len(failed)} failed ({', '.join(failed)}), "
            f"{totals['handled']} messages handled by {totals['agents']} agents "
            f"in {elapsed * 1000:.0f} ms (fetches ran concurrently)"
        )


if __name__ == "__main__":
    asyncio.run(main())
