"""The adapter to TGI (and vLLM / llama.cpp ``llama-server``) through ``huggingface_hub.AsyncInferenceClient``.

The only module of ChatLens's own code that uses ``huggingface_hub`` (``compat`` holds the one patch to it). It owns
three things:

* **The connection pool.** huggingface_hub opens one ``httpx2.AsyncClient`` per ``AsyncInferenceClient`` and keeps
  every streamed response open until that client is closed; its default pool stops at 100 connections, and the
  101st stream waits silently. So each reply uses its own short-lived ``AsyncInferenceClient`` (closing it closes
  the upstream stream: on Stop the GPU stops), and all of them share one transport whose pool is sized to the
  concurrency ChatLens serves.
* **The stream.** Chunks become ``TokenChunk``; role-only first chunks (vLLM), ``usage`` chunks and ``null``
  vs. absent fields are tolerated. A stream that ends without ``finish_reason`` is an error, not a reply.
* **The error map.** ``translate_error`` is the one place where HTTP errors, transport errors and error events
  *inside* a 200 stream become ``ChatLensError``s with user-readable messages.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import httpx2
from huggingface_hub import AsyncInferenceClient, get_session, set_async_client_factory
from huggingface_hub.errors import (
    GenerationError,
    HfHubHTTPError,
    IncompleteGenerationError,
    InferenceTimeoutError,
    OverloadedError,
    TextGenerationError,
    ValidationError,
)

import errors
from inference.images import VISION_PIPELINES, content_parts
from inference.types import ChatMessage, GenerationParams, ModelInfo, TokenChunk

log = logging.getLogger(__name__)

_SHOWN_DETAIL_CHARS = 300
# Who answers /v1/models: vLLM says "vllm", llama.cpp's llama-server "llamacpp", llama-cpp-python's server "me".
_BACKEND_BY_OWNER = {"vllm": "vllm", "llamacpp": "llama.cpp", "me": "llama.cpp"}

# huggingface_hub takes its HTTP client from one process-wide factory; the pool of the generator making the
# call is passed to it through this context variable, so two generators never share or swap pools.
_CALLING_POOL: contextvars.ContextVar[_SharedPool] = contextvars.ContextVar("chatlens_pool")


class _SharedPool(httpx2.AsyncBaseTransport):
    """One connection pool lent to many short-lived clients; closing a client does not close the pool.

    Without an API key of its own, it drops the ``Authorization`` header: huggingface_hub would otherwise send the
    host's Hugging Face token (``HF_TOKEN`` or a cached login) to whatever server ``TGI_URL`` names.
    """

    def __init__(self, max_connections: int, *, sends_authorization: bool) -> None:
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._transport = httpx2.AsyncHTTPTransport(limits=limits)
        self._sends_authorization = sends_authorization

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not self._sends_authorization:
            request.headers.pop("authorization", None)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Clients come and go; the pool stays until ``close_pool``."""

    async def close_pool(self) -> None:
        await self._transport.aclose()


def _pooled_http_client() -> httpx2.AsyncClient:
    pool = _CALLING_POOL.get(None)
    return httpx2.AsyncClient(transport=pool, timeout=None, follow_redirects=False)


