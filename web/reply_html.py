"""A reply's numbers as one line of escaped HTML, shown under it on the chat page and on share pages."""

from __future__ import annotations

import html


def metrics_line(
    *,
    time_to_first_token_ms: float | None,
    tokens_per_s: float | None,
    output_tokens: int,
    status: str,
    error_message: str | None = None,
) -> str:
    parts = []
    if time_to_first_token_ms is not None:
        parts.append(f"{time_to_first_token_ms / 1000:.2f} s to first token")
    if tokens_per_s is not None:
        parts.append(f"{tokens_per_s:.1f} tokens/s")
    parts.append(f"{output_tokens} token{'s' if output_tokens != 1 else ''}")
    if status == "stopped":
        parts.append("stopped")
    if status == "error":
        parts.append("⚠ " + (error_message or "error"))
    # Gradio's sanitizer keeps classes but drops data-* attributes: the status travels as a class.
    return f'<span class="cl-metrics cl-{html.escape(status)}">{html.escape(" · ".join(parts))}</span>'
