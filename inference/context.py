"""Context fit: the prompt plus the reply's ``max_tokens`` must fit the model server's window (``/info``).

Without the server's tokenizer the prompt's size is estimated from its characters: 3 characters per token until a
reply's ``usage`` tells the real ratio for that model server (kept with a 10 % margin, so the estimate errs on the
large side). The oldest turns are dropped first; the system prompt and the newest message are always kept, and
when those alone do not fit the turn is refused before anything is stored or sent.

Images count as ``image_tokens`` each: a configurable estimate (servers tokenize an image by its size and the
model's vision encoder, which ChatLens cannot see) until a reply's ``usage`` reports a prompt with images, which
tells what an image took on that server (``learned_image_tokens``). When the window is full the
oldest images go first — a message keeps its text when its images are left out — then the oldest turns.
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


DEFAULT_IMAGE_TOKENS = 1024  # roughly what Qwen2.5-VL / Gemma 3 / Llava-Next take for a photo-sized image


def estimate_tokens(messages: Sequence[ChatMessage], chars_per_token: float, image_tokens: int = 0) -> int:
    return sum(
        math.ceil(len(m.content) / chars_per_token) + MESSAGE_OVERHEAD_TOKENS + image_tokens * len(m.images)
        for m in messages
    )


MIN_LEARNING_TOKENS = 200  # below this the template's fixed overhead dominates and the ratio says little


def learned_chars_per_token(prompt: Sequence[ChatMessage], prompt_tokens: int | None) -> float | None:
    """The ratio a reply's ``usage`` reveals, with the margin; ``None`` when the server did not say or the prompt
    was too short to tell. The floor is low enough for CJK text (often under one character per token). A prompt
    with images teaches nothing about text: their share of ``usage`` is unknown."""
    if not prompt_tokens or prompt_tokens < MIN_LEARNING_TOKENS or any(m.images for m in prompt):
        return None
    chars = sum(len(m.content) for m in prompt)
    content_tokens = prompt_tokens - MESSAGE_OVERHEAD_TOKENS * len(prompt)
    if chars == 0 or content_tokens <= 0:
        return None
    return min(max(chars / content_tokens * MARGIN, 0.3), 8.0)


def learned_image_tokens(
    prompt: Sequence[ChatMessage], prompt_tokens: int | None, chars_per_token: float
) -> int | None:
    """What one image of this prompt took, from a reply's ``usage``: the prompt's tokens less its text's estimate,
    per image, with the margin (rounded up); ``None`` without images or usage."""
    images = sum(len(m.images) for m in prompt)
    if not images or not prompt_tokens:
        return None
    per_image = (prompt_tokens - estimate_tokens(prompt, chars_per_token)) / images
    return max(1, math.ceil(per_image / MARGIN)) if per_image > 0 else None


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
    image_tokens: int = 0,
    images: int = 0,
) -> GenerationParams:
    """``params`` with ``max_tokens`` lowered so that the system prompt and ``message`` still fit the window."""
    if info is None or not info.max_total_tokens or params.max_tokens is None:
        return params
    room = (
        info.max_total_tokens
        - estimate_tokens([*system, ChatMessage("user", message)], chars_per_token)
        - image_tokens * images
    )
    return replace(params, max_tokens=room) if 1 <= room < params.max_tokens else params


def check_fits(
    system: Sequence[ChatMessage],
    message: str,
    budget: int | None,
    max_tokens: int | None,
    chars_per_token: float,
    image_tokens: int = 0,
    images: int = 0,
) -> None:
    """Refuse a message that cannot fit even with every earlier turn left out (its own images count)."""
    if budget is None:
        return
    needed = estimate_tokens([*system, ChatMessage("user", message)], chars_per_token) + image_tokens * images
    if needed > budget:
        reply = f" with a reply of up to {max_tokens:,} tokens" if max_tokens else ""
        raise MessageRejected(
            f"This message is about {needed:,} tokens; the model takes at most {max(budget, 0):,} tokens of prompt"
            f"{reply}. Shorten it (or lower Max new tokens) — your text is still in the box."
        )


def fit(
    prompt: Sequence[ChatMessage],
    budget: int | None,
    chars_per_token: float,
    *,
    keep_last: int = 1,
    image_tokens: int = 0,
) -> tuple[list[ChatMessage], ContextUse]:
    """``prompt`` with its oldest images, then its oldest turns, dropped until it fits ``budget``; system messages
    and the last ``keep_last`` messages stay (Continue keeps the reply it continues with its instruction)."""
    messages = list(prompt)
    sizes = [estimate_tokens([m], chars_per_token, image_tokens) for m in messages]
    used = sum(sizes)
    if budget is None:
        return messages, ContextUse(used, None)
    first = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    dropped = 0
    # The oldest images first: a turn without its pictures still says what was asked and answered.
    for i in range(first, len(messages) - keep_last):
        if used <= budget:
            break
        if messages[i].images:
            used -= image_tokens * len(messages[i].images)
            sizes[i] -= image_tokens * len(messages[i].images)
            messages[i] = replace(messages[i], images=())

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