class TgiGenerator:
    """Streams chat replies from one Messages-API server. Satisfies ``inference.service.TextGenerator``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        request_timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        info_ttl_s: float = 60.0,
        vision: bool | None = None,
        context_tokens: int | None = None,
    ) -> None:
        """``vision``: whether the model sees images, as configured (``MODELS[].vision``); ``None``: as the server
        says (TGI's ``/info`` pipeline tag; vLLM's and llama-server's ``/v1/models`` do not say: set it for them).
        ``context_tokens``: the window to assume when the server does not report one."""
        self.base_url = base_url.rstrip("/")
        self._vision = vision
        self._context_tokens = context_tokens
        self._api_key = api_key
        self._timeout = httpx2.Timeout(request_timeout_s, connect=connect_timeout_s)
        self._pool = _SharedPool(max_connections, sends_authorization=bool(api_key))
        self._info_ttl_s = info_ttl_s
        self._info: ModelInfo | None = None
        self._info_read_at = 0.0
        self._info_lock = asyncio.Lock()
        set_async_client_factory(_pooled_http_client)

    def _new_http_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=self._pool, timeout=self._timeout, follow_redirects=False)

    def _client(self) -> AsyncInferenceClient:
        _CALLING_POOL.set(self._pool)
        return AsyncInferenceClient(
            base_url=self.base_url,
            provider="hf-inference",
            api_key=self._api_key,
            timeout=self._timeout,  # type: ignore[arg-type]
        )

    async def aclose(self) -> None:
        await self._pool.close_pool()

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[TokenChunk, None]:
        """Yield the reply chunk by chunk. Closing this generator closes the upstream HTTP stream.

        A stream that breaks before its first chunk is tried once more: after a model server restarts, the pool's
        kept-alive connection to the old process is dead, and nothing has reached the user yet.
        """
        for attempt in (1, 2):
            started = False
            try:
                async with aclosing(self._attempt(messages, params)) as chunks:
                    async for chunk in chunks:
                        started = True
                        yield chunk
                return
            except errors.IncompleteReply:
                if started or attempt == 2:
                    raise
                log.info("the model stream broke before its first chunk; retrying on a fresh connection")

    async def _attempt(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[TokenChunk, None]:
        info = await self.info()
        finish_reason: str | None = None
        try:
            async with self._client() as client:
                try:
                    chunks = await client.chat_completion(
                        [{"role": m.role, "content": content_parts(m.content, m.images)} for m in messages],
                        model=info.request_model,
                        stream=True,
                        stream_options={"include_usage": True},
                        max_tokens=params.max_tokens,
                        temperature=params.temperature,
                        top_p=params.top_p,
                        frequency_penalty=params.frequency_penalty,
                        seed=params.seed,
                        stop=list(params.stop) or None,
                        extra_body=_thinking_fields(params) or None,
                    )
                except httpx2.ResponseNotRead as exc:
                    # huggingface_hub reads the body of a failed *streaming* 422 without loading it first.
                    http_error = exc.__context__
                    if not isinstance(http_error, HfHubHTTPError) or http_error.response is None:
                        raise
                    await http_error.response.aread()
                    raise _with_thinking_hint(translate_error(http_error), params) from http_error
                async for chunk in chunks:
                    usage = chunk.usage
                    if not chunk.choices:
                        if usage is not None:
                            yield _usage_chunk(usage)
                        continue
                    choice = chunk.choices[0]
                    delta = choice.delta
                    text = (delta.content if delta is not None else None) or ""
                    # A delta may carry only thinking and no content: it must not be skipped as empty.
                    reasoning = _reasoning_of(delta)
                    finish_reason = choice.finish_reason or None
                    if text or reasoning or finish_reason or usage is not None:
                        counted = _usage_chunk(usage) if usage is not None else TokenChunk()
                        yield replace(counted, text=text, reasoning=reasoning, finish_reason=finish_reason)
        except (errors.ChatLensError, asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise _with_thinking_hint(translate_error(exc), params) from exc
        if finish_reason is None:
            raise errors.IncompleteReply(detail="stream ended without finish_reason")

    async def info(self) -> ModelInfo:
        """``/info`` (TGI) or ``/v1/models`` (vLLM, llama-server), cached for ``info_ttl_s``."""
        if self._info is not None and time.monotonic() - self._info_read_at < self._info_ttl_s:
            return self._info
        async with self._info_lock:
            if self._info is None or time.monotonic() - self._info_read_at >= self._info_ttl_s:
                info = await self._read_info()
                self._info = info if self._vision is None else replace(info, vision=self._vision)
                self._info_read_at = time.monotonic()
            return self._info

    async def _read_info(self) -> ModelInfo:
        try:
            async with self._client() as client:
                try:
                    raw = await client.get_endpoint_info()
                except HfHubHTTPError as exc:
                    if exc.response is None or exc.response.status_code != 404:
                        raise
                    return await self._read_openai_models()
        except errors.ChatLensError:
            raise
        except Exception as exc:
            raise translate_error(exc) from exc
        return ModelInfo(
            model_id=str(raw.get("model_id") or "unknown model"),
            backend="tgi",
            request_model="tgi",
            server_url=self.base_url,
            version=raw.get("version"),
            max_input_tokens=raw.get("max_input_tokens") or raw.get("max_input_length"),
            max_total_tokens=raw.get("max_total_tokens") or self._context_tokens,
            max_stop_sequences=raw.get("max_stop_sequences"),
            vision=raw.get("model_pipeline_tag") in VISION_PIPELINES,
        )

    async def _read_openai_models(self) -> ModelInfo:
        """Servers without ``/info`` list their model at ``/v1/models``; its id must be sent as ``model``."""
        async with self._new_http_client() as http:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            response = await http.get(f"{self.base_url}/v1/models", headers=headers)
            response.raise_for_status()
            models = response.json().get("data") or [{}]
            model_id = str(models[0].get("id") or "unknown model")
            backend = _BACKEND_BY_OWNER.get(str(models[0].get("owned_by")), "openai")
            window = await self._llama_server_context(http, headers) if backend == "llama.cpp" else None
        return ModelInfo(
            model_id=model_id, backend=backend, request_model=model_id, server_url=self.base_url,
            max_total_tokens=window or self._context_tokens,
        )  # fmt: skip

    async def _llama_server_context(self, http: httpx2.AsyncClient, headers: dict[str, str]) -> int | None:
        """llama-server's window: ``/props`` → ``default_generation_settings.n_ctx`` (``None``: no such route)."""
        try:
            response = await http.get(f"{self.base_url}/props", headers=headers)
            if response.status_code != 200:
                return None
            n_ctx = (response.json().get("default_generation_settings") or {}).get("n_ctx")
            return int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None
        except Exception:  # a server without /props (llama-cpp-python's) answers 404 or something else
            return None

    async def health(self) -> bool:
        """TGI's (and llama-server's) ``/health``; a server without one (404) is healthy if it lists a model."""
        try:
            async with self._new_http_client() as http:
                status = (await http.get(f"{self.base_url}/health")).status_code
                if status == 404:
                    status = (await http.get(f"{self.base_url}/v1/models")).status_code
                return status == 200
        except Exception:
            return False


def _thinking_fields(params: GenerationParams) -> dict[str, Any]:
    """What turns thinking on or off, only where the user set it: ``chat_template_kwargs`` carries both names the
    chat templates read (``enable_thinking``: Qwen3; ``thinking``: DeepSeek-V3.1, Granite), ``reasoning_effort`` goes
    as is (gpt-oss)."""
    fields: dict[str, Any] = {}
    if params.thinking is not None:
        fields["chat_template_kwargs"] = {"enable_thinking": params.thinking, "thinking": params.thinking}
    if params.reasoning_effort is not None:
        fields["reasoning_effort"] = params.reasoning_effort
    return fields


def _with_thinking_hint(error: errors.ChatLensError, params: GenerationParams) -> errors.ChatLensError:
    """A server that does not know the thinking fields refuses the request (400/422): say which setting to change."""
    if not _thinking_fields(params) or not isinstance(error, errors.InvalidParameters):
        return error
    return errors.InvalidParameters(
        f"{error.user_message} — this model server may not take the thinking settings: set Thinking and Reasoning "
        "effort to Default.",
        detail=error.detail,
    )


def _reasoning_of(delta: Any) -> str:
    """Thinking sent beside the content: ``reasoning`` (vLLM ≥ 0.11) or ``reasoning_content`` (older vLLM, SGLang,
    llama.cpp, DeepSeek). huggingface_hub keeps the field it does not declare as an attribute too."""
    if delta is None:
        return ""
    text = getattr(delta, "reasoning", None) or getattr(delta, "reasoning_content", None)
    return text if isinstance(text, str) else ""


def _usage_chunk(usage: Any) -> TokenChunk:
    details = getattr(usage, "completion_tokens_details", None)
    reasoning_tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return TokenChunk(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        reasoning_tokens=reasoning_tokens if isinstance(reasoning_tokens, int) else None,
    )


def model_server_answers(base_url: str, *, timeout_s: float) -> bool:
    """A blocking health check for start-up (its own client: the streaming pool belongs to the serving loop).

    ``/health`` where the server has one (TGI, llama-server), else ``/v1/models`` (llama-cpp-python's server).
    """
    base_url = base_url.rstrip("/")
    try:
        status = get_session().get(f"{base_url}/health", timeout=timeout_s).status_code
        if status == 404:
            status = get_session().get(f"{base_url}/v1/models", timeout=timeout_s).status_code
        return status == 200
    except Exception:
        return False


def translate_error(exc: BaseException) -> errors.ChatLensError:
    """Turn anything the client or the server raised into one of ChatLens's user-facing errors."""
    if isinstance(exc, errors.ChatLensError):
        return exc
    if isinstance(exc, InferenceTimeoutError | httpx2.TimeoutException | TimeoutError):
        return errors.ServerTimeout(detail=repr(exc))
    if isinstance(exc, httpx2.ConnectError):
        return errors.ServerUnreachable(detail=repr(exc))
    if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.WriteError):
        return errors.IncompleteReply(
            "The connection to the model server broke in the middle of the reply. Retry.", detail=repr(exc)
        )
    if isinstance(exc, TextGenerationError):
        return _from_stream_error(exc)
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return _from_http_error(exc.response.status_code, _body_text(exc.response), exc)
    if isinstance(exc, httpx2.HTTPStatusError):
        return _from_http_error(exc.response.status_code, _body_text(exc.response), exc)
    if isinstance(exc, json.JSONDecodeError | ValueError | KeyError | TypeError):
        return errors.GenerationFailed(
            "The model server sent a reply ChatLens could not read. Check that TGI_URL points at a "
            "Messages-API server.",
            detail=repr(exc),
        )
    log.exception("unexpected error from the model server", exc_info=exc)
    return errors.GenerationFailed(detail=repr(exc))


