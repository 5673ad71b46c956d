"""Streamed chat chunks read cheaply: a faster stand-in for one step of huggingface_hub's streaming.

``AsyncInferenceClient.chat_completion(stream=True)`` turns every SSE line into a ``ChatCompletionStreamOutput``:
nested dataclasses that mirror themselves into dicts (``parse_obj`` + ``asdict`` at every level), ~50 µs a chunk,
measured as the largest part of ChatLens's CPU per streamed token. ChatLens reads a few fields of a chunk.

``line_reader`` makes a stand-in for the library's per-line formatter (``compat.hub_chunks`` installs it, on the
huggingface_hub version it was checked on). The contract is kept: ``None`` for lines that are not ``data:``,
``StopIteration`` at ``data: [DONE]``, the library's own exception for an in-stream error event (built by the
function it is given), and otherwise a chunk with the same attribute paths (``choices[i].delta.content``,
``choices[i].finish_reason``, ``usage.prompt_tokens`` …), made of plain slotted objects. The HTTP, the SSE reading and
the errors stay the library's. This module does not import huggingface_hub.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ErrorFromEvent = Callable[[Any, Any], Exception]  # (error, error_type) of an in-stream error event -> the exception


@dataclass(frozen=True, slots=True)
class Delta:
    role: Any = None
    content: Any = None
    tool_calls: Any = None
    reasoning: Any = None  # vLLM ≥ 0.11 with a reasoning parser
    reasoning_content: Any = None  # older vLLM, SGLang, llama.cpp --reasoning-format, DeepSeek's API


@dataclass(frozen=True, slots=True)
class Choice:
    index: Any
    delta: Delta | None
    finish_reason: Any = None
    logprobs: Any = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: Any = None
    completion_tokens: Any = None
    total_tokens: Any = None
    completion_tokens_details: Any = None  # {"reasoning_tokens": n} where the server sends it


@dataclass(frozen=True, slots=True)
class Chunk:
    choices: list[Choice]
    usage: Usage | None
    model: Any = None
    id: Any = None
    created: Any = None
    system_fingerprint: Any = None


def line_reader(error_from_event: ErrorFromEvent) -> Callable[[str], Chunk | None]:
    """A per-line formatter that reads one SSE line of a streamed chat completion as huggingface_hub's would."""

    def read_line(line: str) -> Chunk | None:
        if not line.startswith("data:"):
            return None
        body = line[5:].strip()
        if body == "[DONE]":
            raise StopIteration("[DONE] signal received.")
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError(f"a stream chunk must be a JSON object, not {type(payload).__name__}")
        if payload.get("error") is not None:
            raise error_from_event(payload["error"], payload.get("error_type"))
        return Chunk(
            choices=[_choice(c) for c in payload.get("choices") or () if isinstance(c, dict)],
            usage=_usage(payload.get("usage")),
            model=payload.get("model"),
            id=payload.get("id"),
            created=payload.get("created"),
            system_fingerprint=payload.get("system_fingerprint"),
        )

    return read_line


def _choice(raw: dict[str, Any]) -> Choice:
    delta = raw.get("delta")
    return Choice(
        index=raw.get("index"),
        delta=Delta(
            delta.get("role"),
            delta.get("content"),
            delta.get("tool_calls"),
            delta.get("reasoning"),
            delta.get("reasoning_content"),
        )
        if isinstance(delta, dict)
        else None,
        finish_reason=raw.get("finish_reason"),
        logprobs=raw.get("logprobs"),
    )


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(
        raw.get("prompt_tokens"),
        raw.get("completion_tokens"),
        raw.get("total_tokens"),
        raw.get("completion_tokens_details"),
    )
