"""What a 4-image message adds before the upstream request, through ChatLens's own path (in-process, without Gradio).

From the uploaded files on disk to the request body ready to send: the files read and checked by their bytes
(``ui.attachments.read_images``), the turn checked and committed (``ChatService.stream_reply`` → the recorder: the
image files written, the rows committed over a DuckDB file, the history read back), and the request body built as
the adapter sends it (``image_url`` parts with base64 data URLs, JSON-encoded). The same message without images is
measured beside it; the figure is the difference. Each run is a new message in a new conversation, so every image is
written (content-addressing makes a repeated image cheaper).

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_images [--runs 30] [--image-kb 1500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any

from compat import fast_json_bodies
from inference.images import content_parts
from inference.pacing import FrameBudget
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import ChatMessage, GenerationParams, TokenChunk
from settings import Settings
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.fake_model import FakeModel
from ui import attachments


class TimedModel(FakeModel):
    """Notes when the request body is ready: the moment the adapter would send it."""

    called_at = 0.0
    body_ms: dict[str, float]

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[TokenChunk, None]:
        self.called_at = time.perf_counter()
        self.body_ms = {}
        for name, dumps in ENCODERS.items():  # alternating in one run: the standard encoder, then the patched one
            started = time.perf_counter()
            payload = {"messages": [{"role": m.role, "content": content_parts(m.content, m.images)} for m in messages]}
            dumps(payload, **HTTPX_JSON).encode("utf-8")
            self.body_ms[name] = (time.perf_counter() - started) * 1000
        yield TokenChunk(text="ok", finish_reason="stop")


# How httpx2 (huggingface_hub's HTTP client) encodes a ``json=`` body, by the standard library and by the
# "fast request bodies" patch (``compat.fast_json_bodies``), which the app applies.
HTTPX_JSON: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False}
ENCODERS: dict[str, Callable[..., str]] = {"json": json.dumps, "orjson": fast_json_bodies.dumps}


def jpeg_like(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 4)  # a JPEG by its signature; random: no compression tricks


async def one(service: ChatService, model: TimedModel, paths: list[Path], settings: Settings) -> tuple[float, float]:
    started = time.perf_counter()
    images = await attachments.read_images([str(p) for p in paths], settings)
    frames = service.stream_reply(
        NewMessage("What is in these pictures?", images=images), user_id=uuid.uuid4(), params=GenerationParams()
    )
    async for _ in frames:
        pass
    return (model.called_at - started) * 1000, dict(model.body_ms)


async def main(runs: int, image_kb: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(_env_file=None, tgi_url=None)  # type: ignore[call-arg]
        store = Store.open(f"duckdb:///{root / 'bench.duckdb'}", images_dir=root / "images")
        recorder = WriteBehindRecorder(store)
        model = TimedModel(max_total_tokens=32_768)
        service = ChatService(
            {"m": model}, recorder, budget=FrameBudget(min_interval_s=0.04, frames_per_s=1000),
            max_message_chars=1000, max_new_tokens=100,
        )  # fmt: skip
        try:
            for kind, count in (("text only", 0), ("4 images", 4)):
                times, bodies = [], []
                for run in range(runs + 3):
                    paths = []
                    for i in range(count):
                        path = root / f"upload-{run}-{i}.jpg"
                        path.write_bytes(jpeg_like(image_kb * 1024))
                        paths.append(path)
                    took, body = await one(service, model, paths, settings)
                    if run >= 3:  # the first runs warm the imports, the engine and the page cache
                        times.append(took)
                        bodies.append(body)
                med = statistics.median(times)
                body = {
                    name: f"{statistics.median(b[name] for b in bodies):.1f} ms median (min "
                    f"{min(b[name] for b in bodies):.1f}, max {max(b[name] for b in bodies):.1f})"
                    for name in ENCODERS
                }
                print(
                    f"{kind:>10}: app {med:6.1f} ms median (min {min(times):.1f}, max {max(times):.1f}); request body "
                    f"(data URLs + JSON) by json {body['json']}, by orjson {body['orjson']}; {runs} runs"
                )
                if count == 0:
                    baseline = med
                else:
                    print(f"4 × {image_kb} KB images add {med - baseline:.1f} ms of app time (median), body aside")
        finally:
            recorder.close()
            store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--image-kb", type=int, default=1500)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.image_kb))
