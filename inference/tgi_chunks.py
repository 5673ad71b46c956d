"""Streamed chat chunks read cheaply: a faster stand-in for one step of huggingface_hub's streaming.

``AsyncInferenceClient.chat_completion(stream=True)`` turns every SSE line into a ``ChatCompletionStreamOutput``:
nested dataclasses that mirror themselves into dicts (``parse_obj`` + ``asdict`` at every level), ~50 µs a chunk,
measured as the largest part of ChatLens's CPU per streamed token. ChatLens reads four fields of a chunk.

``install()`` replaces the library's per-line formatter (``_format_chat_completion_stream_output``, which its
stream reader looks up by name for each line) with ``read_line``. The contract is kept: ``None`` for lines that are
not ``data:``, ``StopIteration`` at ``data: [DONE]``, the library's own exception for an in-stream error event, and
otherwise a chunk with the same attribute paths (``choices[i].delta.content``, ``choices[i].finish_reason``,
``usage.prompt_tokens`` …), built from plain slotted objects. The HTTP, the SSE reading and the errors stay the
library's. Installed only on the huggingface_hub version it was checked on; on any other the library parses as
before.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import huggingface_hub
from huggingface_hub.inference import _common

log = logging.getLogger(__name__)

CHECKED_ON = "2.4."
LIBRARY_READER = _common._format_chat_completion_stream_output  # kept for the equivalence tests


@dataclass(frozen=True, slots=True)
class Delta:
    role: Any = None
    content: Any = None
    tool_calls: Any = None


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


@dataclass(frozen=True, slots=True)
class Chunk:
    choices: list[Choice]
    usage: Usage | None
    model: Any = None
    id: Any = None
    created: Any = None
    system_fingerprint: Any = None


def read_line(line: str) -> Chunk | None:
    """One SSE line of a streamed chat completion, as huggingface_hub's formatter would read it."""
    if not line.startswith("data:"):
        return None
    body = line[5:].strip()
    if body == "[DONE]":
        raise StopIteration("[DONE] signal received.")
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError(f"a stream chunk must be a JSON object, not {type(payload).__name__}")
    if payload.get("error") is not None:
        raise _common._parse_text_generation_error(payload["error"], payload.get("error_type"))
    return Chunk(
        choices=[_choice(c) for c in payload.get("choices") or () if isinstance(c, dict)],
        usage=_usage(payload.get("usage")),
        model=payload.get("model"),
        id=payload.get("id"),
        created=payload.get("created"),
        system_fingerprint=payload.get("system_fingerprint"),
    )


def _choice(raw: dict[str, Any]) -> Choice:
    delta = raw.get("delta")
    return Choice(
        index=raw.get("index"),
        delta=Delta(delta.get("role"), delta.get("content"), delta.get("tool_calls"))
        if isinstance(delta, dict)
        else None,
        finish_reason=raw.get("finish_reason"),
        logprobs=raw.get("logprobs"),
    )


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(raw.get("prompt_tokens"), raw.get("completion_tokens"), raw.get("total_tokens"))


def install() -> bool:
    """Use ``read_line`` for streamed chat chunks (idempotent). False, with a warning, on an unchecked version."""
    if not huggingface_hub.__version__.startswith(CHECKED_ON):
        log.warning("huggingface_hub %s: fast chunk reading not installed (checked on %sx)",
                    huggingface_hub.__version__, CHECKED_ON)  # fmt: skip
        return False
    _common._format_chat_completion_stream_output = read_line  # type: ignore[assignment]
    return True
