"""Gradio's queue protocol spoken by hand (join, then read the SSE stream), as any HTTP client can.

Tests use it to call functions by ``fn_index`` — including ones the page hides (``api_visibility="private"``),
which Gradio runs for anyone who asks — and to control exactly which cookies and headers are sent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import gradio as gr
import httpx


def fn_index(demo: gr.Blocks, name: str) -> int:
    """The index of the event whose handler is the method called ``name``."""
    return int(next(i for i, f in demo.fns.items() if getattr(f.fn, "__name__", "") == name))


def call(
    client: httpx.Client,
    fn: int,
    data: list[Any],
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    event_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Join the queue and read until the event completes; returns the ``process_completed`` message."""
    session_hash = uuid.uuid4().hex[:11]
    body = {"data": data, "fn_index": fn, "session_hash": session_hash, "event_data": event_data, "trigger_id": None}
    joined = client.post(f"/gradio_api/queue/join{query}", json=body, headers=headers)
    joined.raise_for_status()
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session_hash}", headers=headers) as stream:
        stream.raise_for_status()
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                return dict(message)
    raise AssertionError("the event stream ended without process_completed")
