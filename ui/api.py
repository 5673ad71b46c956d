"""The documented HTTP API: ``/chat`` (streams the growing reply, text only) and ``/new_conversation``.

``/chat`` streams the answer only; ``thinking=True`` puts a thinking model's thought before it, between
``<think>`` and ``</think>`` (the shape DeepSeek-style clients and Gradio's ``Chatbot(reasoning_tags=…)`` read).
``files`` takes images (gradio_client's ``handle_file``): uploaded to Gradio's upload folder first, and only files
from that folder are read — a path the caller names anywhere else is refused.

Same service and the same per-caller identity as the page; refusals become ``gr.Error`` with a readable message.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import gradio as gr

from access.identity import Identities
from access.message_gate import MessageGate
from errors import ChatLensError, MessageRejected
from inference import param_checks
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import GenerationParams, Origin
from settings import Settings
from storage.resends import parse_message_id
from ui import attachments
from ui.errors import user_error


def parse_conversation_id(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def with_thinking(thinking: str, answer: str) -> str:
    """A reply for API callers who asked for the thinking: the thought in ``<think>`` tags, then the answer."""
    return f"<think>\n{thinking.strip()}\n</think>\n\n{answer}"


def uploaded_paths(files: list[Any] | None) -> list[str]:
    """The server paths of ``files`` (FileData dicts from ``handle_file``, or paths), each inside Gradio's upload
    folder; anything else is refused (a caller must not make the server read a file of its choosing)."""
    uploads = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    paths = []
    for item in files or []:
        raw = item.get("path") if isinstance(item, dict) else item
        path = Path(str(raw or "")).resolve()
        if not path.is_relative_to(uploads) or not path.is_file():
            raise MessageRejected("files must be uploaded with the request (gradio_client's handle_file).")
        paths.append(str(path))
    return paths


class ChatApi:
    def __init__(
        self, service: ChatService, identities: Identities, gate: MessageGate | None = None, *, settings: Settings
    ) -> None:
        self._service = service
        self._identities = identities
        self._gate = gate
        self._settings = settings

    def register(self, concurrency_limit: int) -> None:
        gr.api(self.chat, api_name="chat", concurrency_limit=concurrency_limit)  # type: ignore[attr-defined]
        gr.api(self.new_conversation, api_name="new_conversation")  # type: ignore[attr-defined]

    async def chat(
        self,
        message: str,
        conversation_id: str = "",
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        model: str = "",
        system_prompt: str | None = None,
        frequency_penalty: float | None = None,
        stop: list[str] | None = None,
        message_id: str | None = None,
        thinking: bool = False,
        enable_thinking: bool | None = None,
        reasoning_effort: str | None = None,
        files: list[Any] | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> AsyncIterator[str]:
        """Stream the reply to `message`; each update is the whole reply so far (text only).

        Pass the id from `/new_conversation` as `conversation_id` to continue a conversation (empty: a new one
        each call). `temperature` 0 is greedy; `top_p` 1 and `frequency_penalty` 0 mean off; numbers out of the
        model server's range are brought into it, a negative temperature or too many `stop` sequences are refused.
        `model` names one of the configured model servers (empty: the first); unset values use the defaults.

        `message_id` (a UUID the client makes, e.g. `str(uuid.uuid4())`; empty: the server makes one) makes a
        retry safe: sending the same message again with the same id after an error never stores it twice. If its
        reply completed, that reply is returned without calling the model; if not, it is answered again. The id of
        a different message (other text, conversation or user) is refused.

        `thinking`: with a model that thinks before it answers, each update starts with the thought so far as
        `<think>…</think>` and a blank line, then the answer (default: the answer only; stored apart either way).
        `enable_thinking` (true / false; unset: the server's default) is sent as `chat_template_kwargs` and
        `reasoning_effort` (low / medium / high) as is, to models that take them.

        `files`: images for the message (PNG, JPEG, WebP or GIF; `[handle_file("cat.png")]`), sent to a model that
        sees images and stored with the message; refused with the reason for a text-only model or a file that is
        not an image, too large, or one too many.
        """
        cid = parse_conversation_id(conversation_id)
        try:
            if conversation_id and cid is None:
                raise MessageRejected("conversation_id must be an id returned by /new_conversation.")
            mid = parse_message_id(message_id)
            images = await attachments.read_images(uploaded_paths(files), self._settings)
            if images:
                self._service.check_sees(await self._service.known_model_info(model or None))
            if self._gate is not None:
                await self._gate.admit(request)
            requested = GenerationParams(
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                frequency_penalty=frequency_penalty,
                seed=seed,
                stop=tuple(stop or ()),
                thinking=enable_thinking,
                reasoning_effort=reasoning_effort or None,
            )
            params = param_checks.clamped(requested, await self._service.known_model_info(model or None))
            identity = self._identities.of(request)
            frames = self._service.stream_reply(
                NewMessage(message, conversation_id=cid, message_id=mid, images=images),
                user_id=identity.user_id,
                params=params,
                model=model or None,
                system_prompt=system_prompt,
                shrink_to_fit=True,
                origin=Origin(source="gradio_api", token_id=identity.token_id),
            )
            async with aclosing(frames):
                async for frame in frames:
                    if frame.error is not None:
                        raise frame.error
                    if thinking and frame.thinking:
                        yield with_thinking(frame.thinking, frame.text)
                    elif frame.text or frame.is_final:
                        yield frame.text
        except ChatLensError as exc:
            raise user_error(exc) from exc

    def new_conversation(self) -> str:
        """Return a fresh conversation id to pass to `/chat` as `conversation_id`."""
        return str(uuid.uuid4())
