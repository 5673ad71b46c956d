"""Conversations as files: JSON (ours, importable) and Markdown (for reading), and the checks on an import.

Exports carry each reply's measured metrics; imports keep the messages only — metrics are never invented for turns
that ChatLens did not time. An import that is not ours, truncated, too big or malformed is refused as a whole with
a sentence saying why (``ImportRefused``); nothing is written for it.

Versions (``storage.versions``): ``messages`` is the branch on screen, in order, so a reader (or an older ChatLens)
that knows nothing of versions reads the conversation as it was shown; ``other_versions`` holds every other
message. Each message carries ``n`` (its place in the order the conversation was written, from 1) and ``parent``
(the ``n`` of the message it follows, ``null`` for a first message), so an import rebuilds the same tree with the
same branch on screen. An export without them (older ones) is imported as one branch.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from errors import MessageRejected
from inference.model_output import without_form_controls
from storage.store import ConversationView, MessageView

FORMAT = "chatlens.conversation"
VERSION = 1
MAX_IMPORT_BYTES = 5_000_000
MAX_IMPORT_MESSAGES = 10_000
MAX_TITLE_CHARS = 120
MAX_TEXT_CHARS = 1_000_000  # per message (a reply may be long) and for the system prompt
ROLES = ("user", "assistant")
STATUSES = ("complete", "stopped", "error")


class ImportRefused(MessageRejected):
    kind = "import_refused"


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    role: str
    content: str
    status: str
    reasoning: str = ""  # a reply's thinking, kept apart from its content
    ref: int | None = None  # the export's ``n``; None: the messages are one branch, in order
    parent: int | None = None  # the ``n`` of the message it follows


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    title: str
    system_prompt: str
    model_id: str | None
    messages: tuple[ImportedMessage, ...]  # the branch on screen
    others: tuple[ImportedMessage, ...] = ()  # every other version (with ``ref`` and ``parent``)
    created_at: datetime | None = None  # as the other tool had it (None: now)
    updated_at: datetime | None = None


def imported_tree(imported: ImportedConversation) -> list[tuple[int, int | None, ImportedMessage, bool]]:
    """(ref, parent ref, message, on screen) for every message to store, parents first; messages without refs
    are one branch."""
    if all(m.ref is None for m in imported.messages) and not imported.others:
        return [(n, n - 1 if n > 1 else None, m, True) for n, m in enumerate(imported.messages, start=1)]
    placed = [(m.ref or 0, m.parent, m, True) for m in imported.messages]
    placed += [(m.ref or 0, m.parent, m, False) for m in imported.others]
    return sorted(placed, key=lambda row: row[0])


def export_json(view: ConversationView, *, exported_at: datetime) -> str:
    """``view`` loaded with ``every_version`` keeps its other versions (``other_versions``)."""
    numbers = {m.id: n for n, m in enumerate(sorted([*view.messages, *view.offscreen], key=lambda m: m.seq), 1)}

    def numbered(m: MessageView) -> dict[str, Any]:
        parent = numbers.get(m.parent_id) if m.parent_id is not None else None
        return {"n": numbers[m.id], "parent": parent, **message_record(m)}

    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at.isoformat(),
        "title": view.title,
        "model_id": view.model_id,
        "system_prompt": view.system_prompt,
        "messages": [numbered(m) for m in view.messages],
    }
    if view.offscreen:
        document["other_versions"] = [numbered(m) for m in view.offscreen]
    return json.dumps(document, ensure_ascii=False, indent=2)


def message_record(m: MessageView) -> dict[str, Any]:
    """A message as exports and share snapshots keep it: a reply's thinking apart from its text, when it has one."""
    record: dict[str, Any] = {"role": m.role, "content": m.content, "status": m.status, "metrics": m.metrics}
    if m.reasoning:
        record["reasoning"] = m.reasoning
    if m.images:  # by reference: the bytes stay in the owner's files (``storage.images``)
        record["images"] = [{"sha256": i.sha256, "mime_type": i.mime_type, "name": i.name} for i in m.images]
    return record


def _shown(role: str, content: str | None) -> str | None:
    """A reply as a Markdown viewer should render it: no forms (``inference.model_output``)."""
    return without_form_controls(content) if role != "user" and content else content


def export_markdown(view: ConversationView) -> str:
    """Readable text. Message text is quoted as it was written (Markdown in it stays Markdown)."""
    lines = [f"# {_one_line(view.title) or 'Untitled conversation'}", ""]
    if view.model_id:
        lines += [f"Model: `{_one_line(view.model_id)}`", ""]
    if view.system_prompt:
        lines += ["**System prompt**", "", view.system_prompt, ""]
    for m in view.messages:
        lines += [
            f"## {'You' if m.role == 'user' else 'Assistant'}",
            "",
            *_thought(m.reasoning),
            _shown(m.role, m.content) or "*(no text)*",
            "",
        ]
        if m.images:  # named, not embedded: the bytes stay with their owner (``storage.images``)
            names = ", ".join(f"`{_one_line(i.name).replace('`', '')}`" for i in m.images if i.name)
            count = f"{len(m.images)} image{'s' if len(m.images) != 1 else ''}"
            lines += [f"*({count}{': ' + names if names else ''})*", ""]
        if m.role == "assistant" and m.metrics:
            lines += [f"*{_metrics_summary(m.status, m.metrics)}*", ""]
    return "\n".join(lines)


