"""The "API tokens" tab of the settings sidebar: create (shown once), list and revoke personal tokens.

Every handler checks the caller itself (Gradio runs any function index it is sent): tokens are managed from a
browser session only — a caller authenticated by a token cannot mint or revoke tokens — and only the caller's own.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import gradio as gr

from analytics.tokens import Tokens, TokenView
from inference.errors import ChatLensError, MessageRejected
from ui.errors import user_error
from ui.identity import Identities, Identity

USAGE = (
    "Scripts can call the API as you with a personal token: "
    '`Client(url, headers={"Authorization": "Bearer chatlens_…"})`. It reaches your conversations through '
    "`/chat`, nothing more. Revoke a token you no longer use."
)


def choices_of(tokens: list[TokenView]) -> list[tuple[str, str]]:
    return [(f"{t.name} · {t.prefix}… · {t.created_at:%Y-%m-%d}", str(t.id)) for t in tokens]


class TokensPanel:
    def __init__(self, *, tokens: Tokens, identities: Identities) -> None:
        self._tokens = tokens
        self._identities = identities

    def render(self) -> None:
        with gr.Tab("API tokens", elem_id="cl-tab-tokens") as self._tab:
            gr.Markdown(USAGE, elem_classes=["cl-hint"])
            self._name = gr.Textbox(label="Name of a new token", max_lines=1, elem_id="cl-token-name")
            self._create = gr.Button("Create token", size="sm", elem_id="cl-token-create")
            self._shown = gr.Textbox(
                label="Your new token: copy it now, it is shown only once",
                visible=False,
                interactive=False,
                buttons=["copy"],
                elem_id="cl-token-new",
            )
            self._list = gr.Dropdown(label="Your tokens", choices=[], elem_id="cl-token-list")
            self._revoke = gr.Button("Revoke", size="sm", variant="stop", elem_id="cl-token-revoke")

    def wire(self, demo: gr.Blocks) -> None:
        self._create.click(self.create, [self._name], [self._shown, self._name, self._list], api_visibility="private")
        self._revoke.click(self.revoke, [self._list], [self._list, self._shown], api_visibility="private")
        self._tab.select(self.listing, None, [self._list], api_visibility="private")

    def _owner(self, request: gr.Request | None) -> Identity:
        identity = self._identities.of(request)
        if identity.kind == "token":
            raise user_error(MessageRejected("Tokens are managed from the page, not with a token."))
        return identity

    async def listing(self, request: gr.Request) -> Any:
        found = await asyncio.to_thread(self._tokens.list, self._owner(request).user_id)
        return gr.update(choices=choices_of(found), value=None)

    async def create(self, name: str, request: gr.Request) -> tuple[Any, ...]:
        owner = self._owner(request)
        try:
            token = await self._tokens.create(owner.user_id, name)
        except ChatLensError as exc:
            raise user_error(exc) from exc
        found = await asyncio.to_thread(self._tokens.list, owner.user_id)
        return gr.update(value=token, visible=True), "", gr.update(choices=choices_of(found), value=None)

    async def revoke(self, token_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        owner = self._owner(request)
        try:
            if not token_id:
                raise MessageRejected("Choose a token to revoke.")
            await self._tokens.revoke(owner.user_id, uuid.UUID(token_id))
        except (ChatLensError, ValueError) as exc:
            raise user_error(exc if isinstance(exc, ChatLensError) else MessageRejected("Unknown token.")) from exc
        found = await asyncio.to_thread(self._tokens.list, owner.user_id)
        gr.Info("Token revoked: it no longer works.")
        return gr.update(choices=choices_of(found), value=None), gr.update(value="", visible=False)
