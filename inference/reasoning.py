"""Thinking apart from the answer: one streamed reply split into (thinking, answer), whatever shape it came in.

Servers send a model's thinking three ways (``docs/features.md``, "Thinking models"): a delta field of its own
(``delta.reasoning``, vLLM ≥ 0.11; ``delta.reasoning_content``, older vLLM, SGLang, llama.cpp), handed in with
``feed_thinking``; or inline in the answer text between tags (TGI, or any server without a reasoning parser), handed
in with ``feed``. ``ReasoningSplitter`` reads the inline shape as it streams:

* Text between an opening and its closing tag (``REASONING_TAGS``; ``<think>``/``</think>`` and the other common
  pairs by default) is thinking; an unclosed block at the end of the stream stays thinking.
* Many chat templates open ``<think>`` in the prompt, so the stream starts *inside* the thinking and only the closing
  tag appears: when the first tag of a reply is a closing one, everything before it becomes thinking (the text already
  given out as answer moves; ``revision`` counts such moves so the screen can redraw).
* A tag split across chunks (``<th`` + ``ink>``) is recognised: a chunk's end that could begin a tag is held back
  until the next chunk (or ``finish``) decides it.
* Answer text that follows thinking loses its leading whitespace (the ``\\n\\n`` after ``</think>``); an answer
  without thinking is kept exactly as sent.

Invariant (tested with hypothesis): any chunking of the same text gives the same (thinking, answer). Pure: no
clock, no I/O. Text without any tag's first character takes a fast path (one scan, one append).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TagPair = tuple[str, str]

DEFAULT_TAGS: tuple[TagPair, ...] = (
    ("<think>", "</think>"),  # DeepSeek-R1, Qwen3/QwQ, GLM, MiniMax
    ("<thinking>", "</thinking>"),
    ("<reasoning>", "</reasoning>"),
    ("<seed:think>", "</seed:think>"),  # ByteDance Seed-OSS
    ("◁think▷", "◁/think▷"),  # Kimi
    ("<|begin_of_thought|>", "<|end_of_thought|>"),  # Sky-T1, OpenThoughts
)

BLOCK_SEPARATOR = "\n\n"  # between two thinking blocks of one reply


class ReasoningSplitter:
    """The thinking and the answer of one streamed reply, as lists of pieces (appended to, never rewritten, except
    for the one move of a reply that started inside its thinking)."""

    def __init__(self, tags: Iterable[TagPair] = DEFAULT_TAGS) -> None:
        pairs = tuple(tags)
        self._closing_of = {opening: closing for opening, closing in pairs}
        self._openings = tuple(self._closing_of)
        self._opening_or_closing = (*self._openings, *(closing for _, closing in pairs))
        self._first_chars = tuple(sorted({tag[0] for tag in self._opening_or_closing}))
        self._held = ""  # the end of the text so far that may begin a tag
        self._closing: str | None = None  # inside a thinking block: the tag that ends it
        self._seen_tag = False
        self._thought = False  # thinking came before the answer: its leading whitespace is dropped
        self._answer_started = False
        self.thinking: list[str] = []
        self.answer: list[str] = []
        self.revision = 0
        # What the last ``take`` added (counted as a thinking or an answer token by the caller).
        self.gave_thinking = False
        self.gave_answer = False

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking)

    @property
    def answer_text(self) -> str:
        return "".join(self.answer)

    @property
    def in_thinking(self) -> bool:
        """Inside an open thinking block (tags), or thinking (a field) with no answer yet."""
        return self._closing is not None or (self._thought and not self._answer_started)

    def take(self, text: str, reasoning: str = "") -> None:
        """One streamed chunk: its thinking field and its content; sets ``gave_thinking`` / ``gave_answer``."""
        self.gave_thinking = self.gave_answer = False
        self.feed_thinking(reasoning)
        self.feed(text)

    def feed_thinking(self, text: str) -> None:
        """Thinking the server sent in a field of its own (``delta.reasoning`` / ``delta.reasoning_content``)."""
        if text:
            self._thought = True
            self.thinking.append(text)
            self.gave_thinking = True

    def feed(self, text: str) -> None:
        """Answer text as the server sent it (``delta.content``), possibly holding tagged thinking."""
        if not text:
            return
        if not self._held:  # the fast paths: no tag can start in this text
            if self._closing is None:
                if not any(char in text for char in self._first_chars):
                    self._give_answer(text)
                    return
            elif self._closing[0] not in text:
                self._give_thinking(text)
                return
        self._scan(self._held + text)

    def finish(self) -> None:
        """The stream ended: text held as a possible tag is what it is."""
        held, self._held = self._held, ""
        if not held:
            return
        if self._closing is not None:
            self.thinking.append(held)
        else:
            self._give_answer(held)

    def _scan(self, text: str) -> None:
        self._held = ""
        while text:
            if self._closing is not None:
                end = text.find(self._closing)
                if end < 0:
                    keep = _held_length(text, (self._closing,))
                    self._give_thinking(text[: len(text) - keep])
                    self._held = text[len(text) - keep :]
                    return
                self._give_thinking(text[:end])
                text = text[end + len(self._closing) :]
                self._closing = None
                continue
            candidates = self._openings if self._seen_tag else self._opening_or_closing
            at, tag = _earliest(text, candidates)
            if tag is None:
                keep = _held_length(text, candidates)
                self._give_answer(text[: len(text) - keep])
                self._held = text[len(text) - keep :]
                return
            self._give_answer(text[:at])
            text = text[at + len(tag) :]
            self._seen_tag = True
            self._thought = True
            if tag in self._closing_of:
                self._closing = self._closing_of[tag]
                if self.thinking:
                    self.thinking.append(BLOCK_SEPARATOR)
            else:  # the reply started inside its thinking: what looked like the answer was thinking
                self.thinking.extend(self.answer)
                self.answer.clear()
                self._answer_started = False
                self.revision += 1
                self.gave_thinking, self.gave_answer = self.gave_thinking or self.gave_answer, False

    def _give_thinking(self, text: str) -> None:
        if text:
            self.thinking.append(text)
            self.gave_thinking = True

    def _give_answer(self, text: str) -> None:
        if self._thought and not self._answer_started:
            text = text.lstrip()
        if text:
            self._answer_started = True
            self.answer.append(text)
            self.gave_answer = True


def split_reasoning(text: str, tags: Iterable[TagPair] = DEFAULT_TAGS) -> tuple[str, str]:
    """(thinking, answer) of a whole reply's text."""
    splitter = ReasoningSplitter(tags)
    splitter.feed(text)
    splitter.finish()
    return splitter.thinking_text, splitter.answer_text


def _earliest(text: str, tags: Sequence[str]) -> tuple[int, str | None]:
    """The first tag in ``text`` (at equal positions, the longest) and where it starts."""
    best_at, best = len(text), None
    for tag in tags:
        at = text.find(tag, 0, best_at + len(tag))
        if at >= 0 and (at < best_at or (at == best_at and best is not None and len(tag) > len(best))):
            best_at, best = at, tag
    return best_at, best


def _held_length(text: str, tags: Sequence[str]) -> int:
    """How many characters at the end of ``text`` could be the beginning of one of ``tags``."""
    longest = 0
    for tag in tags:
        for length in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:length]):
                longest = length
                break
    return longest