def _thought(reasoning: str) -> list[str]:
    """The thinking, collapsed (a ``<details>`` block, which Markdown viewers fold) and escaped: shown as text."""
    if not reasoning:
        return []
    return ["<details><summary>Thinking</summary>", "", html.escape(reasoning), "", "</details>", ""]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _metrics_summary(status: str, metrics: dict[str, Any]) -> str:
    parts = []
    if metrics.get("time_to_first_token_ms") is not None:
        parts.append(f"{metrics['time_to_first_token_ms'] / 1000:.2f} s to first token")
    if metrics.get("tokens_per_s") is not None:
        parts.append(f"{metrics['tokens_per_s']:.1f} tokens/s")
    parts.append(f"{metrics.get('output_tokens') or 0} tokens")
    if metrics.get("reasoning_tokens") is not None:
        parts.append(f"{metrics['reasoning_tokens']} thinking tokens")
    if status != "complete":
        parts.append(status)
    return " · ".join(parts)


def parse_import(data: bytes) -> ImportedConversation:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"The file is {len(data):,} bytes; imports are limited to {MAX_IMPORT_BYTES:,} bytes.")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError, as are huge ints
        raise ImportRefused("This file is not a ChatLens export: it is not complete JSON.") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportRefused("This file is not a ChatLens conversation export (JSON downloaded from ChatLens).")
    if document.get("version") != VERSION:
        raise ImportRefused(f"This export is version {_short(document.get('version'))}; this ChatLens reads version 1.")
    title = _text(document.get("title", ""), "title")
    if len(title) > MAX_TITLE_CHARS:
        raise ImportRefused(f"The title is longer than {MAX_TITLE_CHARS} characters.")
    messages, others = document.get("messages"), document.get("other_versions", [])
    if not isinstance(messages, list) or not messages:
        raise ImportRefused("The export has no messages.")
    if not isinstance(others, list):
        raise ImportRefused("The export's other_versions is not a list.")
    if len(messages) + len(others) > MAX_IMPORT_MESSAGES:
        total = len(messages) + len(others)
        raise ImportRefused(f"The export has {total:,} messages; the limit is {MAX_IMPORT_MESSAGES:,}.")
    model_id = document.get("model_id")
    shown = tuple(_message(number, m) for number, m in enumerate(messages, start=1))
    rest = tuple(_message(number, m) for number, m in enumerate(others, start=len(messages) + 1))
    _check_tree(shown, rest)
    return ImportedConversation(
        title=_one_line(title),
        system_prompt=_text(document.get("system_prompt", ""), "system_prompt"),
        model_id=_text(model_id, "model_id")[:255] if model_id is not None else None,
        messages=shown,
        others=rest,
    )


def _check_tree(shown: tuple[ImportedMessage, ...], others: tuple[ImportedMessage, ...]) -> None:
    """Numbered messages must make one tree whose branch on screen is ``messages``; unnumbered ones are one
    branch (an export from before versions) and have no other versions."""
    everything = (*shown, *others)
    if all(m.ref is None for m in everything):
        return
    if any(m.ref is None for m in everything):
        raise ImportRefused("Some messages of the export have an 'n' and some do not.")
    refs = [m.ref for m in everything]
    if len(set(refs)) != len(refs):
        raise ImportRefused("Two messages of the export have the same 'n'.")
    for m in everything:  # a parent written before its child: no cycles
        if m.parent is not None and (m.parent not in refs or m.ref is None or m.parent >= m.ref):
            raise ImportRefused(f"Message n={m.ref} follows a message that is not before it in the export.")
    for before, after in zip((None, *shown), shown, strict=False):
        if after.parent != (before.ref if before is not None else None):
            raise ImportRefused(f"Message n={after.ref} does not follow the message shown before it.")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ImportRefused(f"The export's {name} is not text.")
    if "\x00" in value:
        raise ImportRefused(f"The export's {name} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ImportRefused(f"The export's {name} is not valid Unicode (a lone surrogate).") from None
    if len(value) > MAX_TEXT_CHARS:
        raise ImportRefused(f"The export's {name} is longer than {MAX_TEXT_CHARS:,} characters.")
    return value


def _message(number: int, value: Any) -> ImportedMessage:
    if not isinstance(value, dict):
        raise ImportRefused(f"Message {number} is not an object.")
    role, status = value.get("role"), value.get("status", "complete")
    if role not in ROLES:
        raise ImportRefused(f"Message {number} has role {_short(role)}; only 'user' and 'assistant' are imported.")
    if status not in STATUSES:
        raise ImportRefused(f"Message {number} has an unknown status {_short(status)}.")
    reasoning = value.get("reasoning") or ""
    if reasoning and role != "assistant":
        raise ImportRefused(f"Message {number} is the user's and has thinking; only replies think.")
    ref, parent = value.get("n"), value.get("parent")
    if ref is not None and (type(ref) is not int or not 0 < ref <= MAX_IMPORT_MESSAGES):
        raise ImportRefused(f"Message {number} has an 'n' that is not a number from 1 to {MAX_IMPORT_MESSAGES:,}.")
    if parent is not None and type(parent) is not int:
        raise ImportRefused(f"Message {number} has a 'parent' that is not a number.")
    return ImportedMessage(
        role,
        _text(value.get("content"), f"message {number} content"),
        status,
        _text(reasoning, f"message {number} reasoning"),
        ref,
        parent,
    )
