"""Thinking models through the running app: every shape a server sends thinking in gives the same stored answer and
thinking, timed and counted right; Stop while thinking keeps the thought; the next turn sends answers only. And at
the stream boundary (``ChatService`` over the in-process model and a fake clock): the exact numbers, and titles."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from gradio_client import Client

from inference.pacing import FrameBudget
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import GenerationParams, TokenChunk
from storage.schema import Conversation, Generation, Message
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.apps import RunningApp
from tests.support.fake_model import FakeClock, FakeModel
from tests.support.fake_tgi import REASONING_SHAPES, Behaviour, FakeTgi
from tests.support.wait import wait_until

THOUGHT = "The user greets me. I should greet back, politely and briefly, and offer help."
ANSWER = "Hello! How can I help you today?"
TOKEN_INTERVAL_S = 0.01
# The separate-field shapes come from vLLM / SGLang / llama.cpp, which frame chunks the OpenAI way.
FLAVOUR = {"reasoning": "vllm", "reasoning_content": "llama"}


def thinking_reply(shape: str, **changes: object) -> Behaviour:
    return Behaviour(
        reply=ANSWER, thinking=THOUGHT, reasoning_shape=shape, flavour=FLAVOUR.get(shape, "tgi"),
        token_interval_s=TOKEN_INTERVAL_S, finish_reason="stop", **changes,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Client:
    return Client(app.url, verbose=False)


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_each_reasoning_shape_gives_the_same_stored_answer_thinking_timing_and_counts(
    client: Client, app: RunningApp, fake_tgi: FakeTgi, shape: str
) -> None:
    behaviour = thinking_reply(shape)
    fake_tgi.next(behaviour)
    conversation_id = client.predict(api_name="/new_conversation")
    assert client.predict("hi", conversation_id, api_name="/chat") == ANSWER  # /chat: the answer only

    _question, reply = app.rows(Message, conversation_id=uuid.UUID(conversation_id))
    assert (reply.content, reply.reasoning, reply.status) == (ANSWER, THOUGHT, "complete")
    [generation] = app.rows(Generation, message_id=reply.id)
    assert generation.output_tokens == len(behaviour.pieces()), "usage.completion_tokens: thinking included"
    assert generation.reasoning_tokens == len(behaviour.thinking_tokens()), "counted: the server sent no share"
    ttft, ttfa = generation.time_to_first_token_ms, generation.time_to_first_answer_ms
    assert ttft is not None and ttfa is not None
    thought_s = (len(behaviour.thinking_tokens()) - 1) * TOKEN_INTERVAL_S
    assert ttfa - ttft >= thought_s * 1000 * 0.9, "the first token is the first thinking token"
    assert generation.thinking_ms is not None and generation.thinking_ms >= thought_s * 1000 * 0.9
    # Over the whole generation: at most the fake's pace. Over the answer alone it would be several times higher.
    assert generation.tokens_per_s is not None and generation.tokens_per_s <= 1.1 / TOKEN_INTERVAL_S


def test_reasoning_tokens_come_from_usage_when_the_server_sends_them(
    client: Client, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(thinking_reply("reasoning", usage_reasoning_tokens=99))
    conversation_id = client.predict(api_name="/new_conversation")
    client.predict("hi", conversation_id, api_name="/chat")
    _question, reply = app.rows(Message, conversation_id=uuid.UUID(conversation_id))
    [generation] = app.rows(Generation, message_id=reply.id)
    assert generation.reasoning_tokens == 99


def test_a_reply_without_thinking_stores_none(client: Client, app: RunningApp, fake_tgi: FakeTgi) -> None:
    conversation_id = client.predict(api_name="/new_conversation")
    client.predict("hi", conversation_id, api_name="/chat")
    _question, reply = app.rows(Message, conversation_id=uuid.UUID(conversation_id))
    [generation] = app.rows(Generation, message_id=reply.id)
    assert reply.reasoning is None
    assert (generation.reasoning_tokens, generation.thinking_ms) == (None, None)
    assert generation.time_to_first_answer_ms == generation.time_to_first_token_ms


def test_stop_while_thinking_keeps_the_partial_thought_as_stopped(
    client: Client, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    long_thought = " ".join(f"t{i}" for i in range(500))
    fake_tgi.next(Behaviour(reply=ANSWER, thinking=long_thought, reasoning_shape="inline", token_interval_s=0.01))
    conversation_id = client.predict(api_name="/new_conversation")
    job = client.submit("think hard", conversation_id, api_name="/chat")
    assert wait_until(lambda: bool(fake_tgi.streams) and fake_tgi.streams[0].tokens_sent >= 20)
    job.cancel()
    [stream] = fake_tgi.wait_for_streams(1, timeout_s=10)
    assert stream.client_closed, "Stop closes the upstream stream while the model thinks"

    assert wait_until(lambda: len(app.rows(Message, conversation_id=uuid.UUID(conversation_id))) == 2)
    _question, reply = app.rows(Message, conversation_id=uuid.UUID(conversation_id))
    assert (reply.status, reply.content) == ("stopped", "")
    assert reply.reasoning and long_thought.startswith(reply.reasoning) and len(reply.reasoning) < len(long_thought)
    [generation] = app.rows(Generation, message_id=reply.id)
    assert generation.status == "stopped"
    assert generation.time_to_first_token_ms is not None and generation.time_to_first_answer_ms is None
    assert generation.reasoning_tokens and generation.reasoning_tokens >= 19


@pytest.mark.parametrize("shape", ["inline", "reasoning"])
def test_the_next_turn_sends_earlier_answers_without_their_thinking(
    client: Client, fake_tgi: FakeTgi, shape: str
) -> None:
    fake_tgi.next(thinking_reply(shape))
    conversation_id = client.predict(api_name="/new_conversation")
    client.predict("hi", conversation_id, api_name="/chat")
    client.predict("and then?", conversation_id, api_name="/chat")
    sent = fake_tgi.streams[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("user", "hi"), ("assistant", ANSWER), ("user", "and then?")]
    raw = json.dumps(fake_tgi.streams[-1].body)
    assert "think" not in raw and "greet back" not in raw


@pytest.mark.parametrize("shape", ["inline", "inline_opened", "reasoning_content"])
def test_api_callers_get_the_thinking_when_they_ask(client: Client, fake_tgi: FakeTgi, shape: str) -> None:
    fake_tgi.next(thinking_reply(shape))
    job = client.submit("hi", "", thinking=True, api_name="/chat")
    final = job.result(timeout=30)
    assert final == f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"
    if shape != "inline_opened":  # there, the thought shows as answer until its closing tag arrives
        assert all(update.startswith("<think>\n") for update in job.outputs()), "the thought streams as it comes"


def test_thinking_is_timed_exactly_at_the_stream_boundary(
    store: Store, recorder: WriteBehindRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three thinking chunks in a field, then three answer chunks, 100 ms apart after a 20 ms first token: exact
    numbers from a clock that moves only with the model's delays (the request waits for the message's commit, else
    the fake clock's model would end within the real commit, before any frame)."""
    clock = FakeClock().install(monkeypatch)
    model = FakeModel(clock=clock)
    model.queue(
        TokenChunk(reasoning="Let"), TokenChunk(reasoning=" me"), TokenChunk(reasoning=" see."),
        "Paris", " it", " is.", TokenChunk(finish_reason="stop", completion_tokens=6),
        first_delay_s=0.02, interval_s=0.1,
    )  # fmt: skip
    service = ChatService(
        {"default": model}, recorder, budget=FrameBudget(min_interval_s=0.04, frames_per_s=250),
        max_message_chars=1000, max_new_tokens=1000, early_start=False,
    )  # fmt: skip

    async def read() -> list[ReplyFrame]:
        turn = NewMessage("Capital of France?")
        return [f async for f in service.stream_reply(turn, user_id=uuid.uuid4(), params=GenerationParams())]

    frames = asyncio.run(read())
    final = frames[-1]
    metrics = final.metrics
    assert metrics is not None
    assert (final.text, final.thinking) == ("Paris it is.", "Let me see.")
    assert metrics.time_to_first_token_ms == pytest.approx(20)
    assert metrics.time_to_first_answer_ms == pytest.approx(320)
    assert metrics.thinking_ms == pytest.approx(300)
    assert final.thinking_s == pytest.approx(0.3)
    assert (metrics.output_tokens, metrics.reasoning_tokens) == (6, 3)
    assert metrics.tokens_per_s == pytest.approx(5 / 0.5)  # the whole generation: first thinking to last answer
    phases = [f.phase for f in frames]
    assert phases[0] == "waiting" and "thinking" in phases and phases[-1] == "complete"
    assert phases.index("thinking") < phases.index("generating")
    thinking_frames = [f for f in frames if f.phase == "thinking"]
    assert all(f.text == "" and f.thinking for f in thinking_frames), "thinking frames show no answer"
    recorder.barrier().result(timeout=10)
    with store.sessions() as session:
        [generation] = session.query(Generation).all()
        [reply] = session.query(Message).filter_by(role="assistant").all()
    assert (reply.content, reply.reasoning) == ("Paris it is.", "Let me see.")
    stored = (generation.time_to_first_token_ms, generation.time_to_first_answer_ms, generation.thinking_ms)
    assert stored == pytest.approx((20, 320, 300), rel=1e-6)
    assert generation.reasoning_tokens == 3


