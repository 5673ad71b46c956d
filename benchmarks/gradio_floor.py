"""The floor of Gradio's queue protocol: a Gradio app that does nothing but stream the model server's reply.

One ``gr.api`` async generator, no page, no storage, no checks: it posts the message to ``/v1/chat/completions`` with
httpx and yields the growing text at most every 40 ms (ChatLens's frame interval), with no concurrency limit. What
a call through it costs over calling the model server directly is what Gradio's queue (``queue/join`` +
``queue/data`` SSE) and uvicorn cost, which no app inside that protocol can go under. Benchmark use only
(``benchmarks.bench_turns``).

``python -m benchmarks.gradio_floor`` with ``TGI_URL``, ``GRADIO_SERVER_PORT`` and ``GRADIO_SERVER_NAME`` set.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator

import gradio as gr
import httpx

FRAME_S = 0.040
URL = os.environ["TGI_URL"].rstrip("/") + "/v1/chat/completions"
http = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=512, max_keepalive_connections=512))


async def chat(message: str, max_tokens: int = 200) -> AsyncIterator[str]:
    """Stream the reply to ``message``; each update is the whole reply so far."""
    body = {
        "model": "tgi",
        "messages": [{"role": "user", "content": message}],
        "max_tokens": max_tokens,
        "stream": True,
    }
    text, shown_at = "", 0.0
    async with http.stream("POST", URL, json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                continue
            for choice in json.loads(line[5:]).get("choices") or []:
                text += (choice.get("delta") or {}).get("content") or ""
            now = time.monotonic()
            if text and now - shown_at >= FRAME_S:
                shown_at = now
                yield text
    yield text


with gr.Blocks() as demo:
    gr.api(chat, api_name="chat", concurrency_limit=None)  # type: ignore[attr-defined]


if __name__ == "__main__":
    demo.queue(default_concurrency_limit=None, max_size=None).launch(max_threads=512)
