"""The chat page: layout first (``_render``), then every event wired in one place (``_wire``).

Handlers are thin: Gradio values in, one service call, Gradio values out. Streaming handlers are ``async``
generators; they output the Chatbot on every frame and the other components only when they change
(``gr.skip()``), so nothing tracked is re-hashed per frame. DB reads run in a thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

import locales
from access.downloads import Downloads
from access.identity import Identities
from access.message_gate import MessageGate
from errors import ChatLensError, MessageIdTaken, MessageRejected
from inference import param_checks
from inference.live import LiveReplies
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.turns import NewMessage, Retry, Turn, typed_text
from settings import Settings
from storage.store import ConversationView, Store
from storage.temporary import TEMPORARY_ORIGIN, TemporaryChats
from storage.writer import WriteBehindRecorder
from ui import attachments, render
from ui.account_panel import AccountPanel
from ui.api import ChatApi, parse_conversation_id
from ui.assets import SET_URL_JS
from ui.errors import refusals_as_toasts, request_language, user_error
from ui.history import CLOSE_ON_PHONES_JS, HistoryControls, HistoryPanel
from ui.i18n import say, t
from ui.portability import PortabilityControls, PortabilityPanel
from ui.settings_panel import GenerationControls, GenerationPanel
from ui.theme_panel import ThemePanel
from ui.trash import TrashControls, TrashPanel
from ui.turns import MessageKey, Pending, TurnActions, TurnControls, can_continue
from ui.versions import VersionControls, VersionSwitcher

PLACEHOLDER_READY = "chat_placeholder_ready"  # keys of the catalogue (locales/)
PLACEHOLDER_UNCONFIGURED = "chat_placeholder_unconfigured"


@dataclass
class _Parts:
    header: gr.HTML
    chatbot: gr.Chatbot
    status: gr.HTML
    textbox: gr.MultimodalTextbox
    send: gr.Button
    stop: gr.Button
    retry: gr.Button
    new_chat: gr.Button
    conversation_id: gr.Textbox
    pending: gr.State
    generation: GenerationControls
    history: HistoryControls
    context: gr.HTML
    continue_: gr.Button
    comment: gr.Textbox
    last_feedback: gr.State
    portability: PortabilityControls
    message_key: gr.State
    versions: VersionControls
    trash: TrashControls
    temporary: gr.Checkbox


class ChatPage:
    _p: _Parts  # the page's parts, once rendered: the handlers return {part: value}

    def __init__(
        self,
        *,
        service: ChatService,
        store: Store,
        recorder: WriteBehindRecorder,
        identities: Identities,
        settings: Settings,
        downloads: Downloads,
        gate: MessageGate | None = None,
        temporary: TemporaryChats | None = None,
    ) -> None:
        self._service = service
        self._temporary = temporary if temporary is not None else TemporaryChats()
        self._identities = identities
        self._store = store
        self._recorder = recorder
        self._settings = settings
        self._gate = gate
        self._theme = ThemePanel(settings)
        self._generation = GenerationPanel(service, settings)
        self._history = HistoryPanel(store=store, recorder=recorder)
        self._portability = PortabilityPanel(
            store=store, recorder=recorder, user_id_of=self._user_id, downloads=downloads,
            import_max_bytes=settings.import_max_bytes, temporary=self._temporary, keeps_text=settings.store_content,
        )  # fmt: skip
        self._trash = TrashPanel(store=store, recorder=recorder, user_id_of=self._user_id)
        self._turns = TurnActions(
            store=store, recorder=recorder, user_id_of=self._user_id, pending=self._pending, load=self._load,
            is_temporary=self._temporary.holds,
        )  # fmt: skip
        # Replies go on streaming when their page goes away; a reload or another tab follows them live.
        self._live = LiveReplies(
            keep_unwatched_s=settings.reply_keep_unwatched_s,
            max_unwatched_per_user=settings.replies_unwatched_per_user,
        )
        self._versions = VersionSwitcher(store=store, recorder=recorder, user_id_of=self._user_id)
        tokens = identities.tokens
        login = settings.auth_mode == "oidc"
        self._account = AccountPanel(tokens=tokens, identities=identities, login_enabled=login) if tokens else None

    def _user_id(self, request: gr.Request | None) -> uuid.UUID:
        return self._identities.of(request).user_id

    def _load(self, conversation_id: uuid.UUID, user_id: uuid.UUID) -> ConversationView | None:
        """The conversation as the page shows it: a temporary chat from memory, any other from the store."""
        if self._temporary.holds(conversation_id):
            return self._temporary.load_conversation(conversation_id, user_id)
        return self._store.load_conversation(conversation_id, user_id)

    def _temporary_wanted(self, switch: bool | None) -> bool:
        """Whether a new chat is temporary: the user's switch, unless the admin forces it (TEMPORARY_CHATS)."""
        mode = self._settings.temporary_chats
        return mode == "always" or (mode == "allow" and bool(switch))

    def build(self, demo: gr.Blocks) -> None:
        parts = self._render()
        self._wire(demo, parts)
        self._generation.wire(demo)
        self._theme.wire(demo)
        if self._account is not None:
            self._account.wire(demo)

    def _render(self) -> _Parts:
        history, (trash, portability) = self._history.render(lambda: (self._trash.render(), self._portability.render()))
        header = gr.HTML(render.header_html(None), elem_id="cl-header")
        chatbot = gr.Chatbot(
            elem_id="cl-chat",
            label=t("chat_label"),
            show_label=False,
            height="62vh",
            sanitize_html=True,
            latex_delimiters=render.LATEX_DELIMITERS,
            layout="bubble",
            buttons=["copy"],
            editable="user",
            feedback_options=render.FEEDBACK_OPTIONS,
            placeholder=str(t(PLACEHOLDER_READY if self._service.configured else PLACEHOLDER_UNCONFIGURED)),
        )
        status = gr.HTML("", elem_id="cl-status")
        with gr.Row(equal_height=True):
            textbox = attachments.composer(self._settings)
            send = gr.Button(t("chat_send"), variant="primary", elem_id="cl-send", scale=1, min_width=80)
            stop = gr.Button(t("chat_stop"), variant="stop", elem_id="cl-stop", scale=1, min_width=80, visible=False)
        comment = gr.Textbox(
            visible=False, show_label=False, label=t("chat_comment"), max_lines=3, elem_id="cl-comment",
            placeholder=t("chat_comment_placeholder"),
        )  # fmt: skip
        with gr.Row(elem_id="cl-actions"):
            retry = gr.Button(t("chat_retry"), size="sm", elem_id="cl-retry")
            continue_ = gr.Button(t("chat_continue"), size="sm", elem_id="cl-continue", visible=False)
            new_chat = gr.Button(t("chat_new"), size="sm", elem_id="cl-new")
            mode = self._settings.temporary_chats
            temporary = gr.Checkbox(
                mode == "always", label=t("chat_temporary"), interactive=mode == "allow", visible=mode != "never",
                elem_id="cl-temporary", min_width=0,
            )  # fmt: skip
            context = gr.HTML("", elem_id="cl-context")
        last_feedback = gr.State(None)
        conversation_id = gr.Textbox(visible=False, elem_id="cl-conversation-id")
        pending = gr.State(None)
        message_key = gr.State(None)
        versions = self._versions.render()
        with (
            gr.Sidebar(label=t("chat_settings"), position="right", open=False, elem_id="cl-panels", width=340),
            gr.Tabs(),
        ):
            with gr.Tab(t("chat_tab_model"), elem_id="cl-tab-model"):
                generation = self._generation.render()
            with gr.Tab(t("chat_tab_theme"), elem_id="cl-tab-theme"):
                self._theme.render()
            if self._account is not None:
                self._account.render()
        self._p = _Parts(
            header, chatbot, status, textbox, send, stop, retry, new_chat, conversation_id, pending, generation,
            history, context, continue_, comment, last_feedback, portability, message_key, versions, trash,
            temporary,
        )  # fmt: skip
        return self._p

    def _wire(self, demo: gr.Blocks, p: _Parts) -> None:
        limit = self._settings.max_concurrent_streams
        streaming = [p.chatbot, p.conversation_id, p.status, p.textbox, p.context, p.continue_, p.message_key]
        buttons = [p.send, p.stop]

        settings = p.generation.values

        def nothing_pending() -> dict[Any, Any]:
            return {p.pending: None}  # the stream step then does nothing and the buttons go back to idle

        taken = gr.on(
            [p.textbox.submit, p.send.click],
            refusals_as_toasts(self.take_message, nothing_pending),
            [p.textbox, p.conversation_id, p.message_key, p.temporary, *settings],
            [p.textbox, p.chatbot, p.pending, p.message_key, *buttons],
            api_visibility="private",
            show_progress="hidden",
        )
        sent = self._stream_after(taken, p, streaming, buttons)
        retried = p.retry.click(
            refusals_as_toasts(self.take_retry, nothing_pending),
            [p.conversation_id, *settings],
            [p.chatbot, p.pending, *buttons],
            api_visibility="private",
        )
        regenerated = self._stream_after(retried, p, streaming, buttons)
        acted = self._turns.wire(
            TurnControls(
                p.chatbot, p.conversation_id, p.pending, p.send, p.stop, p.continue_, p.comment, p.last_feedback,
                settings,
            )
        )  # fmt: skip
        streams = [sent, regenerated, *(self._stream_after(event, p, streaming, buttons) for event in acted)]
        # A conversation shown (page load, sidebar, import, another tab) whose reply still streams: follow it.
        # The link first (the page's ``?c=``), then the server.
        reattached = p.conversation_id.change(
            None, [p.conversation_id, p.temporary], None, js=SET_URL_JS
        ).then(
            self.reattach, [p.conversation_id], [p.chatbot, p.status, p.context, p.continue_, *buttons],
            api_visibility="private", show_progress="hidden",
        )  # fmt: skip
        streams.append(reattached)
        self._versions.wire(p.versions, chatbot=p.chatbot, conversation_id=p.conversation_id, continue_=p.continue_)

        # The browser runs a click's listeners in order, each to its end: cancel first, then reload the reply.
        p.stop.click(None, None, None, cancels=streams)
        p.stop.click(
            self.after_stop,
            [p.conversation_id],
            [p.chatbot, p.status, *buttons, p.message_key],
            api_visibility="private",
            show_progress="hidden",
        )
        # New chat takes effect in the page at once, before the server answers the click: a message typed and sent
        # meanwhile (a busy server) starts a new conversation instead of joining the one left.
        gr.on(
            [p.new_chat.click, p.chatbot.clear, p.temporary.input],
            None,
            None,
            [p.chatbot, p.conversation_id],
            js="() => [[], '']",
        )
        # The Chatbot's own clear button means the same as New chat.
        gr.on(
            [p.new_chat.click, p.chatbot.clear],
            self.new_chat,
            None,
            self._cleared(p),
            cancels=streams,
            api_visibility="private",
        ).then(self.refresh_history, [p.history.search, p.conversation_id], self._listing(p), api_visibility="private")
        self._wire_history(demo, p, streams)
        # Switching starts a new chat of the other kind; a temporary chat is gone with its page.
        p.temporary.input(self.new_chat, None, self._cleared(p), cancels=streams, api_visibility="private")
        demo.unload(self.forget_temporary)
        demo.load(
            self.on_load,
            None,
            [p.chatbot, p.conversation_id, p.generation.model, p.generation.system_prompt, p.continue_],
            api_visibility="private",
        )
        # The header names the chosen model server and its limits, and the attach button shows while it sees
        # images (page load, then each change of model): one event, one /info lookup.
        gr.on(
            [demo.load, p.generation.model.change],
            self.server_state,
            [p.generation.model],
            [p.header, p.textbox],
            api_visibility="private",
            show_progress="hidden",
        )

        ChatApi(self._service, self._identities, self._gate, settings=self._settings).register(limit)

    def _stream_after(self, accepted: Any, p: _Parts, streaming: list[Any], buttons: list[Any]) -> Any:
        """Once a send or retry is accepted: stream the reply, then put the buttons back. Returns the stream event."""
        stream = accepted.success(
            self.stream_message,
            [p.pending],
            streaming,
            api_visibility="private",
            concurrency_limit=self._settings.max_concurrent_streams,
            show_progress="hidden",
        )
        stream.then(self.idle_buttons, None, buttons, api_visibility="private", show_progress="hidden").then(
            self.refresh_history, [p.history.search, p.conversation_id], self._listing(p), api_visibility="private"
        )
        stream.then(
            self._versions.after_reply, [p.conversation_id, p.pending], [p.chatbot, p.continue_],
            api_visibility="private", show_progress="hidden",
        )  # fmt: skip
        return stream

    def _cleared(self, p: _Parts) -> list[Any]:
        """What ``new_chat`` resets."""
        return [p.chatbot, p.conversation_id, p.status, p.textbox, p.send, p.stop, p.context, p.continue_,
                p.portability.files, p.portability.link]  # fmt: skip

    def _opened(self, p: _Parts) -> list[Any]:
        """What ``open_conversation`` fills in."""
        gen = p.generation
        return [p.chatbot, p.conversation_id, gen.model, gen.system_prompt, p.history.title, p.status, p.context,
                p.continue_, p.portability.files, p.portability.link, p.temporary]  # fmt: skip

    def _listing(self, p: _Parts) -> list[Any]:
        return [p.history.conversations, p.history.title]

    def _wire_history(self, demo: gr.Blocks, p: _Parts, cancels: list[Any]) -> None:
        h = p.history
        opened = self._opened(p)
        h.conversations.input(
            self.open_conversation, [h.conversations], opened, cancels=cancels, api_visibility="private"
        )
        h.search.change(
            self.refresh_history, [h.search, p.conversation_id], self._listing(p), api_visibility="private",
            show_progress="hidden",
        )  # fmt: skip
        h.rename.click(self.rename, [p.conversation_id, h.title], None, api_visibility="private").success(
            self.refresh_history, [h.search, p.conversation_id], self._listing(p), api_visibility="private"
        )
        t, trash = p.trash, self._trash
        trash.wire()
        undoable = [t.undo, t.deleted_id, t.timer]
        h.delete.click(self.delete, [p.conversation_id], undoable, api_visibility="private").success(
            self.new_chat,
            None,
            self._cleared(p),
            api_visibility="private",
        ).then(self.refresh_history, [h.search, p.conversation_id], self._listing(p), api_visibility="private").then(
            trash.collapse, None, [t.accordion], api_visibility="private", show_progress="hidden"
        )
        undone = t.undo.click(trash.undo_delete, [t.deleted_id], [*undoable, t.restored], api_visibility="private")
        chosen = t.restore.click(trash.restore_chosen, [t.deleted], [*undoable, t.restored], api_visibility="private")
        for restored, refresh in ((undone, trash.collapse), (chosen, trash.listing)):
            restored.success(
                self.open_conversation, [t.restored], opened, cancels=cancels, api_visibility="private"
            ).then(
                self.refresh_history, [h.search, p.conversation_id], self._listing(p), api_visibility="private"
            ).then(refresh, None, [t.accordion, t.deleted], api_visibility="private", show_progress="hidden")
        pc, portability = p.portability, self._portability
        pc.export.click(portability.export, [p.conversation_id], [pc.files], api_visibility="private")
        portability.imports.wire().success(
            self.open_conversation, [pc.imports.imported], opened, cancels=cancels, api_visibility="private"
        ).then(self.refresh_history, [h.search, p.conversation_id], self._listing(p), api_visibility="private")
        pc.share.click(portability.share, [p.conversation_id], [pc.link], api_visibility="private")
        portability.wire_revoke(p.conversation_id)
        demo.load(self.refresh_on_load, [h.search], self._listing(p), api_visibility="private", js=CLOSE_ON_PHONES_JS)

    # -- UI handlers -------------------------------------------------------------------------------------------

    async def take_message(
        self,
        composed: Any,
        conversation_id: str,
        key: MessageKey | None,
        temporary: bool | None,
        request: gr.Request,
        *settings: Any,
    ) -> dict[Any, Any]:
        """Check the message, the settings and the rate limits; on a refusal the text stays in the box.

        The chat shown before the reply comes from the store, not from the page: a send uploads the message, never
        the whole conversation (which would outgrow the request size cap in a long chat). The message goes with
        a client id, the same as last time when the same text is sent again after an error (``MessageKey``)."""
        p = self._p
        message, files = attachments.typed(composed)
        if not message.strip() and not files:
            return {p.pending: None}
        cid = parse_conversation_id(conversation_id)
        temporary = self._temporary_wanted(temporary)
        try:
            if temporary and files:
                raise MessageRejected(say("refusal_temporary_images"))
            images = await attachments.read_images(files, self._settings)
        except ChatLensError as exc:
            raise user_error(exc) from exc
        if temporary and not self._temporary.holds(cid):  # the first message of a temporary chat
            cid = self._temporary.open(self._user_id(request), request.session_hash or "")
            conversation_id = str(cid)
        turn = NewMessage(message, cid, images=images)
        pending = await self._pending(turn, settings)
        await self._admit(request)
        key, shown = await self._turns.prepare_send(conversation_id, request, key, message)
        if images and shown and shown[-1].get("content") == message:  # thumbnails once stored: the first frame
            shown = [*shown[:-1], {"role": "user", "content": render.attaching(message, len(images))}]
        pending = replace(pending, turn=replace(turn, message_id=key.id), shown=shown, files=tuple(files))
        return {p.textbox: attachments.EMPTY, p.message_key: key, **self._turns.controls.accepted(pending)}

    async def take_retry(self, conversation_id: str, request: gr.Request, *settings: Any) -> dict[Any, Any]:
        cid = parse_conversation_id(conversation_id)
        shown = render.strip_reply(await self._turns.shown(conversation_id, request))
        if cid is None or not shown:
            raise user_error(MessageRejected(say("refusal_no_reply_yet")))
        pending = await self._pending(Retry(cid), settings)
        return self._turns.controls.accepted(replace(pending, shown=shown))

    async def _admit(self, request: gr.Request | None) -> None:
        try:
            if self._gate is not None:
                await self._gate.admit(request)
        except ChatLensError as exc:
            raise user_error(exc) from exc

    async def _pending(self, turn: Turn, settings: tuple[Any, ...]) -> Pending:
        """``turn`` with the page's settings, checked: a typed message and the parameters, before anything is sent."""
        model, system_prompt, params = self._generation.read(*settings)
        params = await self._generation.unchosen_as_unset(model, params)
        text = typed_text(turn)
        try:
            if text is not None:
                self._service.check_message(text)
            info = await self._service.known_model_info(model)
            if isinstance(turn, NewMessage) and turn.images:
                self._service.check_sees(info)
            params = param_checks.checked(params, info)
        except ChatLensError as exc:
            raise user_error(exc) from exc
        return Pending(turn, model, system_prompt, params)

    async def stream_message(self, pending: Pending | None, request: gr.Request) -> AsyncIterator[dict[Any, Any]]:
        """Stream the reply to the accepted turn: the chat is what was shown before it plus the reply so far; the
        other parts change only when they must (the id and clock on phase changes), so little is re-sent per frame."""
        p = self._p
        if pending is None:  # nothing was accepted (an empty box, a refusal): change nothing
            yield {p.status: gr.skip()}  # a generator that yields nothing sets every output to None: an empty chat
            return
        user_id = self._user_id(request)
        reply = self._service.stream_reply(
            pending.turn,
            user_id=user_id,
            params=pending.params,
            model=pending.model,
            system_prompt=pending.system_prompt,
            origin=TEMPORARY_ORIGIN if self._temporary.holds(pending.turn.conversation_id) else None,
        )
        # The reply runs on its own; this page follows it (a closed tab or reload leaves it running).
        session = request.session_hash
        frames = self._live.follow(self._live.start(reply, user_id=user_id, session=session), session=session)
        phase = None
        shown = pending.shown
        language = request_language()
        try:
            async with aclosing(frames):
                async for frame in frames:
                    first = phase is None
                    changed = frame.phase != phase
                    phase = frame.phase
                    if first:
                        shown = self._with_thumbnails(pending)
                    update: dict[Any, Any] = {p.chatbot: [*shown, *render.reply_messages(frame, language)]}
                    if first:
                        update[p.conversation_id] = str(frame.conversation_id)
                    if changed:
                        update[p.status] = render.status_html(frame, language)
                    if frame.context:
                        update[p.context] = render.frame_context_html(frame, language)
                    if frame.is_final or first:
                        update[p.continue_] = gr.update(visible=render.stopped_on_length(frame))
                    yield update | self._key_after(pending, frame, first)
        except ChatLensError as exc:
            text = typed_text(pending.turn)
            if text is not None and phase is None:
                # Nothing was stored: give the text and the attached files back to the box so nothing is lost.
                shown = render.strip_reply(pending.shown)[:-1]
                # An id the store will not take again (the message was edited away meanwhile): the next send is new.
                forget = {p.message_key: None} if isinstance(exc, MessageIdTaken) else {}
                box = {"text": text, "files": list(pending.files)}
                yield {p.chatbot: shown, p.status: "", p.textbox: box, **forget}
            if text is not None and phase is None:  # refused before the reply began (too long…): a toast
                refusal = user_error(exc)
                gr.Warning(refusal.message, title=refusal.title or "ChatLens")
                return
            raise user_error(exc) from exc

    @staticmethod
    def _with_thumbnails(pending: Pending) -> render.ChatMessages:
        """The chat before the reply, its new message's images as thumbnails (stored now: they can be fetched)."""
        turn = pending.turn
        if not isinstance(turn, NewMessage) or not turn.images or not pending.shown:
            return pending.shown
        refs = [image.ref for image in turn.images]
        return [*pending.shown[:-1], {"role": "user", "content": render.user_content(turn.content, refs)}]

    def _key_after(self, pending: Pending, frame: ReplyFrame, first: bool) -> dict[Any, Any]:
        """The message key once its reply completes: dropped (the next send is a new message); on the first
        frame it learns the conversation a new chat got."""
        if frame.phase == "complete":
            return {self._p.message_key: None}
        turn = pending.turn
        if first and isinstance(turn, NewMessage) and turn.message_id is not None:
            return {self._p.message_key: MessageKey(turn.message_id, turn.content, str(frame.conversation_id))}
        return {}

    def idle_buttons(self) -> dict[Any, Any]:
        return {self._p.send: gr.update(visible=True), self._p.stop: gr.update(visible=False)}

    async def after_stop(self, conversation_id: str, request: gr.Request) -> dict[Any, Any]:
        """After Stop: wait for the cancelled reply to be recorded, then show it as stored (status 'stopped')."""
        p = self._p
        idle = {p.status: "", **self.idle_buttons(), p.message_key: None}
        cid = parse_conversation_id(conversation_id)
        user_id = self._user_id(request)
        # From any tab: the reply of this conversation, or the one this page started before it named its chat.
        self._live.stop(user_id, conversation_id=cid, session=request.session_hash)
        if cid is None:
            return idle
        await self._service.wait_until_idle(cid)
        await self._recorder.flush()
        view = await asyncio.to_thread(self._load, cid, user_id)
        return {p.chatbot: render.conversation_messages(view, request_language()), **idle} if view else idle

    async def reattach(self, conversation_id: str, request: gr.Request) -> AsyncIterator[dict[Any, Any]]:
        """A conversation just shown (a reload, a sidebar click, another tab) whose reply is still streaming: show
        the text so far and follow it live, with Stop, to its end."""
        p = self._p
        user_id = self._user_id(request)
        live = self._live.of_conversation(parse_conversation_id(conversation_id), user_id)
        if live is None or live.conversation_id is None or request.session_hash in live.following:
            yield {p.status: gr.skip()}  # nothing streams here, or this page shows it already: leave it as it is
            return
        view = await asyncio.to_thread(self._load, live.conversation_id, user_id)
        if view is None:
            yield {p.status: gr.skip()}
            return
        language = request_language()
        shown = render.conversation_messages(view, language)  # up to the question: the reply is stored when it ends
        if live.done:  # it ended (and was stored) while the conversation was read: the store has it all
            yield {p.chatbot: shown}
            return
        phase = None
        async with aclosing(self._live.follow(live, session=request.session_hash)) as frames:
            async for frame in frames:
                update: dict[Any, Any] = {p.chatbot: [*shown, *render.reply_messages(frame, language)]}
                if phase is None:
                    update |= {p.send: gr.update(visible=False), p.stop: gr.update(visible=True)}
                if frame.phase != phase:
                    update[p.status] = render.status_html(frame, language)
                phase = frame.phase
                if frame.context:
                    update[p.context] = render.frame_context_html(frame, language)
                if frame.is_final:
                    update[p.continue_] = gr.update(visible=render.stopped_on_length(frame))
                yield update
        if phase is not None:
            yield self.idle_buttons()

    def new_chat(self) -> dict[Any, Any]:
        p = self._p
        hidden = gr.update(visible=False)
        return {
            p.chatbot: [], p.conversation_id: "", p.status: "", p.send: gr.update(visible=True), p.stop: hidden,
            p.context: "", p.continue_: hidden, p.portability.files: hidden, p.portability.link: hidden,
        }  # fmt: skip

    async def refresh_history(self, search: str, conversation_id: str, request: gr.Request) -> dict[Any, Any]:
        return await self._history.listing(self._user_id(request), search, conversation_id or None)

    async def refresh_on_load(self, search: str, request: gr.Request) -> dict[Any, Any]:
        current = parse_conversation_id(request.query_params.get("c"))
        return await self._history.listing(self._user_id(request), search, str(current) if current else None)

    async def open_conversation(self, conversation_id: str | None, request: gr.Request) -> dict[Any, Any]:
        cid = parse_conversation_id(conversation_id)
        view = await asyncio.to_thread(self._store.load_conversation, cid, self._user_id(request)) if cid else None
        if view is None:
            raise user_error(MessageRejected(say("refusal_gone")))
        p = self._p
        hidden = gr.update(visible=False)
        return {
            **self._reopened(view), p.history.title: view.title, p.status: "", p.context: "",
            p.portability.files: hidden, p.portability.link: hidden,
            p.temporary: self._settings.temporary_chats == "always",  # a stored chat: the switch follows it
        }  # fmt: skip

    async def rename(self, conversation_id: str, title: str, request: gr.Request) -> None:
        cid = parse_conversation_id(conversation_id)
        if self._temporary.holds(cid):
            raise user_error(MessageRejected(say("refusal_temporary_rename")))
        await self._history.rename(self._user_id(request), cid, title)

    async def delete(self, conversation_id: str, request: gr.Request) -> dict[Any, Any]:
        """Delete the open conversation, offering to undo it for a few seconds."""
        cid = parse_conversation_id(conversation_id)
        if cid is not None and self._temporary.holds(cid):  # nothing kept: nothing to undo
            self._temporary.forget(cid)
            return {}
        await self._history.delete(self._user_id(request), cid)
        assert cid is not None  # refused above otherwise
        return self._trash.offer_undo(cid)

    def forget_temporary(self, request: gr.Request) -> None:
        """The page went away (reload, closed tab): its temporary chat with it."""
        self._temporary.forget_session(request.session_hash or "")

    async def on_load(self, request: gr.Request) -> dict[Any, Any]:
        """Reopen the conversation named in the URL (``?c=``) with its model and system prompt; without one,
        leave the page as the user has it."""
        cid = parse_conversation_id(request.query_params.get("c"))
        if cid is None:
            unchanged: dict[Any, Any] = gr.skip()  # one skip stands for every output
            return unchanged
        view = await asyncio.to_thread(self._store.load_conversation, cid, self._user_id(request))
        if view is None:
            gr.Warning(say("toast_conversation_not_found"))
            return {self._p.chatbot: [], self._p.conversation_id: ""}
        return self._reopened(view)

    def _reopened(self, view: ConversationView) -> dict[Any, Any]:
        """A stored conversation on the page: its chat and id, its model (if still configured) and system prompt."""
        p = self._p
        model = {p.generation.model: view.model} if view.model in self._service.model_names else {}
        return {
            p.chatbot: render.conversation_messages(view, request_language()), p.conversation_id: str(view.id), **model,
            p.generation.system_prompt: view.system_prompt, p.continue_: gr.update(visible=can_continue(view)),
        }  # fmt: skip

    async def server_state(self, model: str | None) -> dict[Any, Any]:
        """The header (the chosen model server, its limits or its state) and the composer's attach button, shown
        while that server says it sees images."""
        p, language = self._p, request_language()
        if not self._service.configured:
            hint = locales.text("server_not_configured_hint", language)
            header = render.header_html(None, "not_configured", hint, language)
            return {p.header: header, p.textbox: attachments.attach_update(None, self._settings)}
        info = None
        try:
            info = await self._service.model_info(model or None)
            header = render.header_html(info, language=language)
        except ChatLensError as exc:
            explanation = locales.error_sentence(exc.user_message, language)
            header = render.header_html(None, exc.kind, explanation, language)
        return {p.header: header, p.textbox: attachments.attach_update(info, self._settings)}
