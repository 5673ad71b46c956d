"""Pure functions from ChatLens values to what Gradio components display. No I/O, no state.

A reply is shown as the assistant's message followed by a small performance line (its own message, styled by
``.cl-metrics``), so copying a reply copies only the reply. A reply that thought has its thinking first, as a
collapsible thought (Gradio's ``metadata`` title): open with a spinner while the model thinks, collapsed once the
answer starts, titled with how long it thought. The thinking is escaped: it is shown as text, never as HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import locales
from errors import message_for_kind
from inference.images import ImageRef
from inference.model_output import without_form_controls
from inference.ports import ReplyFrame
from inference.types import GenerationMetrics, ModelInfo
from storage.store import ConversationView
from storage.versions import Versions
from web.images import image_url
from web.markdown_html import math_spans
from web.reply_html import metrics_line

ChatMessages = list[dict[str, Any]]

# What the Chatbot typesets: $$…$$ and \[…\] on a line of their own, \(…\) inline. A reply's inline $…$ becomes
# \(…\) first (``with_inline_math``) where pandoc's rule says it is math, so prices ("$5 and $10") stay text.
LATEX_DELIMITERS: list[dict[str, str | bool]] = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
]


def with_inline_math(text: str) -> str:
    """``text`` with each inline ``$…$`` that is math (``web.markdown_html.math_spans``) written as ``\\(…\\)``."""
    pieces, at = [], 0
    for start, end, display in math_spans(text):
        if not display:
            pieces += [text[at:start], "\\(", text[start + 1 : end - 1], "\\)"]
            at = end
    return "".join(pieces) + text[at:] if pieces else text


def answer_html(text: str) -> str:
    """A reply's answer as the chat shows it."""
    return with_inline_math(without_form_controls(text))


# "Like" and "Dislike" render as thumbs; the others sit under a flag and count as 👎 with that reason.
FEEDBACK_OPTIONS = ("Like", "Dislike", "Too slow", "Wrong", "Unsafe")


def frame_metrics_line(frame: ReplyFrame, language: str = locales.SOURCE) -> str:
    m: GenerationMetrics | None = frame.metrics
    error = frame.error
    return metrics_line(
        time_to_first_token_ms=m.time_to_first_token_ms if m else None,
        tokens_per_s=m.tokens_per_s if m else None,
        output_tokens=m.output_tokens if m else 0,
        status=frame.phase,
        error_message=locales.error_sentence(error.user_message, language) if error else None,
        time_to_first_answer_ms=m.time_to_first_answer_ms if m else None,
        reasoning_tokens=m.reasoning_tokens if m else None,
        reply_id=str(frame.message_id) if frame.message_id else None,
        language=language,
    )


# Ends a thought's text on the page, so the page's copy handler (``ui/assets.py``) can drop the thought from a copy.
THOUGHT_END = "\u2063"  # INVISIBLE SEPARATOR


def thinking_title(thinking_s: float | None, *, still_thinking: bool, language: str = locales.SOURCE) -> str:
    key = "thought_now" if still_thinking else "thought_done"
    if thinking_s is None:
        return locales.text(key, language)
    return locales.text(f"{key}_for", language, seconds=locales.number(thinking_s, language, 1))


def thinking_message(
    thinking: str, thinking_s: float | None, *, still_thinking: bool, language: str = locales.SOURCE
) -> dict[str, Any]:
    """The thought above an answer: collapsible, open (``pending``) while thinking, closed (``done``) after."""
    return {
        "role": "assistant",
        "content": html.escape(thinking.strip()) + THOUGHT_END,
        "metadata": {
            "title": thinking_title(thinking_s, still_thinking=still_thinking, language=language),
            "status": "pending" if still_thinking else "done",
        },
    }


def reply_messages(frame: ReplyFrame, language: str = locales.SOURCE) -> ChatMessages:
    """The assistant's part of the chat for one frame: the thinking (if any), the answer so far, then the metrics
    line once final (its error sentence in ``language``)."""
    messages: ChatMessages = []
    if frame.thinking.strip():
        still = frame.phase == "thinking"
        messages.append(thinking_message(frame.thinking, frame.thinking_s, still_thinking=still, language=language))
    if frame.text or (not frame.is_final and frame.phase != "thinking"):
        messages.append({"role": "assistant", "content": answer_html(frame.text)})
    if frame.is_final:
        messages.append({"role": "assistant", "content": frame_metrics_line(frame, language)})
    return messages


THUMBS_START = '\n\n<span class="cl-thumbs">'
_THUMBS = re.compile(re.escape(THUMBS_START) + r".*?</span>\Z", re.DOTALL)


