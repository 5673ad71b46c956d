"""Context fit: the prompt plus the reply's ``max_tokens`` must fit the model server's window (``/info``).

Without the server's tokenizer the prompt's size is estimated from its characters: 3 characters per token until a
reply's ``usage`` tells the real ratio for that model server (kept with a 10 % margin, so the estimate errs on the
large side). The oldest turns are dropped first; the system prompt and the newest message are always kept, and
when those alone do not fit the turn is refused before anything is stored or sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from errors import MessageRejected
from inference.types import ChatMessage, GenerationParams, ModelInfo

DEFAULT_CHARS_PER_TOKEN = 3.0
MESSAGE_OVERHEAD_TOKENS = 4  # the chat template's role markers around each message
MARGIN = 0.9


@dataclass(frozen=True, slots=True)
class ContextUse:
    """How full the model's window is for one reply: estimated before it, measured (``usage``) after."""

    used_tokens: int
    limit_tokens: int | None
    dropped_messages: int = 0
    measured: bool = False


def estimate_tokens(messages: Sequence[ChatMessage], chars_per_token: float) -> int:
    return sum(math.ceil(len(m.content) / chars_per_token) + MESSAGE_OVERHEAD_TOKENS for m in messages)


MIN_LEARNING_TOKENS = 200  # below this the template's fixed overhead dominates and the ratio says little


def learned_chars_per_token(prompt: Sequence[ChatMessage], prompt_tokens: int | None) -> float | None:
    """The ratio a reply's ``usage`` reveals, with the margin; ``None`` when the server did not say or the prompt
    was too short to tell. The floor is low enough for CJK text (often under one character per token)."""
    if not prompt_tokens or prompt_tokens < MIN_LEARNING_TOKENS:
        return None
    chars = sum(len(m.content) for m in prompt)
    content_tokens = prompt_tokens - MESSAGE_OVERHEAD_TOKENS * len(prompt)
    if chars == 0 or content_tokens <= 0:
        return None
    return min(max(chars / content_tokens * MARGIN, 0.3), 8.0)


def prompt_budget(info: ModelInfo | None, max_tokens: int | None) -> int | None:
    """Tokens the prompt may take: TGI checks ``input ≤ max_input_tokens`` and ``input + max_tokens ≤ total``."""
    if info is None:
        return None
    limits = []
    if info.max_input_tokens:
        limits.append(info.max_input_tokens)
    if info.max_total_tokens:
        limits.append(info.max_total_tokens - (max_tokens or 0))
    return min(limits) if limits else None


def fitted_max_tokens(default: int, info: ModelInfo | None) -> int:
    """The default cap on a reply for this model server: ``default`` where the window has room for it and a prompt,
    else half the window (a 1,024-token default on a 1,024-token window left no room for even "hello"). A default
    that leaves too little room for a longer message is lowered per message instead (``shrunk_to_fit``)."""
    if info is None or not info.max_total_tokens or default < info.max_total_tokens:
        return default
    return max(1, info.max_total_tokens // 2)


def shrunk_to_fit(
    params: GenerationParams,
    info: ModelInfo | None,
    system: Sequence[ChatMessage],
    message: str,
    chars_per_token: float,
) -> GenerationParams:
    """``params`` with ``max_tokens`` lowered so that the system prompt and ``message`` still fit the window."""
    if info is None or not info.max_total_tokens or params.max_tokens is None:
        return params
    room = info.max_total_tokens - estimate_tokens([*system, ChatMessage("user", message)], chars_per_token)
    return replace(params, max_tokens=room) if 1 <= room < params.max_tokens else params


def check_fits(
    system: Sequence[ChatMessage], message: str, budget: int | None, max_tokens: int | None, chars_per_token: float
) -> None:
    """Refuse a message that cannot fit even with every earlier turn left out."""
    if budget is None:
        return
    needed = estimate_tokens([*system, ChatMessage("user", message)], chars_per_token)
    if needed > budget:
        reply = f" with a reply of up to {max_tokens:,} tokens" if max_tokens else ""
        raise MessageRejected(
            f"This message is about {needed:,} tokens; the model takes at most {max(budget, 0):,} tokens of prompt"
            f"{reply}. Shorten it (or lower Max new tokens) — your text is still in the box."
        )


def fit(
    prompt: Sequence[ChatMessage], budget: int | None, chars_per_token: float, *, keep_last: int = 1
) -> tuple[list[ChatMessage], ContextUse]:
    """``prompt`` with its oldest turns dropped until it fits ``budget``; system messages and the last
    ``keep_last`` messages stay (Continue keeps the reply it continues with its instruction)."""
    messages = list(prompt)
    sizes = [estimate_tokens([m], chars_per_token) for m in messages]
    used = sum(sizes)
    if budget is None:
        return messages, ContextUse(used, None)
    first = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    dropped = 0

    def drop() -> None:
        nonlocal used, dropped
        used -= sizes.pop(first)
        del messages[first]
        dropped += 1

    while used > budget and len(messages) - first > keep_last:
        drop()
        # A window opens on a user turn: chat templates expect user/assistant alternation from there.
        while len(messages) - first > keep_last and messages[first].role != "user":
            drop()
    if used > budget:
        raise MessageRejected(
            f"The last message alone is about {used:,} tokens and the model takes at most {max(budget, 0):,}. "
            "Start a new chat with a shorter message, or lower Max new tokens."
        )
    return messages, ContextUse(used, budget, dropped)
