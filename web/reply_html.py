"""A reply's numbers as one line of escaped HTML, shown under it on the chat page and on share pages."""

from __future__ import annotations

import html

import locales


def metrics_line(
    *,
    time_to_first_token_ms: float | None,
    tokens_per_s: float | None,
    output_tokens: int,
    status: str,
    error_message: str | None = None,
    time_to_first_answer_ms: float | None = None,
    reasoning_tokens: int | None = None,
    reply_id: str | None = None,
    language: str = locales.SOURCE,
) -> str:
    """``reasoning_tokens`` set: the reply thought first, and the line says when its answer began and what share of
    its tokens was thinking. ``reply_id`` (a live reply's assistant message id): the page's beacon reports what the
    browser saw of that reply against it (``web.browser_beacon``). Words and decimal marks in ``language``."""

    def say(key: str, **values: object) -> str:
        return locales.text(key, language, **values)

    def number(value: float, digits: int) -> str:
        return f"{value:.{digits}f}".replace(".", say("number_decimal"))

    parts = []
    if time_to_first_token_ms is not None:
        parts.append(say("metrics_first_token", seconds=number(time_to_first_token_ms / 1000, 2)))
    if reasoning_tokens is not None and time_to_first_answer_ms is not None:
        parts.append(say("metrics_answer", seconds=number(time_to_first_answer_ms / 1000, 2)))
    if tokens_per_s is not None:
        parts.append(say("metrics_rate", rate=number(tokens_per_s, 1)))
    tokens = say("metrics_token" if output_tokens == 1 else "metrics_tokens", count=output_tokens)
    parts.append(
        say("metrics_thinking", tokens=tokens, count=reasoning_tokens) if reasoning_tokens is not None else tokens
    )
    if status == "stopped":
        parts.append(say("metrics_stopped"))
    if status == "error":
        parts.append("⚠ " + (error_message or say("metrics_error")))
    # Gradio's sanitizer keeps classes but drops data-* attributes: the status and the reply's id travel as classes.
    reply = f" cl-reply-{html.escape(reply_id)}" if reply_id else ""
    return f'<span class="cl-metrics cl-{html.escape(status)}{reply}">{html.escape(" · ".join(parts))}</span>'
