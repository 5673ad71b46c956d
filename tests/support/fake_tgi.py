"""A fake TGI: a real HTTP server speaking TGI's Messages API as ``shared/reference/tgi-protocol.md`` describes.

* ``POST /v1/chat/completions`` (stream): TGI ≥ 2.1 framing — ``data: {json}\\n\\n`` with ``"object"`` first,
  ``id: ""``, ``delta.role`` on every chunk, ``usage: null`` on every chunk, one token per chunk, a final chunk
  with ``finish_reason``, the ``usage`` chunk (``choices: []``) when ``stream_options.include_usage``, then
  ``data: [DONE]``. Errors found while streaming come *inside* the 200 stream as
  ``data: {"error":{"message":…,"http_status_code":422}}`` then ``[DONE]``, as TGI does.
* TGI's validation of ``top_p``, ``temperature``, ``max_tokens``, stop sequences and the token window.
* ``GET /info``, ``GET /health`` (200 empty, or 503), ``GET /v1/models``; ``GET /metrics`` when ``metrics`` is set
  (a TGI or vLLM page from ``tests/support/fake_metrics.py``, values changed on command), else 404.
* Scriptable per request (``Behaviour``): delays, token counts, exact replies, HTTP 422/429/503 before the
  stream, an in-stream error after k tokens, a hang, a truncated stream, a first token held until n streams are
  open at once, and killing the server mid-stream.
* Thinking models (``Behaviour.thinking``), in each shape of ``shared/reference/reasoning-and-vision.md``
  (``REASONING_SHAPES``): ``delta.reasoning`` (vLLM ≥ 0.11), ``delta.reasoning_content`` (older vLLM, SGLang,
  llama.cpp), ``<think>…</think>`` inline in the content (TGI), only ``</think>`` (a template that opened the
  thinking), and tags cut across chunks; ``usage.completion_tokens`` counts the thinking, and
  ``completion_tokens_details.reasoning_tokens`` is sent when a behaviour names it.
* Images: ``image_url`` parts with data URLs, taken when ``pipeline_tag`` is a VLM's (``/info`` says so, as TGI
  does for Qwen2-VL, ``shared/fixtures/tgi/test_flash_qwen2_vl``), refused with a 422 by a text-only model.
* It records what it received; per stream, how many tokens it sent and whether the client hung up; and the most
  streams it had open at once.

Run standalone for benchmarks: ``python -m tests.support.fake_tgi --port 8080 --first-token-ms 50 --tokens-per-s 50``
(``--metrics tgi|vllm``: serve that server's ``/metrics`` page).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.fake_metrics import LoadPage, TgiLoad, VllmLoad

MODEL_ID = "fake-org/fake-llama-3-8b-instruct"
TEXT_PIPELINE, VISION_PIPELINE = "text-generation", "image-text-to-text"  # TGI /info model_pipeline_tag
IMAGE_TOKENS = 256
HOLD_LIMIT_S = 10.0  # the longest a first token waits for ``Behaviour.hold_until_open`` streams


@dataclass(frozen=True)
class Behaviour:
    tokens: int = 12
    reply: str | None = None
    first_token_delay_s: float = 0.0
    token_interval_s: float = 0.0
    finish_reason: str = "length"
    http_status: int | None = None
    http_error: str = "Model is overloaded"
    http_error_type: str = "overloaded"
    error_after: int | None = None
    error_message: str = "Request failed during generation: CUDA out of memory"
    hang_after: int | None = None
    hang_s: float = 3600.0
    hold_until_open: int | None = None  # the first token waits until this many streams are open at once
    truncate_after: int | None = None
    malformed_after: int | None = None  # then a `data:` line that is not JSON, and the stream ends
    flavour: str = "tgi"  # "vllm": role-only first chunk, unset fields omitted; "llama": no [DONE] after an error
    thinking: str | None = None  # a thinking model: this thought comes before the reply, in ``reasoning_shape``
    reasoning_shape: str = "inline"  # one of REASONING_SHAPES
    usage_reasoning_tokens: int | None = None  # sent as usage.completion_tokens_details.reasoning_tokens
    refuses_fields: tuple[str, ...] = ()  # body fields this server does not know: 422, as a strict server answers

    @property
    def error_event(self) -> dict[str, Any]:
        if self.flavour == "tgi":
            return {"error": {"message": self.error_message, "http_status_code": 422}}
        return {"error": {"message": self.error_message, "type": "server_error", "code": 500}}

    def reply_tokens(self) -> list[str]:
        if self.reply is not None:
            return _tokens(self.reply)
        return [("" if i == 0 else " ") + f"w{i}" for i in range(self.tokens)]

    def thinking_tokens(self) -> list[str]:
        return _tokens(self.thinking) if self.thinking else []

    def pieces(self) -> list[tuple[str, str]]:
        """(delta field, text) of every token, thinking first, in the shape ``reasoning_shape`` names."""
        answer = [("content", token) for token in self.reply_tokens()]
        thought = self.thinking_tokens()
        if not thought:
            return answer
        shape = self.reasoning_shape
        if shape in ("reasoning", "reasoning_content"):  # vLLM ≥ 0.11 / older vLLM, SGLang, llama.cpp
            return [(shape, token) for token in thought] + answer
        inside = [("content", token) for token in thought]
        if shape == "inline":  # TGI: the tags are tokens of their own in the content
            return [("content", "<think>"), *inside, ("content", "</think>"), ("content", "\n\n"), *answer]
        if shape == "inline_opened":  # the chat template put <think> into the prompt: only </think> streams
            return [*inside, ("content", "</think>"), ("content", "\n\n"), *answer]
        if shape == "inline_split":  # tags cut across chunks
            return [("content", "<th"), ("content", "ink>"), *inside, ("content", "</th"), ("content", "ink>\n\n"),
                    *answer]  # fmt: skip
        raise ValueError(f"unknown reasoning shape {shape!r}")


# How servers send thinking (shared/reference/reasoning-and-vision.md): a field of its own, or tags in the content.
REASONING_SHAPES = ("reasoning", "reasoning_content", "inline", "inline_opened", "inline_split")


def _prompt_tokens(content: Any) -> int:
    """Words of the text, and a fixed share per image (VLMs count hundreds of tokens per image)."""
    if not isinstance(content, list):
        return len(str(content or "").split())
    return sum(
        IMAGE_TOKENS if part.get("type") == "image_url" else len(str(part.get("text", "")).split())
        for part in content
        if isinstance(part, dict)
    )


def _tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text)


@dataclass
class StreamLog:
    body: dict[str, Any]
    tokens_sent: int = 0
    completed: bool = False
    client_closed: bool = False
    ended: threading.Event = field(default_factory=threading.Event)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return f"data: {data}\n\n".encode()


class FakeTgi:
    def __init__(
        self,
        *,
        default: Behaviour | None = None,
        max_input_tokens: int = 4095,
        max_total_tokens: int = 4096,
        max_stop_sequences: int = 4,
        model_id: str = MODEL_ID,
    ) -> None:
        self.default = default or Behaviour()
        self.script: deque[Behaviour] = deque()
        self.max_input_tokens = max_input_tokens
        self.max_total_tokens = max_total_tokens
        self.max_stop_sequences = max_stop_sequences
        self._limits = (max_input_tokens, max_total_tokens)  # what reset() puts back
        self.model_id = model_id
        self.healthy = True
        self.serves_info = True  # False: answer /info with 404, as vLLM and llama-server do
        self.props_n_ctx: int | None = None  # set (with serves_info False): llama-server, with /props and this n_ctx
        self.pipeline_tag = TEXT_PIPELINE  # /info's model_pipeline_tag; VISION_PIPELINE: a VLM that takes images
        self.metrics: LoadPage | None = None  # what /metrics serves (None: 404)
        self.metrics_calls = 0
        self.streams: list[StreamLog] = []
        self.open_streams = 0
        self.peak_open_streams = 0
        self._new_peak = asyncio.Condition()  # used on the server's loop only (made anew by start())
        self.info_calls = 0
        self.authorizations: list[str] = []  # the Authorization header of each chat request ("" when absent)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/info", self._info, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/metrics", self._metrics, methods=["GET"]),
                Route("/props", self._props, methods=["GET"]),
            ]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, port: int | None = None) -> FakeTgi:
        self._new_peak = asyncio.Condition()
        self.port = port or free_port()
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=0,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-tgi", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake TGI did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop at once, dropping open streams mid-reply (as a crashed TGI would)."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = None

    def reset(self) -> None:
        """Back to a fresh server's state: default behaviour, no script, no logs, healthy, serving ``/info`` with its
        first limits."""
        self.default = Behaviour()
        self.max_input_tokens, self.max_total_tokens = self._limits
        self.script.clear()
        self.streams.clear()
        self.authorizations.clear()
        self.healthy = True
        self.serves_info = True
        self.props_n_ctx = None
        self.pipeline_tag = TEXT_PIPELINE
        self.metrics = None
        self.peak_open_streams = self.open_streams

    def next(self, *behaviours: Behaviour) -> None:
        """Script the next requests, in order; later requests get ``default``."""
        self.script.extend(behaviours)

    def wait_for_streams(self, count: int, timeout_s: float = 10.0) -> list[StreamLog]:
        deadline = time.monotonic() + timeout_s
        while len(self.streams) < count or not all(s.ended.is_set() for s in self.streams[:count]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.streams)} streams seen, waiting for {count} to end")
            time.sleep(0.01)
        return self.streams[:count]

    # -- routes ------------------------------------------------------------------------------------------------

    async def _info(self, request: Request) -> Response:
        self.info_calls += 1
        if not self.serves_info:
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return JSONResponse(
            {
                "model_id": self.model_id,
                "model_sha": "0e9e39f249a16976918f6564b8830bc894c89659",
                "model_pipeline_tag": self.pipeline_tag,
                "max_concurrent_requests": 128,
                "max_best_of": 2,
                "max_stop_sequences": self.max_stop_sequences,
                "max_input_tokens": self.max_input_tokens,
                "max_total_tokens": self.max_total_tokens,
                "validation_workers": 2,
                "max_client_batch_size": 4,
                "router": "text-generation-router",
                "version": "3.3.6-dev0",
                "sha": None,
                "docker_label": None,
            }
        )

    async def _health(self, request: Request) -> Response:
        if self.healthy:
            return Response(status_code=200)
        return JSONResponse({"error": "unhealthy", "error_type": "healthcheck"}, status_code=503)

    async def _metrics(self, request: Request) -> Response:
        self.metrics_calls += 1
        if self.metrics is None:
            return PlainTextResponse("Not Found", status_code=404)
        return PlainTextResponse(self.metrics.page(), media_type="text/plain; version=0.0.4")

    async def _models(self, request: Request) -> Response:
        owner = "llamacpp" if self.props_n_ctx else self.model_id
        return JSONResponse(
            {"object": "list", "data": [{"id": self.model_id, "object": "model", "created": 0, "owned_by": owner}]}
        )

    async def _props(self, request: Request) -> Response:
        """llama-server's ``/props`` (the fields ChatLens reads)."""
        if not self.props_n_ctx:
            return PlainTextResponse("Not Found", status_code=404)
        return JSONResponse({"default_generation_settings": {"n_ctx": self.props_n_ctx}, "total_slots": 1})

    async def _chat(self, request: Request) -> Response:
        self.authorizations.append(request.headers.get("authorization", ""))
        raw = await request.body()
        try:
            body = json.loads(raw)
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages")
        except (json.JSONDecodeError, KeyError, TypeError):
            return PlainTextResponse(
                "Failed to deserialize the JSON body into the target type: messages: invalid type",
                status_code=422,
            )
        behaviour = self.script.popleft() if self.script else self.default
        log = StreamLog(body=body)
        self.streams.append(log)
        if unknown := [name for name in behaviour.refuses_fields if name in body]:
            log.ended.set()
            return PlainTextResponse(
                f"Failed to deserialize the JSON body into the target type: unknown field `{unknown[0]}`",
                status_code=422,
            )
        if behaviour.http_status is not None:
            log.ended.set()
            return JSONResponse(
                {"error": behaviour.http_error, "error_type": behaviour.http_error_type},
                status_code=behaviour.http_status,
            )
        if not body.get("stream"):
            log.ended.set()
            return JSONResponse({"error": "only streaming is faked", "error_type": "validation"}, status_code=422)
        refusal = self._refused_images(messages)
        if refusal is not None:
            log.ended.set()
            return JSONResponse({"error": refusal, "error_type": "validation"}, status_code=422)
        prompt_tokens = sum(_prompt_tokens(m.get("content")) + 3 for m in messages)
        validation = self._validate(body, prompt_tokens)
        return StreamingResponse(
            self._stream(body, behaviour, log, prompt_tokens, validation),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", "x-compute-type": "gpu+optimized"},
        )

    def _refused_images(self, messages: list[Any]) -> str | None:
        """Image parts as TGI's VLMs take them (``image_url`` with a data URL); a text-only model refuses them."""
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                    return "Input validation error: unknown content part"
                if part["type"] != "image_url":
                    continue
                if self.pipeline_tag != VISION_PIPELINE:
                    return "Input validation error: this model does not take images"
                url = str((part.get("image_url") or {}).get("url", ""))
                header, _, data = url.partition(",")
                if not header.startswith("data:image/") or not header.endswith(";base64"):
                    return "Input validation error: an image must be a data URL"
                try:
                    base64.b64decode(data, validate=True)
                except ValueError:
                    return "Input validation error: the image's base64 does not decode"
        return None

    @staticmethod
    def _usage(b: Behaviour, prompt_tokens: int, tokens: list[tuple[str, str]]) -> dict[str, Any]:
        """Every token counts, thinking included (as servers count); the thinking share only if asked for."""
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        if b.usage_reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": b.usage_reasoning_tokens}
        return usage

    def _validate(self, body: dict[str, Any], prompt_tokens: int) -> str | None:
        """TGI's checks (validation.rs order), as the message TGI would put in the in-stream error."""
        temperature, top_p = body.get("temperature"), body.get("top_p")
        max_tokens = body.get("max_tokens")
        stop = body.get("stop") or []
        if temperature is not None and temperature < 0:
            return "Input validation error: `temperature` must be strictly positive"
        if top_p is not None and not 0 < top_p < 1:
            return "Input validation error: `top_p` must be > 0.0 and < 1.0"
        if max_tokens is not None and max_tokens <= 0:
            return "Input validation error: `max_new_tokens` must be strictly positive"
        if len(stop) > self.max_stop_sequences:
            return (
                f"Input validation error: `stop` supports up to {self.max_stop_sequences} stop sequences. "
                f"Given: {len(stop)}"
            )
        new_tokens = min(max_tokens or 1024, 1024)
        if prompt_tokens + new_tokens > self.max_total_tokens:
            return (
                f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                f"Given: {prompt_tokens} `inputs` tokens and {new_tokens} `max_new_tokens`"
            )
        if prompt_tokens > self.max_input_tokens:
            return (
                f"Input validation error: `inputs` must have less than {self.max_input_tokens} tokens. "
                f"Given: {prompt_tokens}"
            )
        return None

    async def _stream(
        self, body: dict[str, Any], b: Behaviour, log: StreamLog, prompt_tokens: int, validation: str | None
    ) -> AsyncIterator[bytes]:
        created = int(time.time())
        requested_model = body.get("model")
        model = self.model_id if requested_model in (None, "tgi") else requested_model

        def chunk(content: str | None, finish_reason: str | None, field: str = "content") -> bytes:
            if b.flavour != "tgi":
                delta: dict[str, Any] = {"role": "assistant"} if content is None else {field: content}
                choice: dict[str, Any] = {"index": 0, "delta": delta}
                if finish_reason is not None:
                    choice["finish_reason"] = finish_reason
                return _sse(
                    {
                        "id": "chatcmpl-4f1c",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [choice],
                    }
                )
            tgi_delta: dict[str, Any] = {"role": "assistant", "content": content}
            if field != "content":  # thinking only: the content is null (the LiteLLM bug skipped such chunks)
                tgi_delta = {"role": "assistant", "content": None, field: content}
            return _sse(
                {
                    "object": "chat.completion.chunk",
                    "id": "",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "3.3.6-dev0-native",
                    "choices": [
                        {
                            "index": 0,
                            "delta": tgi_delta,
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": None,
                }
            )

        self.open_streams += 1
        try:
            async with self._new_peak:
                if self.open_streams > self.peak_open_streams:
                    self.peak_open_streams = self.open_streams
                    self._new_peak.notify_all()
                if (wanted := b.hold_until_open) is not None:  # all released once that many were open at once
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(HOLD_LIMIT_S):
                            await self._new_peak.wait_for(lambda: self.peak_open_streams >= wanted)
            if validation is not None:
                yield _sse({"error": {"message": validation, "http_status_code": 422}})
                yield _sse("[DONE]")
                log.completed = True
                return
            if b.flavour == "vllm":
                yield chunk(None, None)
            tokens = b.pieces()
            max_tokens = body.get("max_tokens")
            finish = b.finish_reason
            if max_tokens is not None and len(tokens) > max_tokens:
                tokens, finish = tokens[:max_tokens], "length"
            start = time.monotonic() + b.first_token_delay_s
            for i, (kind, token) in enumerate(tokens):
                if b.error_after is not None and i == b.error_after:
                    yield _sse(b.error_event)
                    if b.flavour != "llama":
                        yield _sse("[DONE]")
                    log.completed = True
                    return
                if b.hang_after is not None and i == b.hang_after:
                    await asyncio.sleep(b.hang_s)
                if b.truncate_after is not None and i == b.truncate_after:
                    log.completed = True
                    return
                if b.malformed_after is not None and i == b.malformed_after:
                    yield b'data: {"choices":[{"delta":{"content": oops\n\n'
                    log.completed = True
                    return
                delay = start + i * b.token_interval_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                # TGI puts length/stop_sequence on the last token; at EOS it sends one more chunk with content "".
                last = i == len(tokens) - 1 and finish != "stop"
                yield chunk(token, finish if last else None, kind)
                log.tokens_sent += 1
            if finish == "stop" or not tokens:
                yield chunk("", "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _sse(
                    {
                        "object": "chat.completion.chunk",
                        "id": "",
                        "created": created,
                        "model": model,
                        "system_fingerprint": "3.3.6-dev0-native",
                        "choices": [],
                        "usage": self._usage(b, prompt_tokens, tokens),
                    }
                )
            yield _sse("[DONE]")
            log.completed = True
        finally:
            self.open_streams -= 1
            if not log.completed:
                log.client_closed = True
            log.ended.set()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake TGI for benchmarks and manual testing.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--first-token-ms", type=float, default=50)
    parser.add_argument("--tokens-per-s", type=float, default=50)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--metrics", choices=["none", "tgi", "vllm"], default="none", help="the /metrics page served")
    args = parser.parse_args()
    default = Behaviour(
        tokens=args.tokens,
        first_token_delay_s=args.first_token_ms / 1000,
        token_interval_s=1 / args.tokens_per_s if args.tokens_per_s > 0 else 0,
    )
    fake = FakeTgi(default=default, max_total_tokens=1_000_000, max_input_tokens=999_000)
    if args.metrics == "tgi":
        fake.metrics = TgiLoad(queue_size=4, batch_size=16, queue_durations_s=[0.01 * k for k in range(200)])
    elif args.metrics == "vllm":
        fake.metrics = VllmLoad()
        fake.metrics.set(waiting=4, running=16, kv_cache=0.42)
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()


if __name__ == "__main__":
    main()


__all__ = ["Behaviour", "FakeTgi", "StreamLog", "free_port", "replace"]
