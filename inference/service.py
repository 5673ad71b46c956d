"""ChatService: takes a user's turn, streams the reply from the model server, times it and hands it to a recorder.

Invariants:
* The user's side of the turn is committed (``Recorder.begin``) before the model is called. A message sent again
  under the client id it was stored with is not stored twice: its completed reply is returned without calling the
  model, an unfinished one is answered again (``storage.resends``).
* The assistant message and its metrics are handed over exactly once per turn, whether the stream completes,
  fails, or is cancelled (Stop, closed tab): partial text is kept with status ``stopped`` / ``error``.
* Nothing here touches the database or does per-token work beyond appending text: the upstream is read by
  one task per reply, and the screen gets paced frames (``inference.pacing``).
* Cancelling the consumer cancels the reader task, which closes the upstream HTTP stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import errors
from inference import context, param_checks
from inference.pacing import FrameBudget
from inference.ports import Recorder, ReplyFrame, TextGenerator
from inference.reasoning import DEFAULT_TAGS, TagPair
from inference.reply_stream import ReplyStream
from inference.titles import Titles, title_from
from inference.turns import Continue, NewMessage, Turn, typed_text
from inference.types import (
    ChatMessage,
    ConversationSetup,
    GenerationMetrics,
    GenerationParams,
    ModelInfo,
    Origin,
    TurnStart,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Call:
    """A turn checked against its model server: the server, its limits (or why it did not answer), what to send."""

    generator: TextGenerator
    info: ModelInfo | None
    failure: errors.ChatLensError | None
    params: GenerationParams
    system: list[ChatMessage]
    budget: int | None  # prompt tokens the window leaves (None: unknown)
    chars_per_token: float
    image_tokens: int  # what one image is counted as (learned from usage, else the configured estimate)


# Sent after the stopped reply (not stored): works on every Messages-API server, unlike prefilling the reply.
CONTINUE_INSTRUCTION = "Continue your last reply exactly where it stopped. Do not repeat anything already written."


class ChatService:
    def __init__(
        self,
        generators: Mapping[str, TextGenerator],
        recorder: Recorder,
        *,
        budget: FrameBudget,
        max_message_chars: int,
        max_new_tokens: int,
        system_prompt: str = "",
        model_defaults: Mapping[str, GenerationParams] | None = None,
        auto_title: bool = False,
        max_reply_chars: int | None = None,
        reasoning_tags: Iterable[TagPair] = DEFAULT_TAGS,
        image_tokens: int = context.DEFAULT_IMAGE_TOKENS,
        early_start: bool = True,
    ) -> None:
        """``generators``: the configured model servers by name; the first is the default. ``model_defaults``:
        per model, the parameters used where a request leaves one unset. ``reasoning_tags``: the tag pairs around
        thinking inside reply text (``inference.reasoning``). ``image_tokens``: what one image is counted as in the
        context window until the server's ``usage`` says. ``early_start``: a new message's request to the model
        leaves while the message commits (``Recorder.begin(early=True)``); its reply is shown once it is committed."""
        self._generators = dict(generators)
        self._model_defaults = dict(model_defaults or {})
        self._recorder = recorder
        self._budget = budget
        self._max_message_chars = max_message_chars
        self._max_new_tokens = max_new_tokens
        self._system_prompt = system_prompt
        self._active: dict[uuid.UUID, asyncio.Event] = {}
        self._readers: set[asyncio.Task[None]] = set()
        self._chars_per_token: dict[str, float] = {}
        self._max_reply_chars = max_reply_chars
        self._reasoning_tags = tuple(reasoning_tags)
        self._image_tokens = image_tokens
        self._image_tokens_learned: dict[str, int] = {}
        self._titles = Titles(recorder, self._reasoning_tags) if auto_title else None
        self._draining = False
        self._early_start = early_start
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop replies stream on, for shutdown from outside

    @property
    def configured(self) -> bool:
        return bool(self._generators)

    @property
    def model_names(self) -> list[str]:
        return list(self._generators)

    @property
    def in_flight(self) -> int:
        return self._budget.active

    def generator(self, model: str | None = None) -> TextGenerator:
        """The named model server (default: the first configured one)."""
        if not self._generators:
            raise errors.NotConfigured()
        if not model:
            return next(iter(self._generators.values()))
        try:
            return self._generators[model]
        except KeyError:
            names = ", ".join(self._generators)
            raise errors.MessageRejected(f"There is no model named {model!r}. Choose one of: {names}.") from None

    def check_message(self, message: str) -> str:
        """Refuse what cannot be sent, before anything is stored or sent. Returns the message to send."""
        if self._draining:
            raise errors.ShuttingDown()
        if not message.strip():
            raise errors.MessageRejected("Type a message first.")
        if len(message) > self._max_message_chars:
            raise errors.MessageRejected(
                f"Your message is {len(message):,} characters long; the limit is {self._max_message_chars:,}. "
                "Shorten it and send again — your text is still in the box."
            )
        if not self._generators:
            raise errors.NotConfigured()
        return message

    @staticmethod
    def check_sees(info: ModelInfo | None) -> None:
        """Refuse images for a model server that says it sees none (one that does not say is sent them)."""
        if info is not None and info.vision is False:
            raise errors.MessageRejected(
                f"The model {info.model_id} does not take images (it reads text only). Send the text alone, or "
                "choose a model that sees images."
            )

    async def model_info(self, model: str | None = None) -> ModelInfo:
        return await self.generator(model).info()

    async def known_model_info(self, model: str | None = None) -> ModelInfo | None:
        """The model server's limits if it answers, else ``None`` (checks then use TGI's defaults)."""
        try:
            return await self.model_info(model)
        except errors.ChatLensError:
            return None

    async def model_server_healthy(self) -> bool:
        if not self._generators:
            return False
        checks = await asyncio.gather(*(generator.health() for generator in self._generators.values()))
        return all(checks)

    def refuse_new_turns(self) -> None:
        self._draining = True

    async def drain(self, grace_s: float) -> None:
        """Shutdown: refuse new turns, let streaming replies finish for ``grace_s``, then stop the rest.

        Stopped replies are recorded as ``stopped`` by their own streams (their upstream readers are cancelled).
        """
        self._draining = True
        if self._readers:
            await asyncio.wait(set(self._readers), timeout=grace_s)
        for reader in list(self._readers):
            reader.cancel()
        recorded = [asyncio.create_task(idle.wait()) for idle in self._active.values()]
        if recorded:
            await asyncio.wait(recorded, timeout=5)
            for waiter in recorded:
                waiter.cancel()

    async def wait_until_idle(self, conversation_id: uuid.UUID, timeout_s: float = 5.0) -> None:
        """Wait until no reply of this conversation is streaming (used after Stop, before reloading it)."""
        idle = self._active.get(conversation_id)
        if idle is not None:
            try:
                async with asyncio.timeout(timeout_s):
                    await idle.wait()
            except TimeoutError:
                log.warning("conversation %s still streaming after %.1fs", conversation_id, timeout_s)

    async def stream_reply(
        self,
        turn: Turn,
        *,
        user_id: uuid.UUID,
        params: GenerationParams,
        model: str | None = None,
        system_prompt: str | None = None,
        shrink_to_fit: bool = False,
        origin: Origin | None = None,
    ) -> AsyncGenerator[ReplyFrame, None]:
        """Stream the reply to ``turn`` (``inference.turns``: a new message, Retry, Edit or Continue).

        Refusals (bad message, parameters the server would reject, a message that cannot fit the model's window,
        unknown model) raise before anything is stored. ``shrink_to_fit`` (API callers): a ``max_tokens`` too large
        for the message is lowered to what fits instead — as is, always, a ``max_tokens`` the caller did not set.
        ``origin``: where the turn came from (default: the page), recorded with the reply.
        """
        started_at = time.monotonic()
        self.loop = asyncio.get_running_loop()
        call = await self._prepare(turn, params, model, system_prompt, shrink_to_fit)
        start = await self._recorder.begin(
            turn,
            user_id=user_id,
            model_id=call.info.model_id if call.info else None,
            setup=ConversationSetup(model=model, system_prompt=system_prompt),
            origin=origin,
            early=self._early_start,
        )
        if start.answer is not None:  # sent again after its reply completed: that reply, no model call
            await _committed(start)
            yield ReplyFrame(start.conversation_id, start.answer, "complete", time.monotonic() - started_at)
            return
        if start.resent and start.conversation_id in self._active:
            raise errors.MessageRejected("This message is already being answered; wait for that reply.")
        idle = self._active[start.conversation_id] = asyncio.Event()
        try:
            prompt, use, failure = self._prompt(call, start.history, continuing=isinstance(turn, Continue))
            text = typed_text(turn)
            # An OpenAI-style call is a conversation of its own, read by a program: no second model call to title it.
            titled = origin is None or (origin.store_text and origin.source != "openai_api")
            first_message = titled and isinstance(turn, NewMessage) and len(start.history) == 1 and not start.resent
            async for frame in self._stream_turn(call, start, prompt, user_id, failure, started_at, use, origin):
                if first_message and frame.phase == "complete" and self._titles is not None and text is not None:
                    self._titles.start(
                        call.generator, user_id, start.conversation_id, text,
                        in_flight=self.in_flight, default_title=title_from(text),
                    )  # fmt: skip
                yield frame
        finally:
            idle.set()
            if self._active.get(start.conversation_id) is idle:
                del self._active[start.conversation_id]

    async def _prepare(
        self,
        turn: Turn,
        params: GenerationParams,
        model: str | None,
        system_prompt: str | None,
        shrink_to_fit: bool,
    ) -> _Call:
        """Check the turn against the model server before anything is stored; raises what is refused.

        A server that does not answer is not a refusal for a typed message (it is stored, and the reply recorded
        as the error); Retry and Continue are refused instead, so the reply on screen stays as it is."""
        text = typed_text(turn)
        if text is not None:
            self.check_message(text)
        elif self._draining:
            raise errors.ShuttingDown()
        generator = self.generator(model)
        info: ModelInfo | None = None
        failure: errors.ChatLensError | None = None
        try:
            info = await generator.info()
        except errors.ChatLensError as exc:
            failure = exc
        images = len(turn.images) if isinstance(turn, NewMessage) else 0
        if images:
            self.check_sees(info)
        chosen = params.max_tokens is not None  # a default (the service's or the model's) is never refused
        params = self._effective_params(param_checks.checked(self._with_defaults(params, model), info), info)
        chars_per_token = self._chars_per_token.get(generator.base_url, context.DEFAULT_CHARS_PER_TOKEN)
        image_tokens = self._image_tokens_learned.get(generator.base_url, self._image_tokens)
        system = self._system_messages(system_prompt)
        if text is not None and (shrink_to_fit or not chosen):
            params = context.shrunk_to_fit(params, info, system, text, chars_per_token, image_tokens, images)
        budget = context.prompt_budget(info, params.max_tokens)
        if text is not None:
            context.check_fits(system, text, budget, params.max_tokens, chars_per_token, image_tokens, images)
        if failure is not None and text is None:
            raise failure
        return _Call(generator, info, failure, params, system, budget, chars_per_token, image_tokens)

    def _prompt(
        self, call: _Call, history: Sequence[ChatMessage], *, continuing: bool
    ) -> tuple[list[ChatMessage], context.ContextUse, errors.ChatLensError | None]:
        """What the model is sent: the system prompt and as much of the history as fits the window (the newest
        message always; with Continue, also the reply it goes on from). Returns the failure to record instead of
        calling the model, if any: the call's own, or a history that cannot fit (stored already: a retry's rewind,
        so the reply is recorded as this error and nothing vanishes)."""
        messages = call.system + self._turns(history, continuing)
        try:
            prompt, use = context.fit(
                messages, call.budget, call.chars_per_token, keep_last=2 if continuing else 1,
                image_tokens=call.image_tokens,
            )  # fmt: skip
        except errors.MessageRejected as exc:
            return [], context.ContextUse(0, call.budget), exc
        return prompt, use, call.failure

    async def title_ready(self, conversation_id: uuid.UUID, timeout_s: float) -> None:
        """Wait (bounded) for the automatic title of a new conversation, so the sidebar can show it."""
        if self._titles is not None:
            await self._titles.wait(conversation_id, timeout_s)

    def _with_defaults(self, params: GenerationParams, model: str | None) -> GenerationParams:
        name = model or next(iter(self._generators), None)
        defaults = self._model_defaults.get(name or "")
        if defaults is None:
            return params
        unset = {
            field: getattr(defaults, field)
            for field in (
                "max_tokens",
                "temperature",
                "top_p",
                "frequency_penalty",
                "seed",
                "thinking",
                "reasoning_effort",
            )
            if getattr(params, field) is None and getattr(defaults, field) is not None
        }
        if not params.stop and defaults.stop:
            unset["stop"] = defaults.stop
        return replace(params, **unset)

    def _effective_params(self, params: GenerationParams, info: ModelInfo | None) -> GenerationParams:
        if params.max_tokens is not None:
            return params
        return replace(params, max_tokens=self.default_max_tokens(info))

    def default_max_tokens(self, info: ModelInfo | None) -> int:
        """The cap on a reply when the caller sets none, fitted to the server's window (``context``)."""
        return context.fitted_max_tokens(self._max_new_tokens, info)

    def _system_messages(self, system_prompt: str | None) -> list[ChatMessage]:
        system = self._system_prompt if system_prompt is None else system_prompt
        return [ChatMessage("system", system)] if system.strip() else []

    @staticmethod
    def _turns(history: Sequence[ChatMessage], continue_reply: bool) -> list[ChatMessage]:
        """The history as the model sees it: strictly alternating, starting with the user, as chat templates
        (Mistral, Gemma…) demand. A reply that failed before its first token has no text and is left out; the
        messages that then meet (two questions, or a reply continued after ``length``) are joined into one."""
        turns: list[ChatMessage] = []
        for m in history:
            if m.role == "assistant" and not m.content:
                continue
            if m.role == "assistant" and not turns:
                continue  # an imported chat may open with the assistant: the template wants the user first
            if turns and turns[-1].role == m.role:
                separator = "" if m.role == "assistant" else "\n\n"
                turns[-1] = ChatMessage(m.role, turns[-1].content + separator + m.content, turns[-1].images + m.images)
            else:
                turns.append(m)
        if continue_reply:
            turns.append(ChatMessage("user", CONTINUE_INSTRUCTION))
        return turns

    async def _stream_turn(
        self,
        call: _Call,
        start: TurnStart,
        prompt: list[ChatMessage],
        user_id: uuid.UUID,
        failure: errors.ChatLensError | None,
        started_at: float,
        use: context.ContextUse,
        origin: Origin | None = None,
    ) -> AsyncIterator[ReplyFrame]:
        """The frames of one reply (``inference.reply_stream``): waiting, generating (paced), then the final one.

        The final frame goes out as soon as the reply is handed to the recorder; the generator ends (and an API
        call completes) once the reply is durable. A ``failure`` known before the call is recorded and shown as the
        reply, without calling the model."""
        cid = start.conversation_id
        reply = ReplyStream(
            call.generator.stream(prompt, call.params), self._recorder.finish_turn,
            conversation_id=cid, user_id=user_id, params=call.params, model=call.info, started_at=started_at,
            in_flight=self._budget.active, max_chars=self._max_reply_chars, reasoning_tags=self._reasoning_tags,
            origin=origin, parent_id=start.leaf_id,
        )  # fmt: skip
        if failure is not None:
            await _committed(start)
            ended = reply.fail(failure)
            await ended.durable
            yield ReplyFrame(
                cid, "", "error", time.monotonic() - started_at, ended.metrics, failure, message_id=ended.message_id
            )
            return
        with self._budget.stream():
            reader = reply.open()  # while the user's message may still be committing (``TurnStart.durable``)
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
            try:
                try:
                    await _committed(start)
                except BaseException:
                    await reply.abandon()  # not saved: the request is closed and nothing of it is recorded
                    raise
                yield ReplyFrame(cid, "", "waiting", time.monotonic() - started_at, context=use)
                while await reply.next_frame(self._budget.interval_s):
                    yield ReplyFrame(
                        cid, reply.text, "thinking" if reply.thinking_now else "generating",
                        reply.last_frame_at - started_at, thinking=reply.thinking,
                        thinking_s=reply.thinking_s(reply.last_frame_at),
                    )  # fmt: skip
                ended = await reply.finish()
            finally:
                await reply.close()
        use = self._measured_use(call.generator, prompt, ended.metrics, use)
        metrics = ended.metrics
        thinking_s = metrics.thinking_ms / 1000 if metrics.thinking_ms is not None and reply.thinking else None
        yield ReplyFrame(
            cid, reply.text, ended.status, metrics.duration_ms / 1000, metrics, ended.error, context=use,
            thinking=reply.thinking, thinking_s=thinking_s, message_id=ended.message_id,
        )  # fmt: skip
        await ended.durable

    def _measured_use(
        self, generator: TextGenerator, prompt: list[ChatMessage], metrics: GenerationMetrics, use: context.ContextUse
    ) -> context.ContextUse:
        """Learn this server's characters per token (or, for a prompt with images, what an image takes) from the
        prompt size it reported; the window use, measured."""
        chars_per_token = self._chars_per_token.get(generator.base_url, context.DEFAULT_CHARS_PER_TOKEN)
        per_image = context.learned_image_tokens(prompt, metrics.prompt_tokens, chars_per_token)
        if per_image is not None:
            self._image_tokens_learned[generator.base_url] = per_image
        learned = context.learned_chars_per_token(prompt, metrics.prompt_tokens)
        if learned is not None:
            self._chars_per_token[generator.base_url] = learned
        if metrics.prompt_tokens is None or (learned is None and per_image is None):
            return use
        return replace(use, used_tokens=metrics.prompt_tokens + metrics.output_tokens, measured=True)


async def _committed(start: TurnStart) -> None:
    """Wait until the user's side of the turn is committed (at once if the recorder returned it committed)."""
    if start.durable is not None:
        await start.durable