def user_content(text: str, images: Sequence[ImageRef]) -> str:
    """A user message as shown: its text, then a thumbnail per image (served to its owner only: ``web.images``).
    The file name is the user's and may be hostile: it is escaped, and only ever an attribute."""
    if not images:
        return text
    thumbs = "".join(
        f'<img class="cl-thumb" src="{image_url(ref.sha256)}" alt="{html.escape(ref.name, quote=True)}" '
        f'title="{html.escape(ref.name, quote=True)}">'
        for ref in images
    )
    return f"{text}{THUMBS_START}{thumbs}</span>"


def attaching(text: str, count: int) -> str:
    """A user message with images before it is stored (the thumbnails can be fetched once it is)."""
    return f"{text}\n\n*📎 {count} image{'s' if count != 1 else ''}*" if count else text


def without_thumbnails(text: str) -> str:
    """The text of a shown user message (what an edit of it keeps): no version switcher, no thumbnails."""
    return _THUMBS.sub("", without_versions(text))


def without_versions(text: str) -> str:
    """A shown message without its ‹ n/m › switcher (a reply streamed on this page has none yet)."""
    return _VERSIONS.sub("", text)


VERSIONS_START = '\n\n<span class="cl-versions"'
_VERSIONS = re.compile(re.escape(VERSIONS_START) + r".*?</button></span>\Z", re.DOTALL)


def versions_html(versions: Versions, language: str = locales.SOURCE) -> str:
    """The ‹ n/m › switcher of a message that has versions (``storage.versions``). Each arrow names the version
    it shows (its ``value``); the page script (``ui.versions``) sends that id. Ends the message's content.

    The Chatbot's sanitiser drops ``aria-*`` and ``data-*`` attributes: the arrows are named by visually hidden
    text (the arrow itself is CSS), the group by its ``title``."""

    def arrow(kind: str, name: str, target: object) -> str:
        shown = f' value="{target}"' if target is not None else " disabled"
        return (
            f'<button class="cl-ver cl-ver-{kind}" type="button" title="{html.escape(name, quote=True)}"{shown}>'
            f'<span class="cl-sr">{html.escape(name)}</span></button>'
        )

    number = f"{versions.number}/{versions.count}"
    group = locales.text("versions_group", language, number=versions.number, count=versions.count)
    return (
        f'{VERSIONS_START} role="group" title="{html.escape(group, quote=True)}">'
        f"{arrow('prev', locales.text('versions_previous', language), versions.previous)}"
        f'<span class="cl-ver-n">{number}</span>'
        f"{arrow('next', locales.text('versions_next', language), versions.next)}</span>"
    )


def _with_versions(content: str, versions: Versions | None, language: str) -> str:
    return content + versions_html(versions, language) if versions is not None else content


def conversation_messages(view: ConversationView, language: str = locales.SOURCE) -> ChatMessages:
    messages: ChatMessages = []
    for message in view.messages:
        if message.role == "user":
            content = _with_versions(user_content(message.content, message.images), message.versions, language)
            messages.append({"role": "user", "content": content})
            continue
        m: Mapping[str, Any] = message.metrics or {}
        if message.reasoning:
            thinking_ms = m.get("thinking_ms")
            thinking_s = thinking_ms / 1000 if thinking_ms is not None else None
            messages.append(thinking_message(message.reasoning, thinking_s, still_thinking=False, language=language))
        if message.content:
            messages.append({"role": "assistant", "content": answer_html(message.content)})
        line = metrics_line(
            time_to_first_token_ms=m.get("time_to_first_token_ms"),
            tokens_per_s=m.get("tokens_per_s"),
            output_tokens=int(m.get("output_tokens") or 0),
            status=message.status,
            error_message=_error_label(m.get("error_type"), language),
            time_to_first_answer_ms=m.get("time_to_first_answer_ms"),
            reasoning_tokens=m.get("reasoning_tokens"),
            language=language,
        )
        messages.append({"role": "assistant", "content": _with_versions(line, message.versions, language)})
    return messages


def message_ids(view: ConversationView) -> list[Any]:
    """The stored message behind each item ``conversation_messages`` shows (a reply's metrics line is the reply's)."""
    ids: list[Any] = []
    for message in view.messages:
        shown = 1 if message.role == "user" else 1 + bool(message.content) + bool(message.reasoning)
        ids.extend([message.id] * shown)
    return ids


def frame_context_html(frame: ReplyFrame, language: str = locales.SOURCE) -> str:
    use = frame.context
    return context_html(use.used_tokens, use.limit_tokens, use.dropped_messages, use.measured, language) if use else ""


def stopped_on_length(frame: ReplyFrame) -> bool:
    """A finished reply that hit ``max_tokens``: the Continue button applies."""
    return frame.phase == "complete" and frame.metrics is not None and frame.metrics.finish_reason == "length"


