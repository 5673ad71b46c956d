"""Conversations from other tools' exports: ChatGPT's ``conversations.json`` and Open WebUI's chat export (JSON).

Both keep a conversation as a tree of messages (edits and regenerations are branches); what is imported is the
branch the user last saw: from ChatGPT's ``current_node`` (Open WebUI's ``history.currentId``) up through the
parents. Only text from the user and the assistant is kept: system prompts, tool calls and results, hidden
nodes (ChatGPT's custom instructions, thoughts) and parts that are not text are skipped, and counted, and images
are dropped, and counted, so the preview can say so. The shapes, with their sources, are in
``tests/fixtures/imports/README.md``.

The checks are today's (``storage.portability``): a file that is not one of these formats, is truncated, too big,
or has a message that is not text is refused as a whole, with the reason; nothing of it is written.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storage.portability import (
    MAX_IMPORT_MESSAGES,
    MAX_TITLE_CHARS,
    ImportedConversation,
    ImportedMessage,
    ImportRefused,
    parse_import,
)

MAX_FILE_BYTES = 50_000_000  # default of IMPORT_MAX_BYTES: other tools export every conversation in one file
MAX_CONVERSATIONS = 20_000
Progress = Callable[[int, int], None]  # (conversations read, of how many)


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """What a file holds, ready to write, and what was left out of it."""

    source: str  # "ChatLens", "ChatGPT", "Open WebUI"
    conversations: tuple[ImportedConversation, ...]
    skipped_messages: int = 0  # system, tool, hidden or non-text messages left out
    dropped_images: int = 0
    skipped_parts: int = 0  # parts of kept messages that are not text (files, audio)
    empty_conversations: int = 0  # nothing left to import in them

    @property
    def message_count(self) -> int:
        return sum(len(c.messages) for c in self.conversations)

    def summary(self) -> str:
        """The preview: what will be imported, and what will not."""
        n, m = len(self.conversations), self.message_count
        lines = [f"**{self.source} export:** {n:,} conversation{_s(n)}, {m:,} message{_s(m)} will be imported."]
        left = []
        if self.skipped_messages:
            left.append(f"{self.skipped_messages:,} message{_s(self.skipped_messages)} that are not text from you or "
                        "the assistant (system, tools, hidden) are skipped")  # fmt: skip
        if self.skipped_parts:
            parts = self.skipped_parts
            left.append(f"{parts:,} part{_s(parts)} of messages that are not text (files, audio) are left out")
        if self.dropped_images:
            left.append(f"{self.dropped_images:,} image{_s(self.dropped_images)} are dropped (text only)")
        if self.empty_conversations:
            left.append(f"{self.empty_conversations:,} conversation{_s(self.empty_conversations)} with no text left "
                        "are skipped")  # fmt: skip
        if left:
            lines.append("; ".join(left) + ".")
        return "\n\n".join(lines)


@dataclass(slots=True)
class _Counts:
    skipped: int = 0
    images: int = 0
    parts: int = 0
    messages: list[ImportedMessage] = field(default_factory=list)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def parse_export(data: bytes, *, max_bytes: int = MAX_FILE_BYTES, progress: Progress | None = None) -> ImportBatch:
    """Read any export ChatLens imports: its own (one conversation), ChatGPT's or Open WebUI's (many)."""
    if len(data) > max_bytes:
        raise ImportRefused(f"The file is {len(data):,} bytes; imports are limited to {max_bytes:,} bytes.")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ImportRefused("This file is not an export ChatLens reads: it is not complete JSON.") from None
    if isinstance(document, dict) and "format" in document:
        return ImportBatch("ChatLens", (parse_import(data),))
    items = [document] if isinstance(document, dict) and "chat" in document else document
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise ImportRefused(
            "This file is not an export ChatLens reads: a ChatLens conversation, ChatGPT's conversations.json or "
            "Open WebUI's chat export."
        )
    if len(items) > MAX_CONVERSATIONS:
        raise ImportRefused(f"The export has {len(items):,} conversations; the limit is {MAX_CONVERSATIONS:,}.")
    if all("mapping" in item for item in items):
        source, read = "ChatGPT", _chatgpt
    elif all(isinstance(item.get("chat"), dict) for item in items):
        source, read = "Open WebUI", _open_webui
    else:
        raise ImportRefused("This list is neither ChatGPT's conversations.json nor an Open WebUI chat export.")
    conversations, skipped, images, parts, empty = [], 0, 0, 0, 0
    for number, item in enumerate(items, start=1):
        counts = _Counts()
        conversation = read(number, item, counts)
        skipped, images, parts = skipped + counts.skipped, images + counts.images, parts + counts.parts
        if conversation.messages:
            conversations.append(conversation)
        else:
            empty += 1
        if progress is not None and (number % 100 == 0 or number == len(items)):
            progress(number, len(items))
    if not conversations:
        raise ImportRefused(f"This {source} export has no text messages to import.")
    return ImportBatch(source, tuple(conversations), skipped, images, parts, empty)


# -- ChatGPT ----------------------------------------------------------------------------------------------------


def _chatgpt(number: int, item: dict[str, Any], counts: _Counts) -> ImportedConversation:
    where = f"Conversation {number}"
    mapping = item.get("mapping")
    if not isinstance(mapping, dict):
        raise ImportRefused(f"{where} has no message mapping.")
    for node in _branch(where, mapping, item.get("current_node"), "parent"):
        message = node.get("message")
        if message is None:  # the root: no message
            continue
        if not isinstance(message, dict):
            raise ImportRefused(f"{where} has a message that is not an object.")
        _chatgpt_message(where, message, counts)
    return _conversation(where, item.get("title"), counts, item.get("create_time"), item.get("update_time"),
                         item.get("default_model_slug"))  # fmt: skip


def _chatgpt_message(where: str, message: dict[str, Any], counts: _Counts) -> None:
    role = (message.get("author") or {}).get("role")
    content = message.get("content") or {}
    metadata = message.get("metadata") or {}
    kind = content.get("content_type") if isinstance(content, dict) else None
    hidden = isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation")
    to_tool = message.get("recipient", "all") != "all"  # a call to a tool (browser, python…), not to the user
    if role not in ("user", "assistant") or hidden or to_tool or kind not in ("text", "multimodal_text"):
        counts.skipped += 1
        return
    parts = content.get("parts") or []
    if not isinstance(parts, list):
        raise ImportRefused(f"{where} has a message whose parts are not a list.")
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("content_type") == "image_asset_pointer":
            counts.images += 1
        else:
            counts.parts += 1  # audio, files…: the message keeps its text
    _add(where, counts, role, "\n\n".join(text for text in texts if text.strip()))


# -- Open WebUI -------------------------------------------------------------------------------------------------


def _open_webui(number: int, item: dict[str, Any], counts: _Counts) -> ImportedConversation:
    where = f"Conversation {number}"
    chat = item["chat"]
    history = chat.get("history")
    if isinstance(history, dict) and isinstance(history.get("messages"), dict) and history.get("currentId"):
        messages = _branch(where, history["messages"], history["currentId"], "parentId")
    elif isinstance(chat.get("messages"), list):  # older exports: the visible messages as a list
        messages = chat["messages"]
    else:
        raise ImportRefused(f"{where} has neither a message history nor a message list.")
    for message in messages:
        if not isinstance(message, dict):
            raise ImportRefused(f"{where} has a message that is not an object.")
        role, content = message.get("role"), message.get("content", "")
        counts.images += sum(1 for f in message.get("files") or [] if isinstance(f, dict) and f.get("type") == "image")
        if role not in ("user", "assistant"):
            counts.skipped += 1
            continue
        reasoning = ""
        if role == "assistant" and isinstance(content, str) and "<details" in content:
            content, reasoning, blocks = _split_details(content)
            counts.parts += blocks
        if isinstance(content, list):  # OpenAI-style parts
            counts.images += sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
            texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            content = "\n\n".join(str(text) for text in texts)
        _add(where, counts, role, content, reasoning)
    models = chat.get("models")
    model = models[0] if isinstance(models, list) and models and isinstance(models[0], str) else None
    created, updated = item.get("created_at", chat.get("timestamp")), item.get("updated_at")
    return _conversation(where, item.get("title", chat.get("title")), counts, created, updated, model)


# -- shared -----------------------------------------------------------------------------------------------------


def _branch(where: str, nodes: dict[str, Any], current: Any, parent_key: str) -> list[dict[str, Any]]:
    """The nodes from the root down to ``current`` (the branch on screen), following ``parent_key`` up."""
    if not isinstance(current, str) or current not in nodes:
        raise ImportRefused(f"{where} names a current message that is not in it.")
    branch: list[dict[str, Any]] = []
    seen: set[str] = set()
    node_id: Any = current
    while node_id is not None:
        node = nodes.get(node_id) if isinstance(node_id, str) else None
        if not isinstance(node, dict):
            raise ImportRefused(f"{where} has a message whose parent is missing.")
        if node_id in seen or len(branch) > MAX_IMPORT_MESSAGES * 2:
            raise ImportRefused(f"{where} has messages that are their own ancestors.")
        seen.add(node_id)
        branch.append(node)
        node_id = node.get(parent_key)
    branch.reverse()
    return branch


# Open WebUI keeps a reply's thinking in its text: <details type="reasoning" done="true" duration="4"><summary>…
# </summary> then the thought, each line quoted with "> " and HTML-escaped, then </details> (its middleware);
# tool calls and code runs are <details> blocks of other types.
_DETAILS = re.compile(
    r'<details type="(?P<type>[a-z_]+)"[^>]*>\s*(?:<summary>.*?</summary>)?(?P<body>.*?)</details>', re.S
)


def _split_details(content: str) -> tuple[str, str, int]:
    """(answer, thinking, other blocks left out) of an Open WebUI reply."""
    thinking, others = [], 0
    for block in _DETAILS.finditer(content):
        if block["type"] == "reasoning":
            lines = [re.sub(r"^> ?", "", line) for line in html.unescape(block["body"]).strip("\n").split("\n")]
            thinking.append("\n".join(lines).strip())
        else:
            others += 1
    return _DETAILS.sub("", content).strip(), "\n\n".join(t for t in thinking if t), others


def _add(where: str, counts: _Counts, role: str, content: Any, reasoning: str = "") -> None:
    if not isinstance(content, str):
        raise ImportRefused(f"{where} has a message whose text is not text.")
    if "\x00" in content:
        raise ImportRefused(f"{where} has a message that contains a NUL character.")
    if not content.strip():  # an image alone, a tool's empty turn: nothing to keep
        counts.skipped += 1
        return
    if len(counts.messages) >= MAX_IMPORT_MESSAGES:
        raise ImportRefused(f"{where} has more than {MAX_IMPORT_MESSAGES:,} messages.")
    if "\x00" in reasoning:
        raise ImportRefused(f"{where} has a message that contains a NUL character.")
    counts.messages.append(ImportedMessage(role, content, "complete", reasoning))


def _conversation(
    where: str, title: Any, counts: _Counts, created: Any, updated: Any, model: Any
) -> ImportedConversation:
    title = " ".join(title.split()) if isinstance(title, str) else ""
    if "\x00" in title:
        raise ImportRefused(f"{where}'s title contains a NUL character.")
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1] + "…"
    created_at = _moment(created)
    return ImportedConversation(
        title=title,
        system_prompt="",
        model_id=model[:255] if isinstance(model, str) else None,
        messages=tuple(counts.messages),
        created_at=created_at,
        updated_at=_moment(updated) or created_at,
    )


def _moment(value: Any) -> datetime | None:
    """An epoch time in seconds (ChatGPT: a float; Open WebUI: an int, milliseconds in some older chats)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    seconds = value / 1000 if value > 1e11 else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
