"""The "Account" tab of the settings sidebar: who you are (log in / log out), and personal API tokens — create
(shown once), list, revoke. Plus the page script that survives an ended session (``HEAD``).

Every handler checks the caller itself (Gradio runs any function index it is sent): tokens are managed from a
browser session only — a caller authenticated by a token cannot mint or revoke tokens — and only the caller's own.
"""

from __future__ import annotations

import asyncio
import html
import uuid
from typing import Any

import gradio as gr

import locales
from access.api_tokens import Tokens, TokenView
from access.identity import Identities, Identity
from errors import ChatLensError, MessageRejected
from ui.errors import request_language, user_error
from ui.i18n import say, t

USAGE = (
    "Scripts can call the API as you with a personal token: "
    '`Client(url, headers={"Authorization": "Bearer chatlens_…"})`. It reaches your conversations through '
    "`/chat`, nothing more. Revoke a token you no longer use."
)


# A session that ends while the page is open: Gradio's next call gets 401. Keep what is in the message box (in
# sessionStorage, this tab only), go through login, come back to the same conversation and put the text back.
# The same keeps a draft across a reload.
HEAD = """
<script>
(() => {
  const KEY = 'chatlens-draft';
  const box = () => document.querySelector('#cl-input textarea');
  const keep = () => { const b = box(); if (b && b.value.trim()) sessionStorage.setItem(KEY, b.value); };
  // The page sets its components up after load and may clear the box once more: put the text back until it
  // has stayed put for a while (never over what the user types meanwhile).
  const restore = (tries, steady) => {
    const text = sessionStorage.getItem(KEY);
    if (text === null) return;
    const b = box();
    if (b && !b.value) { b.value = text; b.dispatchEvent(new Event('input', { bubbles: true })); steady = 0; }
    if (b && b.value !== text || tries <= 0 || steady >= 6) { sessionStorage.removeItem(KEY); return; }
    setTimeout(() => restore(tries - 1, b ? steady + 1 : 0), 250);
  };
  window.addEventListener('pagehide', keep);
  // Gradio adds this script to the page itself, possibly after the load event.
  if (document.readyState === 'complete') restore(80, 0);
  else window.addEventListener('load', () => restore(80, 0));
  // Watch, do not wrap: the browser's resource timing reports each response's status (fetch is left alone, as
  // Gradio's client calls it).
  let leaving = false;
  const relogin = () => {
    if (leaving) return;
    leaving = true;
    keep();
    window.location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
  };
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.responseStatus === 401 && entry.name.includes('/gradio_api/')) relogin();
      }
    }).observe({ type: 'resource' });
  } catch (e) { /* no resource timing: the user reloads and logs in by hand */ }
})();
</script>
"""


def status_html(identity: Identity, *, login_enabled: bool, language: str = locales.SOURCE) -> str:
    def text(key: str) -> str:
        return html.escape(locales.text(key, language))

    if identity.kind == "login":
        admin = text("account_admin") if identity.is_admin else ""
        signed_in = text("account_signed_in").format(name=f"<b>{html.escape(identity.display_name)}</b>")
        return f"{signed_in}{admin} · <a href='/logout'>{text('account_log_out')}</a>"
    if login_enabled:
        return f"{text('account_not_signed_in')} <a href='/login?next=/'>{text('account_log_in')}</a>"
    return text("account_no_login")


def choices_of(tokens: list[TokenView]) -> list[tuple[str, str]]:
    return [(f"{t.name} · {t.prefix}… · {t.created_at:%Y-%m-%d}", str(t.id)) for t in tokens]


class AccountPanel:
    def __init__(self, *, tokens: Tokens, identities: Identities, login_enabled: bool) -> None:
        self._tokens = tokens
        self._identities = identities
        self._login_enabled = login_enabled

    def render(self) -> None:
        with gr.Tab(t("account_tab"), elem_id="cl-tab-account") as self._tab:
            self._status = gr.HTML("", elem_id="cl-account")
            gr.Markdown(USAGE, elem_classes=["cl-hint"])
            self._name = gr.Textbox(label=t("account_token_name"), max_lines=1, elem_id="cl-token-name")
            self._create = gr.Button(t("account_create"), size="sm", elem_id="cl-token-create")
            self._shown = gr.Textbox(
                label=t("account_new_token"),
                visible=False,
                interactive=False,
                buttons=["copy"],
                elem_id="cl-token-new",
            )
            self._list = gr.Dropdown(label=t("account_tokens"), choices=[], elem_id="cl-token-list")
            self._revoke = gr.Button(t("account_revoke"), size="sm", variant="stop", elem_id="cl-token-revoke")

    def wire(self, demo: gr.Blocks) -> None:
        self._create.click(self.create, [self._name], [self._shown, self._name, self._list], api_visibility="private")
        self._revoke.click(self.revoke, [self._list], [self._list, self._shown], api_visibility="private")
        self._tab.select(self.opened, None, [self._status, self._list], api_visibility="private")

    def _owner(self, request: gr.Request | None) -> Identity:
        identity = self._identities.of(request)
        if identity.kind == "token":
            raise user_error(MessageRejected("Tokens are managed from the page, not with a token."))
        return identity

    async def opened(self, request: gr.Request) -> dict[Any, Any]:
        identity = self._owner(request)
        status = status_html(identity, login_enabled=self._login_enabled, language=request_language())
        return {self._status: status, **await self._listed(identity)}

    async def create(self, name: str, request: gr.Request) -> dict[Any, Any]:
        owner = self._owner(request)
        try:
            token = await self._tokens.create(owner.user_id, name)
        except ChatLensError as exc:
            raise user_error(exc) from exc
        return {self._shown: gr.update(value=token, visible=True), self._name: "", **await self._listed(owner)}

    async def revoke(self, token_id: str | None, request: gr.Request) -> dict[Any, Any]:
        owner = self._owner(request)
        try:
            if not token_id:
                raise MessageRejected(say("refusal_choose_token"))
            await self._tokens.revoke(owner.user_id, uuid.UUID(token_id))
        except (ChatLensError, ValueError) as exc:
            raise user_error(
                exc if isinstance(exc, ChatLensError) else MessageRejected(say("refusal_unknown_token"))
            ) from exc
        listed = await self._listed(owner)
        gr.Info(say("toast_token_revoked"))
        return {**listed, self._shown: gr.update(value="", visible=False)}

    async def _listed(self, owner: Identity) -> dict[Any, Any]:
        """The owner's tokens in the list, none chosen."""
        found = await asyncio.to_thread(self._tokens.list, owner.user_id)
        return {self._list: gr.update(choices=choices_of(found), value=None)}