def context_html(
    used_tokens: int, limit_tokens: int | None, dropped_messages: int, measured: bool, language: str = locales.SOURCE
) -> str:
    """How full the model's window is: "~" while estimated, exact once the server reported its usage."""
    if not limit_tokens:
        return ""
    share = min(used_tokens / limit_tokens, 1.0) if limit_tokens > 0 else 1.0
    approx = "" if measured else "~"
    left_out = (
        locales.text(
            "context_left_out_one" if dropped_messages == 1 else "context_left_out_many", language,
            count=locales.number(dropped_messages, language),
        )
        if dropped_messages
        else ""
    )  # fmt: skip
    used = locales.text(
        "context_used", language, used=approx + locales.number(used_tokens, language),
        limit=locales.number(limit_tokens, language),
    )  # fmt: skip
    level = "cl-ctx-high" if share > 0.85 else ""
    title = html.escape(locales.text("context_title", language), quote=True)
    return (
        f'<div class="cl-context {level}" title="{title}">'
        f'<span class="cl-ctx-bar"><span style="width:{share * 100:.0f}%"></span></span>'
        f'<span class="cl-ctx-text">{html.escape(used + left_out)}</span></div>'
    )


def _error_label(error_type: str | None, language: str) -> str | None:
    """A stored error as the sentence the user saw when it happened (not its code)."""
    return locales.error_sentence(message_for_kind(error_type), language) if error_type else None


def strip_reply(history: ChatMessages) -> ChatMessages:
    """The chat without its trailing assistant messages (the reply that Retry replaces)."""
    end = len(history)
    while end and history[end - 1].get("role") == "assistant":
        end -= 1
    return history[:end]


def status_html(frame: ReplyFrame, language: str = locales.SOURCE) -> str:
    """The running clock under the chat: ``waiting`` until the first token, then ``generating`` — for a model that
    thinks first, ``thinking`` until its answer starts, then ``answering``. The page makes ``#cl-status`` a polite
    live region (``ui/assets.py``): the phase is read out when it changes; the dot and the ticking clock are hidden
    from screen readers, or the clock would be read out ten times a second."""
    if frame.is_final:
        return ""
    if frame.phase == "waiting":
        label = locales.text("status_waiting", language)
    elif frame.phase == "thinking":
        label = locales.text("status_thinking", language)
    else:
        label = locales.text("status_answering" if frame.thinking else "status_generating", language)
    return (
        f'<div class="cl-clock" data-phase="{frame.phase}" data-elapsed="{frame.elapsed_s:.3f}">'
        f'<span class="cl-dot" aria-hidden="true"></span>{label}<span aria-hidden="true"> · </span>'
        f'<span class="cl-t" aria-hidden="true">{frame.elapsed_s:.1f} s</span></div>'
    )


# The model server's states shown in the header's badge (``server_<state>``), by error kind (``errors``); the
# full sentence is its tooltip. Any other kind reads ``server_error``.
SERVER_STATES = frozenset(
    {"connecting", "not_configured", "unreachable", "timeout", "unavailable", "overloaded", "auth"}
)


def server_badge(state: str, explanation: str = "", language: str = locales.SOURCE) -> str:
    label = locales.text(f"server_{state}" if state in SERVER_STATES else "server_error", language)
    tone = "cl-badge-wait" if state == "connecting" else "cl-badge-down"
    title = f' title="{html.escape(explanation)}"' if explanation else ""
    return f'<span class="cl-badge {tone}" role="status"{title}>{html.escape(label)}</span>'


def header_html(
    info: ModelInfo | None, state: str = "connecting", explanation: str = "", language: str = locales.SOURCE
) -> str:
    """One line: the product, the model (or the server's state as a small badge) and its limits, cut with an
    ellipsis where the line is too narrow."""
    if info is None:
        badge = server_badge(state, explanation, language)
        return f'<div class="cl-header"><b class="cl-brand">ChatLens</b> {badge}</div>'
    limits = []
    if info.max_input_tokens:
        limits.append(
            locales.text("header_input_tokens", language, count=locales.number(info.max_input_tokens, language))
        )
    if info.max_total_tokens:
        limits.append(
            locales.text("header_total_tokens", language, count=locales.number(info.max_total_tokens, language))
        )
    backend = f"TGI {info.version}" if info.backend == "tgi" and info.version else info.backend
    detail = " · ".join([backend, *limits])
    return (
        f'<div class="cl-header"><b class="cl-brand">ChatLens</b>'
        f' <span class="cl-model" title="{html.escape(info.model_id)}">{html.escape(info.model_id)}</span>'
        f' <span class="cl-limits" title="{html.escape(detail)}">{html.escape(detail)}</span></div>'
    )
