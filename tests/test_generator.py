"""The TGI adapter (huggingface_hub's AsyncInferenceClient) against the fake TGI over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import errors
from inference.tgi import TgiGenerator
from inference.types import ChatMessage, GenerationParams, TokenChunk
from tests.support.fake_tgi import HOLD_LIMIT_S, Behaviour, FakeTgi, free_port

T = TypeVar("T")
HELLO = [ChatMessage("user", "hello")]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def generator_for(url: str, *, timeout_s: float = 5.0, max_connections: int = 16) -> TgiGenerator:
    return TgiGenerator(
        base_url=url, request_timeout_s=timeout_s, connect_timeout_s=1.0, max_connections=max_connections, info_ttl_s=0
    )


async def collect(generator: TgiGenerator, params: GenerationParams | None = None) -> list[TokenChunk]:
    try:
        return [c async for c in generator.stream(HELLO, params or GenerationParams())]
    finally:
        await generator.aclose()


def test_stream_yields_tokens_finish_reason_and_usage(fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply="Hello there friend", finish_reason="stop"))
    chunks = run(collect(generator_for(fake_tgi.url)))
    assert "".join(c.text for c in chunks) == "Hello there friend"
    assert [c.text for c in chunks if c.text] == ["Hello", " there", " friend"]
    assert chunks[-2].finish_reason == "stop"
    assert (chunks[-1].prompt_tokens, chunks[-1].completion_tokens) == (4, 3)


def test_info_is_read_from_tgi(fake_tgi: FakeTgi) -> None:
    info = run(generator_for(fake_tgi.url).info())
    assert (info.model_id, info.backend, info.request_model) == (fake_tgi.model_id, "tgi", "tgi")
    assert (info.max_input_tokens, info.max_total_tokens, info.max_stop_sequences) == (4095, 4096, 4)


def test_vllm_style_stream_and_model_listing_are_understood(fake_tgi: FakeTgi) -> None:
    fake_tgi.serves_info = False
    fake_tgi.next(Behaviour(tokens=3, flavour="vllm"))
    chunks = run(collect(generator_for(fake_tgi.url)))
    assert "".join(c.text for c in chunks) == "w0 w1 w2"
    assert fake_tgi.streams[-1].body["model"] == fake_tgi.model_id  # vLLM needs the served model's name


def test_the_window_comes_from_llama_server_props_or_else_the_configured_context(fake_tgi: FakeTgi) -> None:
    fake_tgi.serves_info = False

    async def window(context_tokens: int | None) -> tuple[str, int | None]:
        generator = TgiGenerator(
            base_url=fake_tgi.url, request_timeout_s=5, connect_timeout_s=1, max_connections=4, info_ttl_s=0,
            context_tokens=context_tokens,
        )  # fmt: skip
        try:
            info = await generator.info()
        finally:
            await generator.aclose()
        return info.backend, info.max_total_tokens

    assert run(window(None)) == ("openai", None)  # an OpenAI-style server says nothing
    assert run(window(2048)) == ("openai", 2048)  # llama-cpp-python's server (local mode): the configured context
    fake_tgi.props_n_ctx = 8192
    assert run(window(2048)) == ("llama.cpp", 8192)  # llama-server says, and it wins


@pytest.mark.parametrize(
    ("behaviour", "params", "error"),
    [
        (Behaviour(http_status=429), None, errors.Overloaded),
        (Behaviour(http_status=503, http_error="unhealthy", http_error_type="healthcheck"), None, errors.Unavailable),
        (
            Behaviour(http_status=424, http_error="Request failed during generation: x", http_error_type="generation"),
            None,
            errors.GenerationFailed,
        ),
        (Behaviour(tokens=5, error_after=2), None, errors.GenerationFailed),
        (Behaviour(tokens=5, error_after=2, error_message="Model is overloaded"), None, errors.Overloaded),
        (Behaviour(tokens=5, error_after=2, flavour="llama"), None, errors.GenerationFailed),
        (Behaviour(tokens=5, truncate_after=2), None, errors.IncompleteReply),
        (Behaviour(), GenerationParams(top_p=1.0), errors.InvalidParameters),
    ],
)
def test_server_errors_become_user_readable_errors(
    fake_tgi: FakeTgi, behaviour: Behaviour, params: GenerationParams | None, error: type[errors.ChatLensError]
) -> None:
    fake_tgi.next(behaviour)
    with pytest.raises(error) as caught:
        run(collect(generator_for(fake_tgi.url), params))
    assert caught.value.user_message and "Traceback" not in caught.value.user_message


def test_prompt_beyond_the_token_window_is_input_too_long(fake_tgi: FakeTgi) -> None:
    async def scenario() -> None:
        generator = generator_for(fake_tgi.url)
        try:
            [c async for c in generator.stream([ChatMessage("user", "word " * 4000)], GenerationParams(max_tokens=500))]
        finally:
            await generator.aclose()

    with pytest.raises(errors.InputTooLong, match="too long for this model"):
        run(scenario())


def test_unreachable_server_is_reported_as_such() -> None:
    with pytest.raises(errors.ServerUnreachable, match="cannot be reached"):
        run(collect(generator_for(f"http://127.0.0.1:{free_port()}")))


@pytest.mark.parametrize(
    "behaviour", [Behaviour(first_token_delay_s=3), Behaviour(tokens=5, hang_after=2, hang_s=3)], ids=["first", "later"]
)
def test_silence_longer_than_the_timeout_is_a_timeout(fake_tgi: FakeTgi, behaviour: Behaviour) -> None:
    """Silent for 3 s, then the reply would go on: only a timeout shorter than that (0.5 s) makes it an error."""
    fake_tgi.next(behaviour)
    with pytest.raises(errors.ServerTimeout):
        run(collect(generator_for(fake_tgi.url, timeout_s=0.5)))
    [stream] = fake_tgi.wait_for_streams(1)
    assert stream.client_closed


def test_server_dying_mid_stream_is_reported() -> None:
    fake = FakeTgi(default=Behaviour(tokens=200, token_interval_s=0.01)).start()

    async def scenario() -> None:
        generator = generator_for(fake.url)
        got = 0
        with pytest.raises(errors.IncompleteReply, match="broke in the middle"):
            async for chunk in generator.stream(HELLO, GenerationParams()):
                got += bool(chunk.text)
                if got == 5:
                    await asyncio.to_thread(fake.stop)
        await generator.aclose()

    try:
        run(scenario())
    finally:
        fake.stop()


def test_closing_the_stream_closes_the_upstream_connection(fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=300, token_interval_s=0.01))

    async def scenario() -> None:
        generator = generator_for(fake_tgi.url)
        stream = generator.stream(HELLO, GenerationParams())
        async for chunk in stream:
            if chunk.text == " w3":
                break
        await stream.aclose()
        await generator.aclose()

    run(scenario())
    [log] = fake_tgi.wait_for_streams(1)
    assert log.client_closed and log.tokens_sent < 300


def test_pool_serves_more_than_100_streams_at_once(fake_tgi: FakeTgi) -> None:
    """huggingface_hub's default pool holds 100 connections; the 101st stream would wait silently. Each stream here
    holds its first token until all 120 are open (10 s at most): with a pool of 100 the fake never sees 120."""
    fake_tgi.default = Behaviour(tokens=2, hold_until_open=120)

    async def scenario() -> list[str]:
        # A held stream is silent until the last one opens: a read timeout beyond the hold, however slow the machine.
        generator = generator_for(fake_tgi.url, timeout_s=HOLD_LIMIT_S + 5, max_connections=150)
        try:
            return await asyncio.gather(*(collect_without_close(generator) for _ in range(120)))
        finally:
            await generator.aclose()

    assert run(scenario()) == ["w0 w1"] * 120
    assert fake_tgi.peak_open_streams == 120, "some streams waited for a connection"


async def collect_without_close(generator: TgiGenerator) -> str:
    return "".join([c.text async for c in generator.stream(HELLO, GenerationParams())])


def test_a_stream_broken_before_its_first_chunk_is_retried_once(fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(truncate_after=0), Behaviour(tokens=3))
    chunks = run(collect(generator_for(fake_tgi.url)))
    assert "".join(c.text for c in chunks) == "w0 w1 w2"
    assert len(fake_tgi.streams) == 2


def test_a_second_break_before_the_first_chunk_is_reported(fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(truncate_after=0), Behaviour(truncate_after=0))
    with pytest.raises(errors.IncompleteReply):
        run(collect(generator_for(fake_tgi.url)))
