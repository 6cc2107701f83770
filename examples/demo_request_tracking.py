"""Request tracking: submit work now, take the outcomes later.

A script submits summary jobs to an async agent without waiting for each answer, takes one
result early with ``wait_for`` and collects the rest at once. A job for a missing document
comes back as a result carrying its error instead of raising. One job is stuck until the
agent's ``on_reminder`` hook nudges it: reminders are how a tracked request says "still
waiting", without ever being queued as a message.

Run: python examples/demo_request_tracking.py
"""

import asyncio

import serendip

DOCS = {
    "intro": "serendip routes messages to agents by name",
    "tracking": "submit returns an id and the outcome waits for you",
    "archive": "old documents wake up when someone reminds them",
}
JOBS = ["intro", "tracking", "archive", "missing"]


class Summariser(serendip.Agent):
    """Counts a document's words; the archive job waits until a reminder nudges it."""

    def __init__(self, name: str) -> None:
        super().__init__(name, max_concurrency=8)
        self.nudged = asyncio.Event()
        self.reminders = 0

    async def on_message(self, doc: str, ctx: serendip.Context) -> str:
        if doc == "archive":
            await self.nudged.wait()
        await asyncio.sleep(0.01)  # simulated work
        if doc not in DOCS:
            raise KeyError(f"no document {doc!r}")
        return f"{len(DOCS[doc].split())} words"

    def on_reminder(self, request: serendip.MeshRequest, ctx: serendip.Context) -> None:
        self.reminders = request.reminder_count
        self.nudged.set()


def describe(result: serendip.MeshResult) -> str:
    if result.ok:
        return str(result.response)
    error = result.error
    if isinstance(error, serendip.HandlerError):
        return f"failed ({error.remote_type})"
    return f"failed ({type(error).__name__})"


async def main() -> None:
    async with serendip.LocalMesh("tracking") as mesh:
        summariser = mesh.add_agent(Summariser("summariser"))
        ids: dict[int, str] = {}
        for doc in JOBS:
            interval = 0.05 if doc == "archive" else None
            ids[await mesh.submit("summariser", doc, reminder_interval=interval)] = doc
        print(f"submitted {len(ids)} jobs")

        first = await mesh.wait_for(next(iter(ids)), timeout=5)
        print(f"took early: {ids[first.request_id]}: {describe(first)}")

        results = await mesh.collect_results(timeout=5)
        for result in sorted(results, key=lambda r: r.request_id):
            print(f"collected: {ids[result.request_id]}: {describe(result)}")
        slowest = max(results, key=lambda r: r.duration_ms)
        print(f"slowest: {ids[slowest.request_id]} (reminded: {summariser.reminders > 0})")
        print(
            f"pending: {len(mesh.pending())}, retained: {len(mesh.peek_results())}, "
            f"evicted: {mesh.results_evicted}"
        )


if __name__ == "__main__":
    asyncio.run(main())
