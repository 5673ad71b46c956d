"""The OpenAI-compatible API: ``POST /v1/chat/completions`` (streamed or not) and ``GET /v1/models``.

Any OpenAI client can point at ChatLens (``OpenAI(base_url="http://host:7860/v1", api_key="chatlens_…")``). Every
call is one turn through the same ``ChatService.stream_reply`` as the page and ``/chat``: the same checks, the same
model-server client, the same recorder — stored as a new conversation of the caller (``source='openai_api'``, the
token's id), its text left out with ``X-ChatLens-Store: metrics-only``.

* Who calls: the gate (``access.gate``) has already decided; here a bearer token is required when
  ``require_token`` (``API_REQUIRE_TOKEN``, or ``REQUIRE_LOGIN``). A token acts as its owner, never as an admin.
* The body: the fields ChatLens supports are read (``model``, ``messages``, ``stream``, ``stream_options``,
  ``temperature``, ``top_p``, ``max_tokens`` / ``max_completion_tokens``, ``seed``, ``stop``,
  ``frequency_penalty``); fields that would change the answer in a way ChatLens cannot honour (``n`` > 1, ``tools``,
  ``functions``, ``logprobs``, a ``response_format`` other than text) are refused with 400; every other field is
  ignored, as OpenAI-compatible servers do with what they do not know. Image parts (``image_url`` with a data URL,
  in user messages) are checked as the page's attachments are and sent to a model server that sees.
* Errors are OpenAI-shaped (``{"error": {"message", "type", "param", "code"}}``) with the status OpenAI clients map
  to their exception classes; a failure after the first token ends the stream with an ``error`` event and
  ``[DONE]``. A refused call stores nothing.
* The response head waits for the first text (or the end), so a model-server failure before any text still gets its
  own HTTP status. A client that disconnects cancels the turn at once: the upstream stream is closed and the partial
  reply is stored ``stopped``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import aclosing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.routing import Route

import errors
from access.gate import api_error as api_error_payload
from access.identity import Identities, Identity
from access.message_gate import MessageGate
from access.rate_limits import RateLimited
from inference import param_checks
from inference.images import MAX_IMAGE_BYTES, MAX_IMAGES_PER_MESSAGE, checked_images
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import ChatMessage, GenerationParams, Origin
from storage.writer import StorageFailed

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

STORE_HEADER = "x-chatlens-store"
METRICS_ONLY = "metrics-only"
MAX_STOP = 16  # more than any server takes; the model server's own limit is checked by param_checks


class ApiError(Exception):
    """A refusal with its HTTP status, OpenAI-shaped when sent."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None, retry_after_s: int = 0
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry_after_s = retry_after_s

    def payload(self) -> dict[str, Any]:
        return api_error_payload(self.status, self.message, code=self.code, param=self.param)


# The status of each ChatLens error: 400 what the caller sent, 429 rate limits, 502 the model server failed,
# 503 it (or ChatLens) cannot take the call now, 504 it took too long.
_STATUS: tuple[tuple[type[errors.ChatLensError], int], ...] = (
    (RateLimited, 429),
    (errors.InputTooLong, 400),
    (errors.InvalidParameters, 400),
    (errors.MessageRejected, 400),
    (errors.ServerTimeout, 504),
    (errors.Overloaded, 503),
    (errors.Unavailable, 503),
    (errors.NotConfigured, 503),
    (errors.ShuttingDown, 503),
    (StorageFailed, 503),
)


def api_error(exc: errors.ChatLensError) -> ApiError:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 502)
    code = "context_length_exceeded" if isinstance(exc, errors.InputTooLong) else exc.kind
    retry_after_s = exc.retry_after_s if isinstance(exc, RateLimited) else 0
    return ApiError(status, exc.user_message, code=code, retry_after_s=retry_after_s)


# -- the request body ------------------------------------------------------------------------------------------


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    include_usage: bool = False


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]] | None = None

    def has_images(self) -> bool:
        return isinstance(self.content, list) and any(part.get("type") == "image_url" for part in self.content)

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        parts = []
        for part in self.content:
            if part.get("type") == "image_url":
                continue
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(
                    400, "Only text and image_url content parts are supported.", code="unsupported_content",
                    param="messages",
                )  # fmt: skip
            parts.append(part["text"])
        return "".join(parts)

    def image_files(self) -> list[tuple[str, bytes]]:
        """The bytes of each ``image_url`` part (checked as images later, by ``inference.images``)."""
        if not isinstance(self.content, list):
            return []
        return [("", _data_url_bytes(part)) for part in self.content if part.get("type") == "image_url"]


