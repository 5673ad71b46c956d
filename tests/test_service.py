"""ChatService on a real DuckDB file: over the in-process fake model (stop, errors, exact timings from a fake clock)
and over the real adapter and the HTTP fake TGI (pacing of real streams)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import event, select

import errors
from inference.pacing import FrameBudget
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.tgi import TgiGenerator
from inference.turns import NewMessage
from inference.types import ChatMessage, GenerationParams, Origin, TokenChunk
from storage.schema import Generation, Message
from storage.store import Store
from storage.writer import StorageFailed, WriteBehindRecorder
from tests.support.fake_model import HANG, FakeClock, FakeModel
from tests.support.fake_tgi import Behaviour, FakeTgi

PARAMS = GenerationParams()


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
    assert generating[0][1].text.startswith("w0")  # at once: test_the_first_token_goes_out_at_once_and_...


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
    assert metrics.queue_wait_ms < (metrics.time_to_first_token_ms or 0) <= metrics.duration_ms


# --- over the in-process fake model ----------------------------------------------------------------------------


def service_over(model: FakeModel, recorder: WriteBehindRecorder, *, early_start: bool = True) -> ChatService:
    budget = FrameBudget(min_interval_s=0.04, frames_per_s=250)
    return ChatService(
        {"default": model}, recorder, budget=budget, max_message_chars=1000, max_new_tokens=1000,
        early_start=early_start,
    )  # fmt: skip


def stream_of(service: ChatService, user_id: uuid.UUID, message: str) -> AsyncIterator[ReplyFrame]:
    return service.stream_reply(NewMessage(message), user_id=user_id, params=GenerationParams())


def read_turn(service: ChatService, user_id: uuid.UUID, message: str) -> list[ReplyFrame]:
    """Every frame of one turn, read to the end."""

    async def read() -> list[ReplyFrame]:
        return [frame async for frame in stream_of(service, user_id, message)]

    return asyncio.run(read())


def stored(store: Store, recorder: WriteBehindRecorder, frame: ReplyFrame, user_id: uuid.UUID) -> list[tuple[str, ...]]:
    """The conversation's messages once the writer has committed: (role, content, status)."""
    recorder.barrier().result(timeout=10)
    view = store.load_conversation(frame.conversation_id, user_id)
    assert view is not None
    return [(m.role, m.content, m.status) for m in view.messages]