def _body_text(response: httpx2.Response) -> str:
    try:
        return response.text
    except httpx2.ResponseNotRead:
        return ""


def _server_message(payload: Any) -> str:
    """The human part of TGI's ``{"error": str}``, TGI chat's ``{"error": {"message": …}}`` or vLLM's shape."""
    if isinstance(payload, dict):
        inner = payload.get("error", payload)
        if isinstance(inner, dict):
            return str(inner.get("message") or inner)
        return str(inner if inner is not None else payload.get("message", ""))
    return str(payload)


def _from_stream_error(exc: TextGenerationError) -> errors.ChatLensError:
    message = _server_message(exc.args[0] if exc.args else "")
    if isinstance(exc, OverloadedError):
        return errors.Overloaded(detail=message)
    if isinstance(exc, IncompleteGenerationError):
        return errors.IncompleteReply(detail=message)
    if isinstance(exc, GenerationError):
        return errors.GenerationFailed(detail=message)
    if isinstance(exc, ValidationError):
        return _from_validation(message)
    return _classify(message, status=None)


def _from_http_error(status: int, body: str, exc: BaseException) -> errors.ChatLensError:
    try:
        message = _server_message(json.loads(body)) if body else ""
    except json.JSONDecodeError:
        message = body
    return _classify(message, status=status, detail=repr(exc))


