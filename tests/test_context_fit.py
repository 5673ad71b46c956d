"""Context fitting and the prompt's shape: pure functions, checked with the numbers TGI would apply."""

from __future__ import annotations

import pytest

from errors import MessageRejected
from inference import context
from inference.service import CONTINUE_INSTRUCTION, ChatService
from inference.types import ChatMessage


def msg(role: str, words: int, tag: str = "") -> ChatMessage:
    return ChatMessage(role, (tag + " " + "word " * words).strip())  # type: ignore[arg-type]


def test_the_oldest_turns_go_first_and_the_window_opens_on_a_user_turn() -> None:
    prompt = [ChatMessage("system", "Be brief."), msg("user", 50, "u1"), msg("assistant", 50, "a1"),
              msg("user", 50, "u2"), msg("assistant", 50, "a2"), msg("user", 50, "u3")]  # fmt: skip
    fitted, use = context.fit(prompt, 300, 3.0)
    assert [m.content.split()[0] for m in fitted] == ["Be", "u2", "a2", "u3"]
    assert use.dropped_messages == 2 and use.used_tokens <= 300
    assert use.used_tokens == context.estimate_tokens(fitted, 3.0)


def test_continue_keeps_the_reply_it_continues() -> None:
    prompt = [msg("user", 800, "q"), msg("assistant", 3500, "long"), ChatMessage("user", CONTINUE_INSTRUCTION)]
    fitted, _ = context.fit(prompt, 3000, 6.0, keep_last=2)
    assert [m.content.split()[0] for m in fitted] == ["long", "Continue"]


def test_a_last_message_that_cannot_fit_is_refused() -> None:
    with pytest.raises(MessageRejected, match="The last message alone is about"):
        context.fit([msg("user", 2000)], 100, 3.0)


def test_the_learned_ratio_needs_a_real_prompt_and_allows_cjk() -> None:
    assert context.learned_chars_per_token([ChatMessage("user", "hi")], 30) is None  # template overhead only
    cjk = [ChatMessage("user", "漢" * 400)]
    assert context.learned_chars_per_token(cjk, 804) == pytest.approx(0.45)


def test_the_model_sees_strict_alternation() -> None:
    history = [
        ChatMessage("assistant", "an imported greeting"),
        ChatMessage("user", "first question"),
        ChatMessage("assistant", ""),  # failed before its first token
        ChatMessage("user", "asked again"),
        ChatMessage("assistant", "part one"),
        ChatMessage("assistant", " and part two"),  # continued after `length`
    ]
    assert ChatService._turns(history, continue_reply=False) == [
        ChatMessage("user", "first question\n\nasked again"),
        ChatMessage("assistant", "part one and part two"),
    ]
