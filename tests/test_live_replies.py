"""Replies that outlive their page (issue 20, reattach), below the page: ``LiveReplies`` over the real
``ChatService``, the in-process fake model and a real DuckDB file. A follower that leaves leaves the reply running;
a second follower gets the text so far, then the rest; nobody following stops it after the grace (or at once past
the per-user cap, or with no grace); Stop from any follower ends it for all, saved as stopped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from inference.live import LiveReplies, LiveReply
from inference.pacing import FrameBudget
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import GenerationParams, TokenChunk
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.fake_model import HANG, FakeModel

WORDS = [f"w{i} " for i in range(10)]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'live.duckdb'}"


def service_over(model: FakeModel, recorder: WriteBehindRecorder) -> ChatService:
    budget = FrameBudget(min_interval_s=0.01, frames_per_s=1000)
    return ChatService({"default": model}, recorder, budget=budget, max_message_chars=1000, max_new_tokens=1000)


def start(live: LiveReplies, service: ChatService, user: uuid.UUID, text: str = "Hi", session: str = "s1") -> LiveReply:
    frames = service.stream_reply(NewMessage(text), user_id=user, params=GenerationParams())
    return live.start(frames, user_id=user, session=session)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 (plain attributes, no event to wait on)
            await asyncio.sleep(0.01)


def stored_reply(store: Store, recorder: WriteBehindRecorder, live: LiveReply, user: uuid.UUID) -> tuple[str, str]:
    recorder.barrier().result(timeout=10)
    assert live.conversation_id is not None
    view = store.load_conversation(live.conversation_id, user)
    assert view is not None
    [reply] = [m for m in view.messages if m.role == "assistant"]
    return reply.content, reply.status


def test_a_follower_that_leaves_leaves_the_reply_running_and_a_second_one_gets_the_text_so_far(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue(*WORDS, TokenChunk(finish_reason="stop"), interval_s=0.05)
    service, user, live = service_over(model, recorder), uuid.uuid4(), LiveReplies(keep_unwatched_s=30)

    async def scenario() -> tuple[list[ReplyFrame], LiveReply]:
        reply = start(live, service, user)
        first = live.follow(reply, session="tab-1")
        async for frame in first:
            if frame.text.count("w") >= 3:
                break  # the tab closes mid-reply
        await first.aclose()
        assert reply.watchers == 0 and not reply.done
        await asyncio.sleep(0.12)
        assert live.of_conversation(reply.conversation_id, user) is reply
        assert live.of_conversation(reply.conversation_id, uuid.uuid4()) is None  # another user's is not found
        frames = [frame async for frame in live.follow(reply, session="tab-2")]
        assert reply.done and live.running == 0
        return frames, reply

    frames, reply = asyncio.run(scenario())
    assert frames[0].text.count("w") >= 4, "the second follower did not start with the text so far"
    assert frames[-1].phase == "complete" and frames[-1].text == "".join(WORDS)
    assert model.calls[0].finished and not model.calls[0].closed
    assert stored_reply(store, recorder, reply, user) == ("".join(WORDS), "complete")


def test_nobody_following_stops_the_reply_after_the_grace_and_it_is_saved_stopped(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue("Half", " a reply", HANG)
    service, user, live = service_over(model, recorder), uuid.uuid4(), LiveReplies(keep_unwatched_s=0.3)

    async def scenario() -> LiveReply:
        reply = start(live, service, user)
        follower = live.follow(reply, session="tab")
        async for frame in follower:
            if frame.text == "Half a reply":
                break
        await follower.aclose()
        await asyncio.sleep(0.15)
        assert not reply.done, "stopped before the grace"
        await until(lambda: reply.done)
        return reply

    reply = asyncio.run(scenario())
    assert model.calls[0].closed
    assert stored_reply(store, recorder, reply, user) == ("Half a reply", "stopped")


@pytest.mark.parametrize("keep_s, cap", [(0.0, 2), (30.0, 0)])
def test_without_a_grace_or_past_the_cap_a_reply_nobody_follows_stops_at_once(
    store: Store, recorder: WriteBehindRecorder, keep_s: float, cap: int
) -> None:
    model = FakeModel()
    model.queue("Half", HANG)
    service, user = service_over(model, recorder), uuid.uuid4()
    live = LiveReplies(keep_unwatched_s=keep_s, max_unwatched_per_user=cap)

    async def scenario() -> LiveReply:
        reply = start(live, service, user)
        follower = live.follow(reply)
        async for frame in follower:
            if frame.text:
                break
        await follower.aclose()
        await until(lambda: reply.done, timeout_s=2)
        return reply

    reply = asyncio.run(scenario())
    assert stored_reply(store, recorder, reply, user) == ("Half", "stopped")


def test_stop_from_any_follower_ends_it_for_every_follower_as_stopped(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue("Long", " story", HANG)
    service, user, live = service_over(model, recorder), uuid.uuid4(), LiveReplies()

    async def scenario() -> tuple[list[ReplyFrame], list[ReplyFrame], LiveReply]:
        reply = start(live, service, user, session="tab-1")
        seen: dict[str, list[ReplyFrame]] = {"tab-1": [], "tab-2": []}

        async def watch(tab: str) -> None:
            async for frame in live.follow(reply, session=tab):
                seen[tab].append(frame)

        watchers = [asyncio.create_task(watch(tab)) for tab in seen]
        await until(lambda: all(frames and frames[-1].text == "Long story" for frames in seen.values()))
        assert set(reply.following) == {"tab-1", "tab-2"}
        assert not live.stop(uuid.uuid4(), conversation_id=reply.conversation_id), "another user stopped it"
        assert live.stop(user, conversation_id=reply.conversation_id)  # from tab 2
        await asyncio.gather(*watchers)
        return seen["tab-1"], seen["tab-2"], reply

    first, second, reply = asyncio.run(scenario())
    assert first[-1].phase == second[-1].phase == "stopped" and first[-1].text == "Long story"
    assert stored_reply(store, recorder, reply, user) == ("Long story", "stopped")


def test_a_new_chat_stopped_before_its_first_frame_is_found_by_the_page_that_started_it(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    model = FakeModel()
    model.queue(HANG)
    service, user, live = service_over(model, recorder), uuid.uuid4(), LiveReplies()

    async def scenario() -> LiveReply:
        reply = start(live, service, user, session="page")
        await until(lambda: bool(model.calls))
        assert not live.stop(user, session="another page")
        assert live.stop(user, session="page")
        await until(lambda: reply.done)
        return reply

    asyncio.run(scenario())
    assert model.calls[0].closed