def test_stop_mid_stream_closes_the_model_stream_and_keeps_the_partial_reply(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue("Once", " upon", " a", HANG)
    service, user = service_over(model, recorder), uuid.uuid4()

    async def stop_once_on_screen() -> list[ReplyFrame]:
        frames: list[ReplyFrame] = []
        on_screen = asyncio.Event()

        async def page() -> None:
            async for frame in stream_of(service, user, "Tell me a story"):
                frames.append(frame)
                if frame.text == "Once upon a":
                    on_screen.set()

        showing = asyncio.create_task(page())
        await asyncio.wait_for(on_screen.wait(), 10)
        showing.cancel()  # Stop: Gradio cancels the event's task
        with contextlib.suppress(asyncio.CancelledError):
            await showing
        await asyncio.wait_for(model.calls[0].ended.wait(), 10)
        return frames

    frames = asyncio.run(stop_once_on_screen())
    [call] = model.calls
    assert call.closed and call.yielded == 3
    assert stored(store, recorder, frames[0], user) == [
        ("user", "Tell me a story", "complete"),
        ("assistant", "Once upon a", "stopped"),
    ]


def test_an_error_mid_stream_keeps_the_partial_reply_and_says_what_failed(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    failure = errors.GenerationFailed(detail="CUDA out of memory")
    model.queue("Partly", " done", failure)
    service, user = service_over(model, recorder), uuid.uuid4()

    final = read_turn(service, user, "Try")[-1]
    assert (final.phase, final.text, final.error) == ("error", "Partly done", failure)
    assert final.metrics is not None and final.metrics.output_tokens == 2
    assert stored(store, recorder, final, user) == [("user", "Try", "complete"), ("assistant", "Partly done", "error")]
    with store.sessions() as session:
        [generation] = session.query(Generation).all()
    assert (generation.status, generation.error_type, generation.output_tokens) == ("error", "generation", 2)


def test_metrics_come_from_the_monotonic_clock_and_the_first_token_goes_out_at_once(
    store: Store, recorder: WriteBehindRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five tokens, the first 20 ms after the request (sooner than the 40 ms frame interval), then one per 100 ms:
    exact numbers from a clock that moves only with the model's delays (the commit before the request takes none:
    the request waits for it here, as the fake clock's model would otherwise end within the real commit)."""
    clock = FakeClock().install(monkeypatch)
    model = FakeModel(clock=clock)
    model.queue("a", " b", " c", " d", " e", TokenChunk(finish_reason="stop"), first_delay_s=0.02, interval_s=0.1)
    service, user = service_over(model, recorder, early_start=False), uuid.uuid4()

    frames = read_turn(service, user, "Count")
    metrics = frames[-1].metrics
    assert metrics is not None
    assert (metrics.output_tokens, metrics.finish_reason, metrics.queue_wait_ms) == (5, "stop", 0)
    assert metrics.time_to_first_token_ms == pytest.approx(20)
    assert metrics.tokens_per_s == pytest.approx(4 / 0.4)  # the tokens after the first, over 400 ms
    assert metrics.duration_ms == pytest.approx(520)  # through the finish chunk, 100 ms after the last token
    shown = [frame for frame in frames if frame.phase == "generating"]
    assert shown and (shown[0].text, shown[0].elapsed_s) == ("a", pytest.approx(0.02)), "the first token was held"
    recorder.barrier().result(timeout=10)
    with store.sessions() as session:
        [generation] = session.query(Generation).all()
    stored_ms = (generation.time_to_first_token_ms, generation.duration_ms, generation.tokens_per_s)
    assert stored_ms == pytest.approx((20, 520, 10), rel=1e-6)  # the same numbers, in 32-bit floats


def test_the_servers_usage_count_wins_over_the_chunks_counted(store: Store, recorder: WriteBehindRecorder) -> None:
    model = FakeModel()
    model.queue("one", " two", TokenChunk(finish_reason="stop"), TokenChunk(prompt_tokens=7, completion_tokens=3))
    service, user = service_over(model, recorder), uuid.uuid4()

    metrics = read_turn(service, user, "Say two words")[-1].metrics
    assert metrics is not None
    assert (metrics.output_tokens, metrics.prompt_tokens, metrics.finish_reason) == (3, 7, "stop")
    assert model.calls[0].messages[-1].content == "Say two words" and model.calls[0].finished


def test_turns_record_where_they_came_from_and_an_api_turn_is_not_titled(
    fake_tgi: FakeTgi, recorder: WriteBehindRecorder, store: Store
) -> None:
    generator = TgiGenerator(base_url=fake_tgi.url, request_timeout_s=5, connect_timeout_s=1, max_connections=8)
    budget = FrameBudget(min_interval_s=0.04, frames_per_s=250)
    service = ChatService(
        {"default": generator}, recorder, budget=budget, max_message_chars=1000, max_new_tokens=1000, auto_title=True
    )
    token_id = uuid.uuid4()
    earlier = (ChatMessage("user", "first secret"), ChatMessage("assistant", "noted"))

    async def both() -> tuple[ReplyFrame, ReplyFrame]:
        page = [f async for f in service.stream_reply(NewMessage("hello"), user_id=uuid.uuid4(), params=PARAMS)]
        await service.title_ready(page[-1].conversation_id, 5)
        api_turn = NewMessage("second secret", earlier=earlier)
        origin = Origin("openai_api", token_id=token_id, store_text=False)
        api = [f async for f in service.stream_reply(api_turn, user_id=uuid.uuid4(), params=PARAMS, origin=origin)]
        await recorder.flush()
        return page[-1], api[-1]

    page, api = asyncio.run(both())
    assert len(fake_tgi.streams) == 3, "the page's reply, its title, the API's reply (not titled)"
    assert [m["content"] for m in fake_tgi.streams[-1].body["messages"]] == ["first secret", "noted", "second secret"]
    with store.sessions() as session:
        rows = {g.conversation_id: g for g in session.scalars(select(Generation))}
        kept = session.scalars(select(Message.content).where(Message.conversation_id == api.conversation_id)).all()
    assert (rows[page.conversation_id].source, rows[page.conversation_id].token_id) == ("chat", None)
    assert (rows[api.conversation_id].source, rows[api.conversation_id].token_id) == ("openai_api", token_id)
    assert rows[api.conversation_id].status == "complete" and kept == ["", "", "", ""]


def test_a_default_max_tokens_is_fitted_to_a_small_window_never_refused(
    fake_tgi: FakeTgi, recorder: WriteBehindRecorder
) -> None:
    """A caller that sets no max_tokens is never refused for it: halved on a window it does not fit, lowered for a
    message that needs the room; a value the caller chose is still checked as it is."""
    fake_tgi.max_total_tokens, fake_tgi.max_input_tokens = 600, 590  # the default (1,000) does not fit at all
    service = service_for(fake_tgi, recorder, FrameBudget(min_interval_s=0.04, frames_per_s=250))
    assert asyncio.run(reply(service, "hello"))[-1][1].phase == "complete"
    assert fake_tgi.streams[-1].body["max_tokens"] == 300
    long_message = "word " * 199  # ~336 tokens at 3 characters each: more than the 300 the default leaves
    assert asyncio.run(reply(service, long_message))[-1][1].phase == "complete"
    assert 0 < fake_tgi.streams[-1].body["max_tokens"] < 300

    async def chosen() -> None:
        params = GenerationParams(max_tokens=599)
        async for _ in service.stream_reply(NewMessage("hello " * 20), user_id=uuid.uuid4(), params=params):
            pass

    with pytest.raises(errors.MessageRejected, match="lower Max new tokens"):
        asyncio.run(chosen())


class CommitGate:
    """Every commit of ``store``'s sessions waits until ``opened`` (or raises ``failure``), on the writer thread:
    SQLAlchemy's ``before_commit`` event, so the commit itself is held, after the writer has decided the turn."""

    def __init__(self, store: Store) -> None:
        self.opened = threading.Event()
        self.failure: Exception | None = None
        self.waiting = threading.Event()
        event.listen(store.sessions, "before_commit", self._hold)

    def _hold(self, session: object) -> None:
        self.waiting.set()
        self.opened.wait(timeout=10)
        if self.failure is not None:
            raise self.failure


def test_the_request_leaves_while_the_message_commits_and_the_reply_waits_for_the_commit(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue("Hello", TokenChunk(finish_reason="stop"))
    service, user = service_over(model, recorder), uuid.uuid4()
    gate = CommitGate(store)

    async def scenario() -> list[ReplyFrame]:
        frames: list[ReplyFrame] = []

        async def read() -> None:
            frames.extend([frame async for frame in stream_of(service, user, "Hi")])

        reading = asyncio.create_task(read())
        assert await asyncio.to_thread(gate.waiting.wait, 5), "the writer never reached the commit"
        await _until(lambda: bool(model.calls) and model.calls[0].finished)  # asked, and answered, meanwhile
        assert frames == [], "a frame went out before the message was committed"
        with store.sessions() as session:
            assert session.scalars(select(Message)).all() == []  # not committed yet
        gate.opened.set()
        await reading
        return frames

    frames = asyncio.run(scenario())
    assert frames[0].phase == "waiting" and (frames[-1].phase, frames[-1].text) == ("complete", "Hello")
    assert stored(store, recorder, frames[-1], user) == [("user", "Hi", "complete"), ("assistant", "Hello", "complete")]


def test_a_message_that_cannot_be_committed_closes_the_request_and_records_no_reply(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue("Never", " shown", HANG)
    service, user = service_over(model, recorder), uuid.uuid4()
    gate = CommitGate(store)
    gate.failure = RuntimeError("disk full")

    async def scenario() -> list[ReplyFrame]:
        frames: list[ReplyFrame] = []
        reading = asyncio.ensure_future(_collect(stream_of(service, user, "Hi"), frames))
        await _until(lambda: bool(model.calls) and model.calls[0].yielded == 2)
        gate.opened.set()
        with pytest.raises(StorageFailed, match="could not save this message"):
            await reading
        return frames

    assert asyncio.run(scenario()) == []  # not even the waiting frame
    [call] = model.calls
    assert call.closed, "the request to the model was left open"
    gate.failure = None
    recorder.barrier().result(timeout=10)
    with store.sessions() as session:
        assert session.scalars(select(Message)).all() == [] and session.scalars(select(Generation)).all() == []


async def _collect(frames: AsyncIterator[ReplyFrame], into: list[ReplyFrame]) -> None:
    async for frame in frames:
        into.append(frame)


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (a plain attribute of the fake, no event to wait on)
            await asyncio.sleep(0.005)