def test_an_automatic_title_comes_from_the_answer_not_the_thinking(store: Store, recorder: WriteBehindRecorder) -> None:
    model = FakeModel()
    model.queue("Hi", TokenChunk(finish_reason="stop"))  # the reply
    model.queue("<think>", "The user wants", "</think>", "\n\n", "Greek Letters", TokenChunk(finish_reason="length"))
    service = ChatService(
        {"default": model}, recorder, budget=FrameBudget(min_interval_s=0.04, frames_per_s=250),
        max_message_chars=1000, max_new_tokens=1000, auto_title=True,
    )  # fmt: skip
    user = uuid.uuid4()

    async def run() -> uuid.UUID:
        frames = [f async for f in service.stream_reply(NewMessage("Alpha?"), user_id=user, params=GenerationParams())]
        await service.title_ready(frames[-1].conversation_id, 5)
        return frames[-1].conversation_id

    cid = asyncio.run(run())
    recorder.barrier().result(timeout=10)
    with store.sessions() as session:
        assert [c.title for c in session.query(Conversation).filter_by(id=cid)] == ["Greek Letters"]


def test_thinking_switches_are_sent_only_when_set(client: Client, fake_tgi: FakeTgi) -> None:
    client.predict("hi", "", api_name="/chat")
    default = fake_tgi.streams[-1].body
    assert "chat_template_kwargs" not in default and "reasoning_effort" not in default

    client.predict("hi", "", enable_thinking=False, reasoning_effort="low", api_name="/chat")
    body = fake_tgi.streams[-1].body
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}
    assert body["reasoning_effort"] == "low"


