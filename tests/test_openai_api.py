"""The OpenAI-compatible API (``/v1``) driven by the official ``openai`` SDK and by raw HTTP, against the launched
app and the fake TGI (a real HTTP server), recorded in a real DuckDB file."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from settings import ModelServer
from storage.schema import Conversation, Generation, Message
from tests.support.apps import Launch, RunningApp
from tests.support.config import make_settings
from tests.support.fake_tgi import REASONING_SHAPES, Behaviour, FakeTgi, free_port
from tests.support.openai_sdk import openai_client
from tests.support.wait import wait_until

HELLO = [{"role": "user", "content": "hello"}]
EXPECTED = "".join(Behaviour().reply_tokens())  # the fake's default reply: 12 tokens, ends on length


def sdk(app: RunningApp, api_key: str = "none", **options: Any) -> openai.OpenAI:
    return openai_client(f"{app.url}/v1", api_key, **options)


def new_token(app: RunningApp, user_id: uuid.UUID | None = None) -> tuple[uuid.UUID, str]:
    owner = user_id or uuid.uuid4()
    return owner, asyncio.run(app.chatlens.tokens.create(owner, "test"))


def generations_of(app: RunningApp, conversation_id: uuid.UUID) -> list[Generation]:
    return app.rows(Generation, conversation_id=conversation_id)


def last_generation(app: RunningApp) -> Generation:
    return app.last(Generation)


def assert_openai_shaped(body: dict[str, Any]) -> None:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["type"], str) and error["type"], body
    assert "code" in error, body


def test_streaming_text_is_exact_with_usage_and_recorded_as_openai_api(app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=40, token_interval_s=0.01))
    owner, token = new_token(app)
    stream = sdk(app, token).chat.completions.create(
        model="default",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    expected = "".join(Behaviour(tokens=40).reply_tokens())
    assert text == expected
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices
    assert usage.completion_tokens == 40 and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + 40

    sent = fake_tgi.streams[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Answer briefly."),
        ("user", "first"),
        ("assistant", "an answer"),
        ("user", "second"),
    ]
    generation = last_generation(app)
    assert (generation.source, generation.status, generation.output_tokens) == ("openai_api", "complete", 40)
    assert generation.user_id == owner and generation.token_id is not None
    assert 0 < generation.time_to_first_token_ms <= generation.duration_ms
    messages = app.rows(Message, conversation_id=generation.conversation_id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "first", "complete"),
        ("assistant", "an answer", "complete"),
        ("user", "second", "complete"),
        ("assistant", expected, "complete"),
    ]
    [conversation] = app.rows(Conversation, id=generation.conversation_id)
    assert conversation.user_id == owner and conversation.system_prompt == "Answer briefly."


def test_non_streaming_returns_one_completion_with_usage(app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply="Paris is the capital.", finish_reason="stop"))
    completion = sdk(app).chat.completions.create(
        model="default", messages=HELLO, temperature=0.2, top_p=0.9, max_completion_tokens=50, seed=7, stop=["\n\n"]
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Paris is the capital."
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    body = fake_tgi.streams[-1].body
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["stop"]) == (
        0.2, 0.9, 50, 7, ["\n\n"]
    )  # fmt: skip
    generation = last_generation(app)
    assert (generation.source, generation.token_id, generation.status) == ("openai_api", None, "complete")


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_thinking_is_passed_through_as_reasoning_content_and_reasoning(
    app: RunningApp, fake_tgi: FakeTgi, shape: str
) -> None:
    """Whatever shape the server thinks in (its reasoning fields or inline tags), an OpenAI client gets the thought
    as ``reasoning_content`` and ``reasoning`` apart from ``content``, streamed and whole, and its token share."""
    thought, answer = "Paris is in France; its capital is Paris.", "Paris."
    flavour = {"reasoning": "vllm", "reasoning_content": "llama"}.get(shape, "tgi")
    behaviour = Behaviour(
        reply=answer, thinking=thought, reasoning_shape=shape, flavour=flavour, finish_reason="stop",
        token_interval_s=0.005,
    )  # fmt: skip
    fake_tgi.next(behaviour)
    chunks = list(sdk(app).chat.completions.create(model="default", messages=HELLO, stream=True))
    deltas = [c.choices[0].delta.model_dump() for c in chunks if c.choices]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == thought
    assert "".join(d.get("reasoning") or "" for d in deltas) == thought
    if shape != "inline_opened":  # see below
        assert "".join(d.get("content") or "" for d in deltas) == answer
        first_thought = next(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
        first_answer = next(i for i, d in enumerate(deltas) if d.get("content"))
        assert first_thought < first_answer  # the thought streams before the answer, not after it
    # A template that opened <think> itself (only </think> streams): until the closing tag, nothing tells thinking
    # from answer, and what went out as content cannot be taken back (docs/api.md) — the whole reply below is right.

    fake_tgi.next(behaviour)
    completion = sdk(app).chat.completions.create(model="default", messages=HELLO)
    message = completion.choices[0].message.model_dump()
    assert (message["content"], message["reasoning_content"], message["reasoning"]) == (answer, thought, thought)
    assert completion.usage is not None and completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == len(behaviour.thinking_tokens())


def test_model_is_optional_in_raw_http_and_models_lists_the_servers_with_their_limits(
    app: RunningApp, fake_tgi: FakeTgi
) -> None:
    [model] = sdk(app).models.list().data
    assert model.id == "default"
    extra = model.model_dump()
    assert extra["context_length"] == fake_tgi.max_total_tokens
    assert extra["model_id"] == fake_tgi.model_id
    response = httpx.post(f"{app.url}/v1/chat/completions", json={"messages": HELLO}, timeout=20)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == EXPECTED


def test_raw_sse_framing(app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=20, token_interval_s=0.01))
    body = {"messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{app.url}/v1/chat/completions", json=body, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert raw.endswith("data: [DONE]\n\n")
    events = raw.split("\n\n")
    assert events[-1] == ""
    payloads = [event.removeprefix("data: ") for event in events[:-1]]
    assert all(event.startswith("data: ") and "\n" not in event for event in events[:-1]), raw
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "".join(Behaviour(tokens=20).reply_tokens())
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 20


def test_refusals_map_to_the_sdk_exceptions_and_store_nothing(app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = sdk(app)
    before = app.count(Generation), app.count(Message)
    cases: list[tuple[type[openai.APIStatusError], int, dict[str, Any]]] = [
        (openai.NotFoundError, 404, {"model": "gpt-4o", "messages": HELLO}),
        (openai.BadRequestError, 400, {"model": "default", "messages": HELLO, "temperature": -1}),
        (openai.BadRequestError, 400, {"model": "default", "messages": [{"role": "assistant", "content": "hi"}]}),
        (openai.BadRequestError, 400, {"model": "default", "messages": HELLO, "n": 2}),
        (openai.BadRequestError, 400, {"model": "default", "messages": []}),
        (openai.BadRequestError, 400, {"model": "default", "messages": [{"role": "user", "content": "x" * 100_001}]}),
    ]
    for exception, status, body in cases:
        with pytest.raises(exception) as raised:
            client.chat.completions.create(**body)
        assert raised.value.status_code == status
        assert_openai_shaped(raised.value.response.json())
    assert (app.count(Generation), app.count(Message)) == before
    assert not fake_tgi.streams, "a refusal reached the model server"
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert raised.value.code == "model_not_found"


def test_a_bad_or_revoked_token_is_refused_401_in_openai_shape(app: RunningApp, fake_tgi: FakeTgi) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        sdk(app, "chatlens_not-a-token").chat.completions.create(model="default", messages=HELLO)
    assert_openai_shaped(raised.value.response.json())
    owner, token = new_token(app)
    client = sdk(app, token)
    assert client.chat.completions.create(model="default", messages=HELLO).choices[0].message.content == EXPECTED
    [view] = app.chatlens.tokens.list(owner)
    assert last_generation(app).token_id == view.id
    asyncio.run(app.chatlens.tokens.revoke(owner, view.id))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="default", messages=HELLO)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_metrics_counters_carry_the_source(app: RunningApp, fake_tgi: FakeTgi) -> None:
    def replies() -> float:
        text = httpx.get(f"{app.url}/metrics", timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "chatlens_replies_total" and sample.labels.get("source") == "openai_api"
        )

    before = replies()
    sdk(app).chat.completions.create(model="default", messages=HELLO)
    assert replies() == before + 1


def test_a_token_acts_as_its_owner_and_another_users_token_sees_none_of_it(app: RunningApp) -> None:
    alice, alice_token = new_token(app)
    bob, bob_token = new_token(app)
    sdk(app, alice_token).chat.completions.create(model="default", messages=HELLO)
    sdk(app, bob_token).chat.completions.create(model="default", messages=HELLO)
    alice_rows = app.rows(Generation, user_id=alice)
    bob_rows = app.rows(Generation, user_id=bob)
    assert len(alice_rows) == len(bob_rows) == 1
    assert alice_rows[0].conversation_id != bob_rows[0].conversation_id
    assert [c.user_id for c in app.rows(Conversation, id=alice_rows[0].conversation_id)] == [alice]
    identity = app.chatlens.identities.from_headers({"authorization": f"Bearer {bob_token}"})
    assert identity is not None and identity.user_id == bob and not identity.is_admin


def test_metrics_only_keeps_the_numbers_and_no_text(app: RunningApp) -> None:
    client = sdk(app, default_headers={"X-ChatLens-Store": "metrics-only"})
    reply = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "a secret"}, {"role": "assistant", "content": "ok"},
                                   {"role": "user", "content": "another secret"}]
    )  # fmt: skip
    assert reply.choices[0].message.content == EXPECTED
    generation = last_generation(app)
    assert (generation.source, generation.status, generation.output_tokens) == ("openai_api", "complete", 12)
    messages = app.rows(Message, conversation_id=generation.conversation_id)
    assert [(m.role, m.content) for m in messages] == [("user", ""), ("assistant", ""), ("user", ""), ("assistant", "")]
    [conversation] = app.rows(Conversation, id=generation.conversation_id)
    assert conversation.title == ""


def test_a_failure_mid_stream_ends_the_stream_with_an_error_event(app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=10, error_after=3, token_interval_s=0.05))
    stream = sdk(app).chat.completions.create(model="default", messages=HELLO, stream=True)
    received = ""
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert received == "w0 w1 w2"
    assert "failed" in str(raised.value.message).lower()
    generation = last_generation(app)
    assert (generation.source, generation.status, generation.error_type) == ("openai_api", "error", "generation")


def test_model_server_failures_before_the_first_token_get_their_own_status(app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = sdk(app)
    fake_tgi.next(Behaviour(http_status=503, http_error="Model is loading", http_error_type="unhealthy"))
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="default", messages=HELLO, stream=True)
    assert raised.value.status_code == 503
    assert_openai_shaped(raised.value.response.json())
    fake_tgi.next(Behaviour(http_status=429))
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="default", messages=HELLO)
    assert raised.value.status_code == 503  # the model server is overloaded: 429 is kept for ChatLens's own limits
    assert last_generation(app).error_type == "overloaded"


def test_unreachable_and_slow_model_servers_are_502_and_504(launch: Launch, tmp_path: Any) -> None:
    slow = FakeTgi(default=Behaviour(first_token_delay_s=5)).start()
    try:
        app = launch(
            make_settings(
                tmp_path,
                models=[
                    ModelServer(name="slow", url=slow.url),
                    ModelServer(name="gone", url=f"http://127.0.0.1:{free_port()}"),
                ],
                request_timeout_s=1,
                connect_timeout_s=1,
                info_ttl_s=0,
            )
        )
        client = sdk(app)
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="gone", messages=HELLO)
        assert raised.value.status_code == 502
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="slow", messages=HELLO, stream=True)
        assert raised.value.status_code == 504
        assert_openai_shaped(raised.value.response.json())
        assert [(g.status, g.error_type) for g in app.rows(Generation)] == [
            ("error", "unreachable"),
            ("error", "timeout"),
        ]
    finally:
        slow.stop()


def test_rate_limits_count_per_token_owner_and_answer_429_with_retry_after(
    launch: Launch, tmp_path: Any, fake_tgi: FakeTgi
) -> None:
    app = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, rate_limit_user_per_min=2, rate_limit_ip_per_min=0))
    _, token = new_token(app)
    client = sdk(app, token)
    with pytest.raises(openai.BadRequestError):  # refused for its body: not counted against the caller
        client.chat.completions.create(model="default", messages=HELLO, temperature=-1)
    for _ in range(2):
        client.chat.completions.create(model="default", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="default", messages=HELLO)
    retry_after = int(raised.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert_openai_shaped(raised.value.response.json())
    assert app.count(Generation) == 2


def test_api_require_token_refuses_anonymous_callers(launch: Launch, tmp_path: Any, fake_tgi: FakeTgi) -> None:
    app = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, api_require_token=True))
    with pytest.raises(openai.AuthenticationError) as raised:
        sdk(app).chat.completions.create(model="default", messages=HELLO)
    assert_openai_shaped(raised.value.response.json())
    with pytest.raises(openai.AuthenticationError):
        sdk(app).models.list()
    _, token = new_token(app)
    assert sdk(app, token).chat.completions.create(model="default", messages=HELLO).choices[0].message.content
    assert app.count(Generation) == 1


def test_without_a_model_server_calls_are_503_and_no_models_are_listed(launch: Launch, tmp_path: Any) -> None:
    app = launch(make_settings(tmp_path))
    assert sdk(app).models.list().data == []
    with pytest.raises(openai.InternalServerError) as raised:
        sdk(app).chat.completions.create(model="default", messages=HELLO)
    assert raised.value.status_code == 503 and raised.value.code == "not_configured"
    assert app.rows(Generation) == []


def test_a_body_over_the_api_cap_is_413_in_openai_shape_and_the_api_cap_is_its_own(
    launch: Launch, tmp_path: Any, fake_tgi: FakeTgi
) -> None:
    app = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, request_max_bytes=4096, api_request_max_bytes=8192))
    reply = sdk(app).chat.completions.create(model="default", messages=[{"role": "user", "content": "x" * 5000}])
    assert reply.choices[0].message.content == EXPECTED  # over REQUEST_MAX_BYTES, under API_REQUEST_MAX_BYTES
    with pytest.raises(openai.APIStatusError) as raised:
        sdk(app).chat.completions.create(model="default", messages=[{"role": "user", "content": "x" * 9000}])
    assert raised.value.status_code == 413 and "8,192 bytes" in raised.value.response.json()["error"]["message"]
    assert_openai_shaped(raised.value.response.json())
    queue = httpx.post(f"{app.url}/gradio_api/queue/join", content=b"x" * 5000, headers={"content-type": "text/plain"})
    assert queue.status_code == 413  # every other route keeps REQUEST_MAX_BYTES


def test_a_client_that_disconnects_closes_upstream_at_once_and_the_partial_reply_is_stopped(
    app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=2000, token_interval_s=0.01))
    body = {"messages": HELLO, "stream": True}
    with httpx.stream("POST", f"{app.url}/v1/chat/completions", json=body, timeout=20) as response:
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]  # the role chunk and a few text chunks
        assert wait_until(lambda: fake_tgi.streams[-1].tokens_sent >= 5)
        closed_at = time.monotonic()
    log = fake_tgi.streams[-1]
    assert log.ended.wait(5), "the upstream stream was not closed"
    upstream_closed_ms = (time.monotonic() - closed_at) * 1000
    assert log.client_closed and not log.completed
    assert upstream_closed_ms < 500, upstream_closed_ms  # the aim is 100 ms; measured well under it here
    assert any(line.startswith("data: ") for line in received)
    assert wait_until(lambda: bool(app.rows(Generation)) and last_generation(app).status == "stopped")
    generation = last_generation(app)
    assert generation.source == "openai_api" and 0 < generation.output_tokens < 2000
    reply = app.rows(Message, id=generation.message_id)[0]
    assert reply.status == "stopped" and reply.content.startswith("w0 w1")


# -- bad bodies ------------------------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens", "max_completion_tokens",
     "seed", "stop", "frequency_penalty", "n", "tools", "logprobs", "response_format"]
)  # fmt: skip
BAD_MESSAGES = st.one_of(
    JSONISH,
    st.lists(st.fixed_dictionaries({"role": ANY_TEXT | JSONISH, "content": JSONISH}), max_size=3),
)


def _examples(full: int) -> int:
    """As tests/test_properties.py: `make test-fast` runs a tenth (CHATLENS_FAST_PROPERTIES=1), `make test` all."""
    return max(10, int(full * (0.1 if os.environ.get("CHATLENS_FAST_PROPERTIES") else 1.0)))


@pytest.fixture(scope="module")
def raw_client(app: RunningApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url, timeout=20) as client:
        yield client


@settings(
    max_examples=_examples(150),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        JSONISH.map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=60),
        st.dictionaries(FIELDS, JSONISH, max_size=4).map(lambda d: json.dumps({"messages": HELLO, **d}).encode()),
        BAD_MESSAGES.map(lambda m: json.dumps({"model": "default", "messages": m}).encode()),
    )
)
def test_bad_bodies_are_refused_openai_shaped_and_store_nothing(
    app: RunningApp, raw_client: httpx.Client, fake_tgi: FakeTgi, body: bytes
) -> None:
    generations, messages = app.count(Generation), app.count(Message)
    response = raw_client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    if response.status_code == 200:  # a body that happens to be valid: answered and stored as one turn
        if response.headers["content-type"].startswith("text/event-stream"):
            assert response.text.endswith("data: [DONE]\n\n")
        else:
            assert response.json()["object"] == "chat.completion"
        assert app.count(Generation) == generations + 1
        return
    assert response.status_code in (400, 404), (response.status_code, response.text, body)
    assert_openai_shaped(response.json())
    assert (app.count(Generation), app.count(Message)) == (generations, messages)
