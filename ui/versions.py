"""The ‹ n/m › switcher on a reply that was retried and on a question that was edited (``storage.versions``).

The switcher is part of the message's HTML (``render.versions_html``): each arrow names the version it shows. A
click is caught by the page script (``SWITCH_SCRIPT``, in the page's head), which hands that id to a hidden button's
event; the writer shows the version with the continuation last shown under it, and the page shows the branch as
stored. The branch on screen is kept in the rows, so a reload, another tab or a reopened conversation shows it
too; the next send, Retry or Edit answers it. While a reply streams the arrows do nothing (the reply is being
written under the branch on screen).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import gradio as gr

from errors import MessageRejected
from inference.turns import Edit, Retry
from storage.store import Store
from storage.writer import WriteBehindRecorder
from ui import render
from ui.api import parse_conversation_id
from ui.errors import request_language, user_error
from ui.i18n import say, t
from ui.turns import Pending, UserIdOf, can_continue

# Capture phase: the Chatbot must not take the click as a click on the message.
SWITCH_SCRIPT = """
  document.addEventListener('click', (e) => {
    const arrow = e.target.closest && e.target.closest('#cl-chat .cl-ver');
    if (!arrow) return;
    e.preventDefault();
    e.stopPropagation();
    const go = document.querySelector('#cl-version-go');
    if (arrow.disabled || !arrow.value || !go) return;
    window.clVersionPick = arrow.value;
    go.click();
  }, true);
"""

# The id the arrow named, unless a reply is streaming (Stop is showing).
PICK_JS = """
(cid, pick) => {
  const streaming = document.querySelector('#cl-stop')?.offsetParent;
  const chosen = streaming ? '' : (window.clVersionPick || '');
  window.clVersionPick = '';
  return [cid, chosen];
}
"""


@dataclass
class VersionControls:
    pick: gr.Textbox  # the version to show, filled in by PICK_JS
    go: gr.Button  # clicked by SWITCH_SCRIPT


class VersionSwitcher:
    def __init__(self, *, store: Store, recorder: WriteBehindRecorder, user_id_of: UserIdOf) -> None:
        self._store = store
        self._recorder = recorder
        self._user_id_of = user_id_of

    def render(self) -> VersionControls:
        pick = gr.Textbox(visible=False, elem_id="cl-version-pick")
        go = gr.Button(t("versions_show"), visible="hidden", elem_id="cl-version-go")
        return VersionControls(pick, go)

    def wire(
        self, controls: VersionControls, *, chatbot: gr.Chatbot, conversation_id: gr.Textbox, continue_: gr.Button
    ) -> None:
        self._chatbot, self._continue = chatbot, continue_
        controls.go.click(
            self.switch, [conversation_id, controls.pick], [chatbot, continue_], js=PICK_JS,
            api_visibility="private", show_progress="hidden",
        )  # fmt: skip

    async def switch(self, conversation_id: str, pick: str, request: gr.Request) -> dict[Any, Any]:
        """Show the version ``pick`` of a message on screen; the chat as stored afterwards."""
        cid = parse_conversation_id(conversation_id)
        if cid is None or not pick:
            return {self._chatbot: gr.skip()}
        try:
            target = uuid.UUID(pick)
        except ValueError:
            raise user_error(MessageRejected(say("refusal_version_unknown"))) from None
        user_id = self._user_id_of(request)
        try:
            await self._recorder.switch_version(user_id=user_id, conversation_id=cid, message_id=target)
        except MessageRejected as exc:
            raise user_error(exc) from exc
        return await self._reloaded(cid, user_id)

    async def after_reply(self, conversation_id: str, pending: Pending | None, request: gr.Request) -> dict[Any, Any]:
        """Once the reply to a Retry or an Edit is stored, the chat as stored: with its new ‹ m/m ›."""
        cid = parse_conversation_id(conversation_id)
        if cid is None or pending is None or not isinstance(pending.turn, Retry | Edit):
            return {self._chatbot: gr.skip()}
        return await self._reloaded(cid, self._user_id_of(request))

    async def _reloaded(self, cid: uuid.UUID, user_id: uuid.UUID) -> dict[Any, Any]:
        view = await asyncio.to_thread(self._store.load_conversation, cid, user_id)
        if view is None:
            return {self._chatbot: gr.skip()}
        return {
            self._chatbot: render.conversation_messages(view, request_language()),
            self._continue: gr.update(visible=can_continue(view)),
        }


# Editing a question: the edit box gets its text, not its switcher (``render.without_thumbnails`` drops it from
# what is sent too). ``uncut`` is ``render._VERSIONS`` in JavaScript.
EDIT_SCRIPT = r"""
  const uncut = /\n*<span class="cl-versions"[\s\S]*?<\/button><\/span>\s*$/;
  const clean = (box) => {
    const cut = box.value.replace(uncut, '');
    if (cut !== box.value) { box.value = cut; box.dispatchEvent(new Event('input', { bubbles: true })); }
  };
  new MutationObserver((changes) => {
    for (const change of changes) for (const node of change.addedNodes) {
      if (!(node instanceof Element)) continue;
      const box = node.matches('textarea') ? node : node.querySelector('textarea');
      if (box && box.closest('#cl-chat')) clean(box);
    }
  }).observe(document.documentElement, { childList: true, subtree: true });
"""

# Copy on a question copies its text, not its switcher (the page's copy handler, ``ui.assets``, does replies).
COPY_SCRIPT = r"""
  const clipboard = navigator.clipboard;
  if (clipboard && clipboard.writeText) {
    const write = clipboard.writeText.bind(clipboard);
    clipboard.writeText = (text) => write(typeof text === 'string' ? text.replace(uncut, '') : text);
  }
"""

HEAD = f"<script>(() => {{{SWITCH_SCRIPT}{EDIT_SCRIPT}{COPY_SCRIPT}}})();</script>"

CSS = """
.cl-versions { display: inline-flex; align-items: center; gap: .1rem; font-size: .78rem; opacity: .8;
  user-select: none; font-variant-numeric: tabular-nums; vertical-align: middle; }
.cl-versions .cl-ver { border: none; background: transparent; color: inherit; cursor: pointer; font-size: 1rem;
  line-height: 1; min-width: 1.6rem; min-height: 1.6rem; padding: 0 .25rem; border-radius: .35rem; }
.cl-versions .cl-ver:disabled { opacity: .35; cursor: default; }
/* Only the chat switches; elsewhere (the admins' read-only view of a conversation) the number alone. */
.cl-versions .cl-ver { display: none; }
#cl-chat .cl-versions .cl-ver { display: inline-block; }
.cl-versions .cl-ver-prev::before { content: "‹" / ""; }
.cl-versions .cl-ver-next::before { content: "›" / ""; }
.cl-versions .cl-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
  white-space: nowrap; }
.cl-versions .cl-ver:not(:disabled):hover { background: var(--background-fill-secondary); }
"""