def test_a_server_that_does_not_know_the_thinking_switch_gets_a_clear_refusal(
    client: Client, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(refuses_fields=("chat_template_kwargs",)))
    with pytest.raises(Exception, match="set Thinking and Reasoning effort to Default"):
        client.predict("hi", "", enable_thinking=True, api_name="/chat")
    with pytest.raises(Exception, match="Reasoning effort is low, medium or high"):
        client.predict("hi", "", reasoning_effort="extreme", api_name="/chat")


def test_an_empty_thought_is_no_thinking(store: Store, recorder: WriteBehindRecorder) -> None:
    """Qwen3 with thinking turned off still sends an empty block: the reply did not think."""
    model = FakeModel()
    model.queue("<think>", "\n\n", "</think>", "\n\n", "Paris.", TokenChunk(finish_reason="stop"))
    service = ChatService(
        {"default": model}, recorder, budget=FrameBudget(min_interval_s=0.04, frames_per_s=250),
        max_message_chars=1000, max_new_tokens=1000,
    )  # fmt: skip

    async def read() -> ReplyFrame:
        turn = NewMessage("Capital of France?")
        return [f async for f in service.stream_reply(turn, user_id=uuid.uuid4(), params=GenerationParams())][-1]

    final = asyncio.run(read())
    assert final.text == "Paris." and final.metrics is not None
    assert (final.metrics.reasoning_tokens, final.metrics.thinking_ms, final.thinking_s) == (None, None, None)
