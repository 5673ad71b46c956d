"""Thinking replies against plain ones, through ChatLens's own stream path (in-process, without Gradio).

A thinking reply streams 2,000 thinking tokens and then 200 answer tokens; a plain reply 2,200 answer tokens. Both go
through ``ChatService`` (splitter, timing, frame pacing, the recorder over a DuckDB file) from the in-process model
(``tests.support.fake_model``), once per shape: plain, ``delta.reasoning`` (a field of its own) and
``<think>…</think>`` inline in the text. Two measurements per shape:

* **CPU per 1,000 tokens** (``time.process_time``), the model streaming as fast as it can, ``--replies`` replies.
* **Delivered rate** at a paced upstream (``--rate`` tokens/s): tokens on screen at the last frame minus those at
  the first, over the time between them, against the rate the upstream really streamed at (its ``tokens_per_s``:
  ``asyncio.sleep`` overshoots, so it runs a little under ``--rate``); and the frames sent (the same 40 ms budget
  applies to thinking frames and answer frames).

Gradio's per-frame cost comes on top and is the same for a thought as for an answer (one growing message).
Run from the repo root: ``.venv/bin/python -m benchmarks.bench_thinking [--rate 200] [--replies 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from inference.pacing import FrameBudget
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import GenerationParams, TokenChunk
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.fake_model import FakeModel

THINKING_TOKENS, ANSWER_TOKENS = 2000, 200


def steps(shape: str) -> list[str | TokenChunk]:
    thought = [f" t{i}" for i in range(THINKING_TOKENS)]
    answer = [f" w{i}" for i in range(ANSWER_TOKENS)]
    done = TokenChunk(finish_reason="stop", completion_tokens=THINKING_TOKENS + ANSWER_TOKENS)
    if shape == "plain":
        return [*(f" w{i}" for i in range(THINKING_TOKENS + ANSWER_TOKENS)), done]
    if shape == "field":
        return [*(TokenChunk(reasoning=t) for t in thought), *answer, done]
    return ["<think>", *thought, "</think>", *answer, done]


async def one_reply(service: ChatService) -> tuple[int, float, float]:
    """(frames, delivered rate, upstream rate) of one reply: tokens shown at the last frame minus those at the first,
    over the time between them; the upstream's own rate over its first to last token (``tokens_per_s``)."""
    shown: list[tuple[float, int]] = []
    upstream = 0.0
    async for frame in service.stream_reply(NewMessage("go"), user_id=uuid.uuid4(), params=GenerationParams()):
        if frame.phase in ("thinking", "generating"):
            shown.append((time.monotonic(), (frame.thinking + frame.text).count(" ")))
        if frame.metrics is not None and frame.metrics.tokens_per_s is not None:
            upstream = frame.metrics.tokens_per_s
    (t0, n0), (t1, n1) = shown[0], shown[-1]
    return len(shown), (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan"), upstream


def run(shape: str, recorder: WriteBehindRecorder, *, replies: int, rate: float) -> dict[str, float]:
    budget = FrameBudget(min_interval_s=0.04, frames_per_s=150)
    model = FakeModel()
    service = ChatService({"m": model}, recorder, budget=budget, max_message_chars=1000, max_new_tokens=4000)

    async def fast() -> None:
        for _ in range(replies):
            model.queue(*steps(shape))
            await one_reply(service)

    started = time.process_time()
    asyncio.run(fast())
    cpu_per_1k = (time.process_time() - started) / (replies * (THINKING_TOKENS + ANSWER_TOKENS) / 1000)
    model.queue(*steps(shape), interval_s=1 / rate)
    frames, delivered, upstream = asyncio.run(one_reply(service))
    return {"cpu_ms_per_1k": cpu_per_1k * 1000, "delivered": delivered / upstream, "frames": frames}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="paced upstream tokens/s (default 200)")
    parser.add_argument("--replies", type=int, default=20, help="replies per shape for the CPU figure")
    parser.add_argument("--repeats", type=int, default=3, help="runs per shape; the median is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"duckdb:///{Path(tmp) / 'bench.duckdb'}")
        recorder = WriteBehindRecorder(store)
        try:
            print(f"{'shape':8} {'CPU ms / 1k tokens':>19} {'delivered / upstream':>21} {'frames':>7}")
            for shape in ("plain", "field", "inline"):
                runs = [run(shape, recorder, replies=args.replies, rate=args.rate) for _ in range(args.repeats)]
                median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
                print(f"{shape:8} {median['cpu_ms_per_1k']:19.1f} {median['delivered']:20.1%} {median['frames']:7.0f}")
        finally:
            recorder.close()
            store.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
