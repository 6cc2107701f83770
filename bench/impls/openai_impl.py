"""openai-python's ``AsyncOpenAI``: the baseline of ``llm_calls``, the one scenario it runs.

One client for every call, ``chat.completions.create`` per call, as the SDK's docs drive it. Its
HTTP client is the SDK's own ``DefaultAsyncHttpxClient`` (an ``httpx2.AsyncClient`` with the
SDK's timeouts) with limits raised so that every call has a connection at once.
"""

from __future__ import annotations

import asyncio

import httpx2
import openai

import llm_server

NOTES: dict[str, str] = {
    "llm_calls": "one AsyncOpenAI, max_retries=0, DefaultAsyncHttpxClient with max_connections "
    "and max_keepalive_connections = the calls at once (the SDK keeps 100 alive by default)",
}


async def _llm_calls(url: str, n_calls: int) -> dict[str, float]:
    limits = httpx2.Limits(max_connections=n_calls, max_keepalive_connections=n_calls)
    async with openai.AsyncOpenAI(
        base_url=url,
        api_key=llm_server.API_KEY,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(limits=limits),
    ) as client:

        async def call(i: int) -> str:
            completion = await client.chat.completions.create(
                model=llm_server.MODEL, messages=[{"role": "user", "content": f"question {i}"}]
            )
            return completion.choices[0].message.content or ""

        return await llm_server.timed_calls(call, n_calls)


def llm_calls(n_calls: int) -> dict[str, float]:
    with llm_server.serve() as url:
        return asyncio.run(_llm_calls(url, n_calls))
