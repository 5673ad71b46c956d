"""Speed A/B (admins): one prompt to two model servers — or one server with two parameter sets — side by side.

Both replies stream at once, each with its live time to first token and rate; each is an ordinary turn (its own new
conversation, the admin's user id), so it is recorded with its metrics and shows in the charts like any reply.
The handler checks the admin itself; the streams go through ``ChatService`` exactly as chat replies do.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

import locales
from access.identity import Identities
from errors import ChatLensError
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.turns import NewMessage
from inference.types import GenerationParams
from ui.errors import request_language
from ui.i18n import say, t

SIDES = ("A", "B")


@dataclass
class SideControls:
    model: gr.Dropdown
    temperature: gr.Number
    max_tokens: gr.Number
    reply: gr.Markdown
    stats: gr.HTML


@dataclass
class _Live:
    """What one side shows: its text, TTFT once the first text came, a rate estimate, then the measured one."""

    text: str = ""
    ttft_s: float | None = None
    elapsed_s: float = 0.0
    final: str | None = None
    thinking_chars: int = 0
    thinking_s: float | None = None  # a thinking model: how long it has thought
    language: str = locales.SOURCE  # what the stats are written in (the admin's browser's)

    def _say(self, key: str, **values: object) -> str:
        return html.escape(locales.text(key, self.language, **values))

    def _n(self, value: float, digits: int) -> str:
        return locales.number(value, self.language, digits) if not math.isnan(value) else "nan"

    def stats_html(self) -> str:
        if self.final is not None:
            return self.final
        if self.ttft_s is None:
            return f'<span class="cl-note">{self._say("speed_waiting", seconds=self._n(self.elapsed_s, 1))}</span>'
        generating_s = max(self.elapsed_s - self.ttft_s, 1e-6)
        # A live estimate, thinking included; the measured count replaces it at the end.
        approx_tokens = (len(self.text) + self.thinking_chars) / 4
        thought = (
            locales.text("speed_live_thinking", self.language, seconds=self._n(self.thinking_s, 1))
            if self.thinking_s is not None
            else ""
        )
        rate = self._n(approx_tokens / generating_s, 0)
        live = self._say("speed_live", ttft=self._n(self.ttft_s, 2), thought=thought, rate=rate)
        return f'<span class="cl-note">{live}</span>'

    def take(self, frame: ReplyFrame) -> None:
        self.text, self.elapsed_s = frame.text, frame.elapsed_s
        self.thinking_chars, self.thinking_s = len(frame.thinking), frame.thinking_s
        if self.ttft_s is None and (frame.text or frame.thinking):  # the first token of any kind
            self.ttft_s = frame.elapsed_s
        if frame.is_final:
            m = frame.metrics
            if frame.error is not None:
                message = locales.error_sentence(frame.error.user_message, self.language)
                self.final = f'<span class="cl-note">{self._say("speed_error", message=message)}</span>'
            elif m is not None:
                ttft = m.time_to_first_token_ms
                rate = m.tokens_per_s
                answer = m.time_to_first_answer_ms
                thought = (
                    self._say("speed_final_thinking", seconds=self._n(answer / 1000, 2), count=m.reasoning_tokens)
                    if m.reasoning_tokens is not None and answer is not None
                    else ""
                )
                tokens = "metrics_token" if m.output_tokens == 1 else "metrics_tokens"
                ttft_s = self._n(ttft / 1000 if ttft is not None else math.nan, 2)
                rate_text = self._say("metrics_rate", rate=self._n(rate if rate is not None else math.nan, 1))
                self.final = (
                    f'<span class="cl-note"><b>TTFT {ttft_s} s</b>{thought} · <b>{rate_text}</b> · '
                    f"{self._say(tokens, count=m.output_tokens)} · {self._n(m.duration_ms / 1000, 1)} s · "
                    f"{frame.phase}</span>"
                )


class SpeedAB:
    sides: list[SideControls]  # once rendered

    def __init__(self, *, service: ChatService, identities: Identities, max_tokens: int) -> None:
        self._service = service
        self._identities = identities
        self._max_tokens = max_tokens

    def render(self) -> tuple[gr.Textbox, gr.Button, list[SideControls]]:
        models = self._service.model_names
        with gr.Accordion(t("speed_label"), open=False, elem_id="cl-ab"):
            prompt = gr.Textbox(label=t("speed_prompt"), lines=2, elem_id="cl-ab-prompt")
            run = gr.Button(t("speed_run"), size="sm", elem_id="cl-ab-run")
            sides: list[SideControls] = []
            with gr.Row():
                for i, side in enumerate(SIDES):
                    with gr.Column():
                        default = models[min(i, len(models) - 1)] if models else None
                        model = gr.Dropdown(
                            models, value=default, label=f"{side}: {t('speed_model')}", elem_id=f"cl-ab-model-{side}"
                        )
                        with gr.Row():
                            temperature = gr.Number(0.7, label=t("speed_temperature"), minimum=0, maximum=2)
                            max_tokens = gr.Number(256, label=t("speed_max_tokens"), minimum=1, precision=0)
                        stats = gr.HTML("", elem_id=f"cl-ab-stats-{side}")
                        reply = gr.Markdown("", elem_id=f"cl-ab-reply-{side}", height=280)
                        sides.append(SideControls(model, temperature, max_tokens, reply, stats))
        self.sides = sides
        return prompt, run, sides

    def wire(self, prompt: gr.Textbox, run: gr.Button, sides: list[SideControls], limit: int) -> None:
        inputs = [prompt, *(c for s in sides for c in (s.model, s.temperature, s.max_tokens))]
        outputs = [c for s in sides for c in (s.reply, s.stats)]
        run.click(
            self.run, inputs, outputs, api_name="analytics_speed_ab", api_visibility="private",
            concurrency_limit=limit, show_progress="hidden",
        )  # fmt: skip

    async def run(
        self,
        prompt: str,
        model_a: str | None,
        temperature_a: float | None,
        max_tokens_a: float | None,
        model_b: str | None,
        temperature_b: float | None,
        max_tokens_b: float | None,
        request: gr.Request,
    ) -> AsyncIterator[dict[Any, Any]]:
        """Stream ``prompt`` from side A and side B at once; each update shows both sides' reply and stats."""
        if not self._identities.of(request).is_admin:
            raise gr.Error(say("analytics_refused"), print_exception=False)
        if not (prompt or "").strip():
            raise gr.Error(say("speed_prompt_needed"), print_exception=False)
        sides = [(model_a, temperature_a, max_tokens_a), (model_b, temperature_b, max_tokens_b)]
        user_id = self._identities.of(request).user_id
        language = request_language()
        lives = [_Live(language=language), _Live(language=language)]
        frames: asyncio.Queue[tuple[int, ReplyFrame | ChatLensError | None]] = asyncio.Queue()

        async def pump(index: int, model: str | None, temperature: float | None, max_tokens: float | None) -> None:
            params = GenerationParams(
                temperature=float(temperature) if temperature is not None else None,
                max_tokens=int(max_tokens) if max_tokens else self._max_tokens,
            )
            try:
                async for frame in self._service.stream_reply(
                    NewMessage(prompt), user_id=user_id, params=params, model=model
                ):
                    await frames.put((index, frame))
            except ChatLensError as exc:
                await frames.put((index, exc))
            finally:
                await frames.put((index, None))

        tasks = [asyncio.create_task(pump(i, *side)) for i, side in enumerate(sides)]
        running = len(tasks)
        try:
            while running:
                index, item = await frames.get()
                if item is None:
                    running -= 1
                    continue
                if isinstance(item, ChatLensError):
                    refusal = locales.error_sentence(item.user_message, language)
                    lives[
                        index
                    ].final = f'<span class="cl-note">{lives[index]._say("speed_refused", message=refusal)}</span>'
                else:
                    lives[index].take(item)
                yield {
                    control: value
                    for side, live in zip(self.sides, lives, strict=True)
                    for control, value in ((side.reply, live.text), (side.stats, live.stats_html()))
                }
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
