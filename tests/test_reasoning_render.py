"""A reply's thinking where it is shown: the chat (a collapsed thought above the answer), exports and share pages
(kept apart, collapsed, escaped), and the running clock (thinking, then answering)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from inference.ports import ReplyFrame
from inference.types import GenerationMetrics
from storage import portability
from storage.store import ConversationView, MessageView
from ui import render
from ui.speed_ab import _Live
from web.share import share_page

HOSTILE = '<img src=x onerror="alert(1)">'
METRICS = {"time_to_first_token_ms": 80.0, "time_to_first_answer_ms": 12_480.0, "thinking_ms": 12_400.0,
           "reasoning_tokens": 300, "output_tokens": 340, "tokens_per_s": 27.0}  # fmt: skip


def view() -> ConversationView:
    reply_id = uuid.uuid4()
    return ConversationView(
        id=uuid.uuid4(), title="t", model_id="m",
        messages=[
            MessageView(uuid.uuid4(), "user", "hi", "complete"),
            MessageView(reply_id, "assistant", "Hello!", "complete", METRICS, f"Greet {HOSTILE} back."),
        ],
    )  # fmt: skip


def test_the_chat_shows_a_stored_thought_collapsed_above_its_answer_with_its_time() -> None:
    shown = render.conversation_messages(view())
    thought, answer, metrics = shown[1:]
    assert thought["metadata"] == {"title": "Thought for 12.4 s", "status": "done"}
    assert HOSTILE not in thought["content"] and "&lt;img" in thought["content"]
    assert answer["content"] == "Hello!"
    assert "12.48 s to answer" in metrics["content"] and "340 tokens (300 thinking)" in metrics["content"]


def test_each_shown_item_maps_to_its_stored_message() -> None:
    v = view()
    assert render.message_ids(v) == [v.messages[0].id] + [v.messages[1].id] * 3
    assert len(render.message_ids(v)) == len(render.conversation_messages(v))


def test_a_streaming_thought_is_open_and_the_clock_says_thinking_then_answering() -> None:
    cid = uuid.uuid4()
    thinking = ReplyFrame(cid, "", "thinking", 2.0, thinking="Let me see", thinking_s=1.93)
    [thought] = render.reply_messages(thinking)
    assert thought["metadata"] == {"title": "Thinking… 1.9 s", "status": "pending"}
    assert "Thinking" in render.status_html(thinking)
    answering = ReplyFrame(cid, "Par", "generating", 3.0, thinking="Let me see", thinking_s=2.5)
    thought, answer = render.reply_messages(answering)
    assert thought["metadata"] == {"title": "Thought for 2.5 s", "status": "done"}
    assert answer["content"] == "Par"
    assert "Answering" in render.status_html(answering)
    assert "Generating" in render.status_html(ReplyFrame(cid, "Par", "generating", 3.0))


def test_exports_and_share_pages_keep_the_thinking_apart_collapsed_and_escaped() -> None:
    v = view()
    exported = json.loads(portability.export_json(v, exported_at=datetime(2026, 12, 3, tzinfo=UTC)))
    assert exported["messages"][1]["content"] == "Hello!"
    assert exported["messages"][1]["reasoning"] == f"Greet {HOSTILE} back."
    assert "reasoning" not in exported["messages"][0]
    markdown = portability.export_markdown(v)
    assert "<details><summary>Thinking</summary>" in markdown and HOSTILE not in markdown
    page = share_page({"title": "t", "messages": exported["messages"], "shared_at": "2026-12-03T00:00"})
    assert '<details class="thought"><summary>Thinking</summary>Greet &lt;img' in page
    assert HOSTILE not in page


def test_speed_ab_times_a_thinking_reply_from_its_first_thought() -> None:
    cid, live = uuid.uuid4(), _Live()
    live.take(ReplyFrame(cid, "", "thinking", 0.5, thinking="Hmm", thinking_s=0.1))
    assert live.ttft_s == 0.5 and "thinking 0.1 s" in live.stats_html()
    metrics = GenerationMetrics(
        started_at=0, request_sent_at=0, ended_at=3, first_token_at=0.4, last_token_at=3, output_tokens=40,
        first_answer_at=2.0, last_thinking_at=1.9, reasoning_tokens=30,
    )  # fmt: skip
    live.take(ReplyFrame(cid, "Yes.", "complete", 3.0, metrics, thinking="Hmm", thinking_s=1.6))
    assert "TTFT 0.40 s" in live.stats_html() and "2.00 s to answer · 30 thinking tokens" in live.stats_html()