def _data_url_bytes(part: dict[str, Any]) -> bytes:
    """An ``image_url`` part's bytes. Only data URLs: ChatLens fetches nothing a caller names (a URL would make
    the server reach wherever the caller points it)."""
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise ApiError(400, "image_url.url must be a string.", code="invalid_image_url", param="messages")
    if not url.startswith("data:"):
        raise ApiError(
            400,
            "Images are taken as data URLs (data:image/png;base64,…); ChatLens fetches no URL. Download the image "
            "and send its bytes.",
            code="invalid_image_url",
            param="messages",
        )
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise ApiError(
            400, "An image data URL must be base64 (data:image/png;base64,…).", code="invalid_image_url",
            param="messages",
        )  # fmt: skip
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise ApiError(
            400, "An image data URL's base64 does not decode.", code="invalid_image_url", param="messages"
        ) from None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    model: str | None = None
    messages: list[_Message] = Field(min_length=1)
    stream: bool | None = False
    stream_options: _StreamOptions | None = None
    temperature: float | None = Field(default=None, allow_inf_nan=False)
    top_p: float | None = Field(default=None, allow_inf_nan=False)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    stop: str | list[str] | None = Field(default=None)
    frequency_penalty: float | None = Field(default=None, allow_inf_nan=False)
    # Refused unless they ask for what ChatLens does anyway.
    n: int | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    logprobs: bool | None = None
    response_format: dict[str, Any] | None = None

    def refuse_unsupported(self) -> None:
        if self.n not in (None, 1):
            raise ApiError(400, "Only one choice per call is supported (n=1).", code="unsupported_parameter", param="n")
        for name in ("tools", "functions"):
            if getattr(self, name):
                raise ApiError(400, "Tool calls are not supported.", code="unsupported_parameter", param=name)
        if self.logprobs:
            raise ApiError(400, "Log probabilities are not supported.", code="unsupported_parameter", param="logprobs")
        if self.response_format is not None and self.response_format.get("type") not in (None, "text"):
            raise ApiError(
                400, "Only text responses are supported.", code="unsupported_parameter", param="response_format"
            )

    def stops(self) -> tuple[str, ...]:
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stop) > MAX_STOP:
            raise ApiError(400, f"At most {MAX_STOP} stop sequences.", code="invalid_value", param="stop")
        return tuple(stop)


def parse_body(raw: bytes) -> ChatRequest:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ApiError(
            400, f"{where}: {first['msg']}" if where else str(first["msg"]), code="invalid_value", param=where or None
        ) from None
    request.refuse_unsupported()
    return request


def split_messages(
    request: ChatRequest, *, max_image_bytes: int = MAX_IMAGE_BYTES, max_images: int = MAX_IMAGES_PER_MESSAGE
) -> tuple[str | None, tuple[ChatMessage, ...], ChatMessage]:
    """The system prompt (None: the instance's), the earlier turns, and the last user message; a user message's
    image parts become its checked images (``MessageRejected`` with the reason for one that is not taken)."""
    system: list[str] = []
    turns: list[ChatMessage] = []
    for message in request.messages:
        text = message.text()
        if message.role == "user":
            files = message.image_files()
            images = checked_images(files, max_bytes=max_image_bytes, max_images=max_images) if files else ()
            turns.append(ChatMessage("user", text, images))
        elif message.has_images():
            raise ApiError(400, "Only user messages may carry images.", code="unsupported_content", param="messages")
        elif message.role == "assistant":
            turns.append(ChatMessage("assistant", text))
        else:
            system.append(text)  # system, or developer (what newer OpenAI models call it)
    if not turns or turns[-1].role != "user":
        raise ApiError(400, "The last message must be the user's.", code="invalid_value", param="messages")
    return ("\n\n".join(system) if system else None), tuple(turns[:-1]), turns[-1]


# -- the app ---------------------------------------------------------------------------------------------------


