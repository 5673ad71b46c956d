"""The fast chunk reader reads every recorded and edge-case line exactly as huggingface_hub's own formatter does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub.errors import OverloadedError, ValidationError
from huggingface_hub.inference import _common

from compat.hub_chunks import LIBRARY_READER
from inference import tgi_chunks

read_line = tgi_chunks.line_reader(_common._parse_text_generation_error)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tgi"


def recorded_lines() -> list[str]:
    lines = (FIXTURES / "chat_stream_tgi_3.2.1.body.txt").read_text().splitlines()
    for name in ("test_json_schema_stream.json", "test_chat_hfhub_usage.json"):
        lines += [f"data: {json.dumps(chunk)}" for chunk in json.loads((FIXTURES / name).read_text())]
    return [line.strip() for line in lines]


EDGE_LINES = [
    "",
    ": keep-alive comment",
    "event: message",
    "data: [DONE]",
    'data: {"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}',  # vLLM: role only
    'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}',  # usage chunk
    'data: {"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}',
    'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"extra_field":{"a":1}}',
    'data:{"choices":[{"index":0,"delta":{"content":"no space"},"finish_reason":"length"}]}',
    'data: {"choices":[{"index":0,"delta":{"content":"<img src=x onerror=alert(1)> é 中 \\u0000"}}]}',
    'data: {"usage":null}',
    'data: {"choices":[{"index":0,"delta":{"reasoning":"hmm","content":null}}]}',  # vLLM >= 0.11
    'data: {"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hmm"}}]}',  # SGLang, llama.cpp
    'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":30,"total_tokens":37,'
    '"completion_tokens_details":{"reasoning_tokens":21}}}',
]


def outcome(reader: Any, line: str) -> Any:
    """What a reader makes of a line: None, a stop, an exception (type and message) or the fields ChatLens reads."""
    try:
        chunk = reader(line)
    except StopIteration:
        return "stop"
    except Exception as exc:
        return (type(exc), str(exc))
    if chunk is None:
        return None
    usage = chunk.usage
    return (
        [
            (c.index, c.finish_reason, None if c.delta is None else (c.delta.role, c.delta.content, *_thinking(c)))
            for c in chunk.choices or ()  # the library leaves a missing list None, ChatLens reads it as empty
        ],
        None
        if usage is None
        else (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            getattr(usage, "completion_tokens_details", None),  # the library keeps unknown fields as attributes
        ),
        chunk.model,
    )


def _thinking(choice: Any) -> tuple[Any, Any]:
    return getattr(choice.delta, "reasoning", None), getattr(choice.delta, "reasoning_content", None)


@pytest.mark.parametrize("line", recorded_lines() + EDGE_LINES)
def test_reads_like_the_library(line: str) -> None:
    assert outcome(read_line, line) == outcome(LIBRARY_READER, line)


def test_the_recorded_streams_hold_text_and_usage() -> None:
    """The comparison above is not vacuous: the recordings carry content, finish reasons and usage."""
    chunks = [c for line in recorded_lines() if (c := outcome(read_line, line)) not in (None, "stop")]
    assert sum(1 for choices, _, _ in chunks for _, _, delta in choices if delta and delta[1]) > 20
    assert any(reason for choices, _, _ in chunks for _, reason, _ in choices)
    assert any(usage is not None for _, usage, _ in chunks)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('data: {"error":"Model is overloaded","error_type":"overloaded"}', OverloadedError),
        ('data: {"error":"Input validation error: bad","error_type":"validation"}', ValidationError),
    ],
)
def test_in_stream_errors_raise_the_library_exceptions(line: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_line(line)
    with pytest.raises(error):
        LIBRARY_READER(line)


@pytest.mark.parametrize("line", ["data: [1, 2]", "data: 42", "data: not json", 'data: {"choices": ['])
def test_unreadable_chunks_raise_errors_the_error_map_knows(line: str) -> None:
    """A list, a number or broken JSON: a ValueError (JSONDecodeError is one), which becomes "could not read"."""
    import errors
    from inference.tgi import translate_error

    with pytest.raises(ValueError) as caught:
        read_line(line)
    assert isinstance(translate_error(caught.value), errors.GenerationFailed)
