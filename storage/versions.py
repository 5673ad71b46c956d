"""Versions of a reply or an edit: a conversation is a tree of messages, and the page shows one branch of it.

Every message names the message it follows (``messages.parent_id``); messages with the same parent and role are
versions of each other (a retried reply, an edited question, a send answered again), numbered 1…m by ``seq``. The
branch on screen is one path from a first message down to a leaf; it is stored on the rows themselves —
``superseded_at`` NULL on the path, the time a message left the screen everywhere else — so the conversation is
reopened (after a reload, in another tab, on another replica) on the branch last shown, and search, the share
page and exports of the visible text read the path with no tree walk.

The writer changes the path (``Tree``): Retry and Edit hide the tail they replace, a new message or reply is
appended under the path's leaf (a reply under the message it answers, shown again if the path moved meanwhile), and
switching to a version shows it with the continuation that was on screen when it was last left — at each level the
child that left the screen last (ties: the newest). Nodes are never changed in place, only replaced, so the
writer's cache can hand a batch copies (``storage.writes.ConversationCache``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from errors import MessageRejected
from inference.images import ImageRef
from inference.types import Role

NOT_SHOWN = "That version is no longer in this conversation as the page shows it; reload it and try again."


@dataclass(slots=True)
class Node:
    id: uuid.UUID
    role: Role
    content: str
    status: str = "complete"
    images: tuple[ImageRef, ...] = ()
    parent_id: uuid.UUID | None = None
    seq: int = 0
    hidden_at: datetime | None = None  # None: on the branch on screen


@dataclass(slots=True)
class Tree:
    """A conversation's messages: ``visible`` (the branch on screen, root first) and ``offscreen`` (the rest).

    ``changes`` collects the rows whose ``superseded_at`` must be written: id → new value (None: shown again)."""

    visible: list[Node] = field(default_factory=list)
    offscreen: list[Node] = field(default_factory=list)

    def copy(self) -> Tree:
        return Tree(list(self.visible), list(self.offscreen))

    def append(self, node: Node) -> Node:
        """``node`` under the path's leaf, on screen."""
        node = replace(node, parent_id=self.visible[-1].id if self.visible else None, hidden_at=None)
        self.visible.append(node)
        return node

    def hide_from(self, index: int, now: datetime, changes: dict[uuid.UUID, datetime | None]) -> list[uuid.UUID]:
        """Take ``visible[index:]`` off screen; returns their ids."""
        gone = self.visible[index:]
        del self.visible[index:]
        self.offscreen.extend(replace(node, hidden_at=now) for node in gone)
        for node in gone:
            changes[node.id] = now
        return [node.id for node in gone]

    def show(
        self, node_id: uuid.UUID, now: datetime, changes: dict[uuid.UUID, datetime | None], *, descend: bool
    ) -> None:
        """Make ``node_id`` part of the path: the path is cut below its nearest shown ancestor and goes down to it
        instead; with ``descend``, on to a leaf by the continuation last shown. Raises when it is not here."""
        index = next((i for i, node in enumerate(self.visible) if node.id == node_id), None)
        if index is not None:
            if not descend:
                self.hide_from(index + 1, now, changes)
            return
        hidden = {node.id: node for node in self.offscreen}
        chain: list[Node] = []
        at: uuid.UUID | None = node_id
        shown = {node.id: i for i, node in enumerate(self.visible)}
        while at is not None and at not in shown:
            node = hidden.get(at)
            if node is None:
                raise MessageRejected(NOT_SHOWN)
            chain.append(node)
            at = node.parent_id
        self.hide_from(shown[at] + 1 if at is not None else 0, now, changes)
        chain.reverse()
        if descend:
            chain += _continuation(chain[-1], [n for n in self.offscreen if n.id not in {c.id for c in chain}])
        ids = {node.id for node in chain}
        self.offscreen = [node for node in self.offscreen if node.id not in ids]
        for node in chain:
            self.visible.append(replace(node, hidden_at=None))
            changes[node.id] = None

    def switch(self, node_id: uuid.UUID, now: datetime, changes: dict[uuid.UUID, datetime | None]) -> None:
        """Show the version ``node_id`` of a message on screen, with the continuation last shown under it."""
        target = next((node for node in self.offscreen if node.id == node_id), None)
        if target is None:
            if any(node.id == node_id for node in self.visible):
                return  # already on screen (a double click)
            raise MessageRejected(NOT_SHOWN)
        on_path = target.parent_id is None or any(node.id == target.parent_id for node in self.visible)
        if not on_path:
            raise MessageRejected(NOT_SHOWN)
        self.show(node_id, now, changes, descend=True)


def _continuation(top: Node, others: Sequence[Node]) -> list[Node]:
    """Below ``top``, at each level the child that left the screen last (ties: the newest), down to a leaf."""
    children: dict[uuid.UUID, list[Node]] = {}
    for node in others:
        if node.parent_id is not None:
            children.setdefault(node.parent_id, []).append(node)
    path, at = [], top
    while kids := children.get(at.id):
        at = max(kids, key=lambda n: (n.hidden_at is not None, n.hidden_at or datetime.min, n.seq))
        path.append(at)
    return path


@dataclass(frozen=True, slots=True)
class Versions:
    """Where one message stands among its versions: ``number`` of ``count`` (1-based), and its neighbours' ids."""

    number: int
    count: int
    previous: uuid.UUID | None = None
    next: uuid.UUID | None = None


def versions_of(rows: Iterable[tuple[uuid.UUID, uuid.UUID | None, str, int]]) -> dict[uuid.UUID, Versions]:
    """Each message's place among its versions, from (id, parent_id, role, seq) of all of a conversation's
    messages; only messages that have more than one version are named."""
    groups: dict[tuple[uuid.UUID | None, str], list[tuple[int, uuid.UUID]]] = {}
    for mid, parent_id, role, seq in rows:
        groups.setdefault((parent_id, role), []).append((seq, mid))
    found: dict[uuid.UUID, Versions] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = [mid for _, mid in sorted(members, key=lambda m: (m[0], str(m[1])))]
        for i, mid in enumerate(ordered):
            found[mid] = Versions(
                i + 1,
                len(ordered),
                ordered[i - 1] if i > 0 else None,
                ordered[i + 1] if i + 1 < len(ordered) else None,
            )
    return found