class OpenAiApi:
    def __init__(
        self,
        service: ChatService,
        identities: Identities,
        gate: MessageGate | None = None,
        *,
        require_token: bool = False,
        image_max_bytes: int = MAX_IMAGE_BYTES,
        images_per_message: int = MAX_IMAGES_PER_MESSAGE,
    ) -> None:
        self._service = service
        self._identities = identities
        self._gate = gate
        self._require_token = require_token
        self._image_max_bytes = image_max_bytes
        self._images_per_message = images_per_message

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", _AsgiEndpoint(self.completions), methods=["POST"]),
            Route("/v1/models", _AsgiEndpoint(self.models), methods=["GET"]),
        ]

    def _caller(self, request: Request) -> Identity:
        identity = self._identities.of(request)
        if self._require_token and identity.kind != "token":
            raise ApiError(
                401,
                "This API needs a ChatLens API token: send Authorization: Bearer chatlens_…",
                code="invalid_api_key",
            )
        return identity

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._caller(Request(scope, receive))
        except ApiError as exc:
            await _send_error(send, exc)
            return
        names = self._service.model_names
        infos = await asyncio.gather(*(self._service.known_model_info(name) for name in names))
        data = [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "chatlens",
                "model_id": info.model_id if info else None,
                "context_length": info.max_total_tokens if info else None,
                "max_input_tokens": info.max_input_tokens if info else None,
            }
            for name, info in zip(names, infos, strict=True)
        ]
        await _send_json(send, 200, {"object": "list", "data": data})

    async def completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await request.body()
            identity = self._caller(request)
            call = parse_body(body)
            store = request.headers.get(STORE_HEADER, "").strip().lower()
            if store not in ("", "full", METRICS_ONLY):
                raise ApiError(400, f"{STORE_HEADER} must be 'metrics-only' or 'full'.", code="invalid_value")
            model = self._model(call.model)
            if any(message.has_images() for message in call.messages):
                await self._check_sees(model)
            system_prompt, earlier, last = split_messages(
                call, max_image_bytes=self._image_max_bytes, max_images=self._images_per_message
            )
            requested = GenerationParams(
                max_tokens=call.max_completion_tokens or call.max_tokens,
                temperature=call.temperature,
                top_p=call.top_p,
                frequency_penalty=call.frequency_penalty,
                seed=call.seed,
                stop=call.stops(),
            )
            params = param_checks.clamped(requested, await self._service.known_model_info(model))
            if self._gate is not None:  # last: a call refused for its body is not counted against the caller
                await self._gate.admit(request)
        except ApiError as exc:
            await _send_error(send, exc)
            return
        except errors.ChatLensError as exc:
            await _send_error(send, api_error(exc))
            return
        frames = self._service.stream_reply(
            NewMessage(last.content, earlier=earlier, images=last.images),
            user_id=identity.user_id,
            params=params,
            model=model,
            system_prompt=system_prompt,
            shrink_to_fit=True,
            origin=Origin(source="openai_api", token_id=identity.token_id, store_text=store != METRICS_ONLY),
        )
        reply = _Reply(send, model=model or self._service.model_names[0], stream=bool(call.stream))
        reply.include_usage = bool(call.stream_options and call.stream_options.include_usage)
        await _until_disconnect(reply.relay(frames), receive, lambda: reply.responded)

    async def _check_sees(self, model: str | None) -> None:
        """Image parts to a model server that says it reads text only are refused, naming the model."""
        info = await self._service.known_model_info(model)
        try:
            self._service.check_sees(info)
        except errors.MessageRejected as exc:
            raise ApiError(400, exc.user_message, code="model_does_not_take_images", param="messages") from exc

    def _model(self, name: str | None) -> str | None:
        if not self._service.configured:
            raise errors.NotConfigured()
        if not name:
            return None
        if name not in self._service.model_names:
            known = ", ".join(self._service.model_names) or "none"
            raise ApiError(
                404, f"The model {name!r} does not exist here. Models: {known}.", code="model_not_found", param="model"
            )
        return name


