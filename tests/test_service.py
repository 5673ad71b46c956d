"""ChatService over the real adapter, the fake TGI and a real DuckDB file: pacing, timing, recording."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from inference.pacing import FrameBudget
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.tgi import TgiGenerator
from inference.turns import NewMessage
from inference.types import GenerationParams
from storage.writer import WriteBehindRecorder
from tests.support.fake_tgi import Behaviour, FakeTgi


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """One store is enough here: the service's behaviour does not depend on which (tests/test_store.py covers both)."""
    return f"duckdb:///{tmp_path / 'service.duckdb'}"


def service_for(fake: FakeTgi, recorder: WriteBehindRecorder, budget: FrameBudget) -> ChatService:
    generator = TgiGenerator(
        base_url=fake.url, request_timeout_s=5, connect_timeout_s=1, max_connections=200, info_ttl_s=60
    )
    return ChatService({"default": generator}, recorder, budget=budget, max_message_chars=1000, max_new_tokens=1000)


async def reply(service: ChatService, message: str = "hi") -> list[tuple[float, ReplyFrame]]:
    frames = service.stream_reply(NewMessage(message), user_id=uuid.uuid4(), params=GenerationParams())
    return [(time.monotonic(), frame) async for frame in frames]


def test_budget_interval_grows_with_active_streams() -> None:
    budget = FrameBudget(min_interval_s=0.04, frames_per_s=250)
    assert budget.interval_s() == 0.04
    with budget.stream():
        assert budget.interval_s() == 0.04
        budget.active = 128
        assert budget.interval_s() == pytest.approx(128 / 250)


def test_tokens_are_coalesced_but_the_first_one_goes_out_at_once(
    fake_tgi: FakeTgi, recorder: WriteBehindRecorder
) -> None:
    fake_tgi.next(Behaviour(tokens=300, token_interval_s=0.002, first_token_delay_s=0.2))
    service = service_for(fake_tgi, recorder, FrameBudget(min_interval_s=0.04, frames_per_s=250))
    frames = asyncio.run(reply(service))
    phases = [f.phase for _, f in frames]
    assert phases[0] == "waiting" and phases[-1] == "complete"
    generating = [(t, f) for t, f in frames if f.phase == "generating"]
    assert 3 <= len(generating) <= 0.6 / 0.04 + 4, len(generating)
    final = frames[-1][1]
    assert final.text == "".join(Behaviour(tokens=300).reply_tokens())
    assert final.metrics is not None and final.metrics.output_tokens == 300
    first_frame_at = generating[0][1].elapsed_s * 1000
    assert first_frame_at - (final.metrics.time_to_first_token_ms or 0) < 15, "first token was held back"
    assert generating[0][1].text.startswith("w0")


def test_concurrent_streams_share_the_frame_budget(fake_tgi: FakeTgi, recorder: WriteBehindRecorder) -> None:
    fake_tgi.default = Behaviour(tokens=100, token_interval_s=0.01)
    service = service_for(fake_tgi, recorder, FrameBudget(min_interval_s=0.04, frames_per_s=100))

    async def many() -> list[list[tuple[float, ReplyFrame]]]:
        return await asyncio.gather(*(reply(service) for _ in range(40)))

    results = asyncio.run(many())
    total_generating = sum(1 for frames in results for _, f in frames if f.phase == "generating")
    # 40 streams of ~1 s at 100 frames/s for the whole process: about 100 frames, not 40 × 25.
    assert total_generating <= 250, total_generating
    assert all(frames[-1][1].phase == "complete" for frames in results)


def test_metrics_use_the_servers_usage_count(fake_tgi: FakeTgi, recorder: WriteBehindRecorder) -> None:
    fake_tgi.next(Behaviour(reply="one two three four", finish_reason="stop", token_interval_s=0.05))
    service = service_for(fake_tgi, recorder, FrameBudget(min_interval_s=0.04, frames_per_s=250))
    metrics = asyncio.run(reply(service))[-1][1].metrics
    assert metrics is not None
    assert (metrics.output_tokens, metrics.prompt_tokens, metrics.finish_reason) == (4, 4, "stop")
    assert metrics.tokens_per_s == pytest.approx(20, rel=0.25)
    assert metrics.queue_wait_ms < (metrics.time_to_first_token_ms or 0) <= metrics.duration_ms