def _classify(message: str, *, status: int | None, detail: str | None = None) -> errors.ChatLensError:
    lowered = message.lower()
    detail = detail or message
    if status == 429 or "overloaded" in lowered:
        return errors.Overloaded(detail=detail)
    if status in (401, 403):
        return errors.AuthRejected(detail=detail)
    if status == 503 or "loading model" in lowered or "unhealthy" in lowered:
        return errors.Unavailable(detail=detail)
    if status == 404:
        return errors.ServerUnreachable(
            "The model server has no chat endpoint at TGI_URL. Check the address.", detail=detail
        )
    if "incomplete generation" in lowered:
        return errors.IncompleteReply(detail=detail)
    if status == 424 or "failed during generation" in lowered:
        return errors.GenerationFailed(detail=detail)
    if status in (400, 413, 422) or "validation" in lowered:
        return _from_validation(message, detail=detail)
    return errors.GenerationFailed(detail=detail)


def _from_validation(message: str, *, detail: str | None = None) -> errors.ChatLensError:
    lowered = message.lower()
    if ("tokens" in lowered and ("must be <=" in lowered or "less than" in lowered or "exceed" in lowered)) or (
        "context" in lowered and ("length" in lowered or "exceed" in lowered)
    ):
        return errors.InputTooLong(detail=detail or message)
    shown = message.removeprefix("Input validation error: ")[:_SHOWN_DETAIL_CHARS]
    return errors.InvalidParameters(
        f"The model server rejected the request: {shown}" if shown else None, detail=detail or message
    )