class _AsgiEndpoint:
    """Starlette treats a non-function endpoint as an ASGI app: the handlers here speak ASGI themselves (to watch
    for the client's disconnect while streaming)."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)


async def _until_disconnect(work: Awaitable[None], receive: Receive, responded: Callable[[], bool]) -> None:
    """Run ``work``; if the client disconnects before ``responded()``, cancel it (the turn's own ``finally`` stores
    it ``stopped``). Once the response is complete the server reports a disconnect too: the turn then goes on to
    its end (the reply's rows are committed after the response)."""
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if responded():
            await asyncio.shield(task)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


class _Reply:
    """One call's response: SSE chunks as the reply grows (the head waits for the first text), or one JSON body."""

    def __init__(self, send: Send, *, model: str, stream: bool) -> None:
        self._send = send
        self._model = model
        self._stream = stream
        self.include_usage = False
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._sent = 0  # characters of the reply already sent
        self._thought = 0  # characters of the thinking already sent
        self._started = False
        self._done = False
        self.responded = False  # the last byte of the response is sent

    async def relay(self, frames: AsyncIterator[ReplyFrame]) -> None:
        try:
            async with aclosing(frames):  # type: ignore[type-var]
                async for frame in frames:
                    if self._stream and not frame.is_final and len(frame.thinking) > self._thought:
                        await self._thinking(frame.thinking)
                    if self._stream and frame.phase == "generating" and len(frame.text) > self._sent:
                        await self._delta(frame.text)
                    if frame.is_final:
                        await self._end(frame)
        except errors.ChatLensError as exc:  # refused before anything was stored
            if self._started:
                await self._event(api_error(exc).payload())
                await self._event("[DONE]", more=False)
            else:
                await self._error(api_error(exc))
            self._done = True
        if not self._done:  # the turn ended without a final frame: never expected, but never a hung response
            if self._started:
                await self._event("[DONE]", more=False)
            else:
                await self._error(ApiError(500, "The reply ended unexpectedly. Retry.", code="internal"))

    async def _error(self, exc: ApiError) -> None:
        await _send_error(self._send, exc)
        self.responded = True

    async def _start(self) -> None:
        self._started = True
        await self._send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        await self._event(self._chunk({"role": "assistant", "content": ""}, None))

    async def _thinking(self, thinking: str) -> None:
        """The thought so far, as servers with a reasoning parser send it: ``reasoning_content`` (DeepSeek, SGLang,
        llama.cpp, older vLLM) and ``reasoning`` (vLLM 0.11+), so clients reading either see it."""
        if not self._started:
            await self._start()
        await self._event(self._chunk(_thought(thinking[self._thought :]), None))
        self._thought = len(thinking)

    async def _delta(self, text: str) -> None:
        if not self._started:
            await self._start()
        await self._event(self._chunk({"content": text[self._sent :]}, None))
        self._sent = len(text)

    async def _end(self, frame: ReplyFrame) -> None:
        self._done = True
        if frame.error is not None and not self._started:
            await self._error(api_error(frame.error))
            return
        if not self._stream:
            await _send_json(self._send, 200, self._completion(frame))
            self.responded = True
            return
        if len(frame.thinking) > self._thought:
            await self._thinking(frame.thinking)
        if len(frame.text) > self._sent:
            await self._delta(frame.text)
        elif not self._started:
            await self._start()
        if frame.error is not None:
            await self._event(api_error(frame.error).payload())
        else:
            await self._event(self._chunk({}, _finish_reason(frame)))
            if self.include_usage:
                await self._event({**self._envelope(), "choices": [], "usage": _usage(frame)})
        await self._event("[DONE]", more=False)

    def _envelope(self) -> dict[str, Any]:
        return {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {**self._envelope(), "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    def _completion(self, frame: ReplyFrame) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": frame.text, **_thought(frame.thinking)},
                    "finish_reason": _finish_reason(frame),
                }
            ],
            "usage": _usage(frame),
        }

    async def _event(self, payload: dict[str, Any] | str, *, more: bool = True) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        await self._send({"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": more})
        self.responded = not more


def _finish_reason(frame: ReplyFrame) -> str:
    reason = frame.metrics.finish_reason if frame.metrics else None
    return "length" if reason == "length" else "stop"


def _thought(thinking: str) -> dict[str, str]:
    """A whole reply's thinking under both names servers use (none when it did not think)."""
    return {"reasoning_content": thinking, "reasoning": thinking} if thinking else {}


def _usage(frame: ReplyFrame) -> dict[str, Any]:
    metrics = frame.metrics
    prompt = (metrics.prompt_tokens or 0) if metrics else 0
    completion = metrics.output_tokens if metrics else 0
    usage: dict[str, Any] = {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
    }  # fmt: skip
    if metrics is not None and metrics.reasoning_tokens is not None:  # OpenAI's place for the thinking's share
        usage["completion_tokens_details"] = {"reasoning_tokens": metrics.reasoning_tokens}
    return usage


async def _send_json(send: Send, status: int, payload: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    body = json.dumps(payload, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, exc: ApiError) -> None:
    headers = [(b"retry-after", str(exc.retry_after_s).encode())] if exc.status == 429 else []
    await _send_json(send, exc.status, exc.payload(), headers)
