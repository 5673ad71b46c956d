"""The Model panel (generation settings): model picker, system prompt, presets and sampling parameters.

Values live in the page's controls (they apply to the next message at once) and travel with each send as plain
inputs. Every change is checked against what the chosen model server accepts (``inference.param_checks``) and the reason
appears under the control; a send with a refused value is stopped before anything is stored or sent. Presets saved
by the user stay in the browser (``gr.BrowserState``; nothing sensitive).

Max new tokens starts fitted to the chosen model server (half its window when the default does not fit it, read
from ``/info`` when the page loads and when the model changes) and says so. A value the user did not choose — the
configured default or the fitted one, also when remembered from an earlier visit — is sent as unset, so the service
fits it to each message instead of refusing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

import locales
from inference import context, param_checks
from inference.service import ChatService
from inference.types import GenerationParams, ModelInfo
from settings import Settings
from ui.errors import request_language
from ui.i18n import choice, say, t

BUILT_IN_PRESETS: dict[str, dict[str, Any]] = {
    "Precise": {"temperature": 0.2, "top_p": 0.9, "frequency_penalty": 0.0},
    "Balanced": {"temperature": 0.7, "top_p": 0.95, "frequency_penalty": 0.0},
    "Creative": {"temperature": 1.1, "top_p": 0.98, "frequency_penalty": 0.3},
}
FIELDS = ("temperature", "top_p", "max_tokens", "frequency_penalty", "seed", "stop", "thinking", "reasoning_effort")
DEFAULT = "Default"  # a thinking setting left to the server: not sent
THINKING = {"On": True, "Off": False}
REASONING_EFFORTS = (DEFAULT, *param_checks.REASONING_EFFORTS)


def preset_choices(saved: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The presets to pick from: the built-in ones, named in the browser's language, then the user's own."""
    return [*(choice(f"model_preset_{name.lower()}", name) for name in BUILT_IN_PRESETS), *((n, n) for n in saved)]


def params_from(
    temperature: float | None,
    top_p: float | None,
    max_tokens: float | None,
    frequency_penalty: float | None,
    seed: str | float | None,
    stop: str | None,
    thinking: str | None = DEFAULT,
    reasoning_effort: str | None = DEFAULT,
) -> GenerationParams:
    """The controls' raw values as parameters (numbers from the page arrive as floats or ``None``)."""
    return GenerationParams(
        temperature=None if temperature is None else float(temperature),
        top_p=None if top_p is None else float(top_p),
        max_tokens=None if max_tokens is None else int(max_tokens),
        frequency_penalty=None if frequency_penalty is None else float(frequency_penalty),
        seed=_seed(seed),
        stop=tuple(line for line in (stop or "").splitlines() if line.strip()),
        thinking=THINKING.get(thinking or DEFAULT),
        reasoning_effort=None if reasoning_effort in (None, "", DEFAULT) else reasoning_effort,
    )


def _control_value(field: str, value: Any) -> Any:
    """A ``MODELS`` default as its control shows it."""
    if field == "stop":
        return "\n".join(value) if isinstance(value, list) else value
    if field == "thinking" and isinstance(value, bool):
        return "On" if value else "Off"
    return value


def _seed(value: str | float | None) -> int | None:
    """Empty means random. Anything but a whole number becomes -1, which the checks refuse with the reason."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return -1
    return int(number) if number.is_integer() else -1


@dataclass
class GenerationControls:
    model: gr.Dropdown
    system_prompt: gr.Textbox
    preset: gr.Dropdown
    temperature: gr.Slider
    top_p: gr.Slider
    max_tokens: gr.Number
    frequency_penalty: gr.Slider
    seed: gr.Textbox
    stop: gr.Textbox
    thinking: gr.Dropdown
    reasoning_effort: gr.Dropdown
    problems: dict[str, gr.Markdown]
    preset_name: gr.Textbox
    save_preset: gr.Button
    reset: gr.Button
    # Created in wire(), at the page's top level: Gradio mounts a tab's components only once the tab is opened,
    # and a BrowserState that is not mounted at load never reads its storage.
    saved_presets: gr.BrowserState = None  # type: ignore[assignment]
    remembered: gr.BrowserState = None  # type: ignore[assignment]

    @property
    def values(self) -> list[Any]:
        """The inputs a send carries, in the order ``GenerationPanel.read`` takes them."""
        return [
            self.model,
            self.system_prompt,
            self.temperature,
            self.top_p,
            self.max_tokens,
            self.frequency_penalty,
            self.seed,
            self.stop,
            self.thinking,
            self.reasoning_effort,
        ]

    @property
    def parameters(self) -> list[Any]:
        return [
            self.temperature, self.top_p, self.max_tokens, self.frequency_penalty, self.seed, self.stop,
            self.thinking, self.reasoning_effort,
        ]  # fmt: skip


class GenerationPanel:
    def __init__(self, service: ChatService, settings: Settings) -> None:
        self._service = service
        self._settings = settings
        self.controls: GenerationControls | None = None

    def defaults(self, model: str | None = None) -> dict[str, Any]:
        """Balanced, the configured max new tokens, then the model's own defaults from ``MODELS``."""
        values: dict[str, Any] = {
            **BUILT_IN_PRESETS["Balanced"],
            "max_tokens": self._settings.max_new_tokens,
            "seed": "",
            "stop": "",
            "thinking": DEFAULT,
            "reasoning_effort": DEFAULT,
        }
        names = self._service.model_names
        wanted = model or (names[0] if names else None)
        for server in self._settings.models:
            if server.name == wanted:
                values.update({k: _control_value(k, v) for k, v in server.params.items()})
        return values

    def render(self) -> GenerationControls:
        names = self._service.model_names
        d = self.defaults()
        with gr.Group():
            model = gr.Dropdown(
                names,
                value=names[0] if names else None,
                label=t("model_model"),
                visible=len(names) > 1,
                elem_id="cl-model",
            )
            system_prompt = gr.Textbox(
                self._settings.system_prompt, label=t("model_system_prompt"), lines=3, max_lines=10, elem_id="cl-system"
            )
        with gr.Row():
            preset = gr.Dropdown(
                preset_choices({}), value="Balanced", label=t("model_preset"), elem_id="cl-preset", scale=3
            )
            reset = gr.Button(t("model_reset"), size="sm", elem_id="cl-reset-params", scale=1)
        problems: dict[str, gr.Markdown] = {}

        def problem(name: str) -> None:
            problems[name] = gr.Markdown("", elem_id=f"cl-problem-{name}", elem_classes=["cl-problem"])

        temperature = gr.Slider(
            0, 2, d["temperature"], step=0.05, label=t("model_temperature"), elem_id="cl-temperature"
        )
        problem("temperature")
        top_p = gr.Slider(0.05, 1, d["top_p"], step=0.01, label=t("model_top_p"), elem_id="cl-top-p")
        problem("top_p")
        max_tokens = gr.Number(d["max_tokens"], label=t("model_max_tokens"), precision=0, elem_id="cl-max-tokens")
        problem("max_tokens")
        frequency_penalty = gr.Slider(
            -2, 2, d["frequency_penalty"], step=0.1, label=t("model_frequency_penalty"), elem_id="cl-frequency"
        )
        problem("frequency_penalty")
        seed = gr.Textbox("", label=t("model_seed"), max_lines=1, elem_id="cl-seed")
        problem("seed")
        stop = gr.Textbox("", label=t("model_stop_sequences"), lines=2, elem_id="cl-stop-sequences")
        problem("stop")
        thinking = gr.Dropdown(
            [choice(f"model_thinking_{name.lower()}", name) for name in (DEFAULT, *THINKING)], value=d["thinking"],
            label=t("model_thinking"),
            elem_id="cl-thinking-switch",
        )  # fmt: skip
        problem("thinking")
        reasoning_effort = gr.Dropdown(
            [choice(f"model_effort_{name.lower()}", name) for name in REASONING_EFFORTS],
            value=d["reasoning_effort"], label=t("model_reasoning_effort"),
            elem_id="cl-reasoning-effort",
        )  # fmt: skip
        problem("reasoning_effort")
        with gr.Row():
            preset_name = gr.Textbox(
                label=t("model_save_as"), placeholder=t("model_preset_name"), scale=3, elem_id="cl-preset-name"
            )
            save_preset = gr.Button(t("model_save"), size="sm", scale=1, elem_id="cl-save-preset")
        self.controls = GenerationControls(
            model,
            system_prompt,
            preset,
            temperature,
            top_p,
            max_tokens,
            frequency_penalty,
            seed,
            stop,
            thinking,
            reasoning_effort,
            problems,
            preset_name,
            save_preset,
            reset,
        )
        return self.controls

    def wire(self, demo: gr.Blocks) -> None:
        c = self.controls
        assert c is not None
        secret = self._settings.browser_state_secret
        c.saved_presets = gr.BrowserState({}, storage_key="chatlens-presets", secret=secret)
        c.remembered = gr.BrowserState({}, storage_key="chatlens-generation", secret=secret)
        gr.on(
            [*(control.change for control in c.parameters), c.model.change],
            self.check,
            [c.model, *c.parameters],
            list(c.problems.values()),
            api_visibility="private",
            show_progress="hidden",
        )
        c.preset.select(self.apply_preset, [c.preset, c.saved_presets], c.parameters, api_visibility="private")
        c.reset.click(self.reset, [c.model], [c.preset, *c.parameters], api_visibility="private")
        c.model.change(self.reset, [c.model], [c.preset, *c.parameters], api_visibility="private")
        c.save_preset.click(
            self.save_preset,
            [c.preset_name, c.saved_presets, *c.parameters],
            [c.saved_presets, c.preset, c.preset_name],
            api_visibility="private",
        )
        demo.load(self.list_presets, [c.saved_presets], [c.preset], api_visibility="private")
        # The current values outlive a reload: kept in the browser, put back on load.
        gr.on(
            [control.change for control in (c.system_prompt, *c.parameters)],
            self.remember,
            [c.system_prompt, *c.parameters],
            c.remembered,
            api_visibility="private",
            show_progress="hidden",
        )
        demo.load(self.restore, [c.remembered], [c.system_prompt, *c.parameters], api_visibility="private").then(
            self.fitted_max_tokens, [c.model, c.max_tokens], [c.max_tokens], api_visibility="private",
            show_progress="hidden",
        )  # fmt: skip

    def _configured_max_tokens(self, model: str | None) -> int:
        return int(self.defaults(model)["max_tokens"])

    def _fitted(self, model: str | None, info: ModelInfo | None) -> int:
        return context.fitted_max_tokens(self._configured_max_tokens(model), info)

    async def fitted_max_tokens(self, model: str | None, current: float | None = None) -> dict[Any, Any]:
        """Max new tokens fitted to the model server, and the note under it; a value the user chose stays."""
        info = await self._service.known_model_info(model)
        fitted = self._fitted(model, info)
        language = request_language()
        window = info.max_total_tokens if info is not None else None
        unchosen = current is None or int(current) in (self._configured_max_tokens(model), fitted)
        note = (
            locales.text("model_max_tokens_fitted", language, window=locales.number(window, language))
            if window
            else locales.text("model_max_tokens_default", language)
        )
        update = gr.update(info=note, value=fitted) if unchosen else gr.update(info=note)
        return {self._controls.max_tokens: update}

    async def unchosen_as_unset(self, model: str | None, params: GenerationParams) -> GenerationParams:
        """``params`` with Max new tokens unset when it holds a default rather than the user's choice."""
        if params.max_tokens is None:
            return params
        fitted = self._fitted(model, await self._service.known_model_info(model))
        defaults = (self._configured_max_tokens(model), fitted)
        return replace(params, max_tokens=None) if params.max_tokens in defaults else params

    async def check(self, model: str | None, *values: Any) -> dict[Any, str]:
        """Under each parameter, the reason the chosen model server would refuse its value (empty: none)."""
        found = param_checks.problems(params_from(*values), await self._service.known_model_info(model))
        problems = self._controls.problems
        return {problems[name]: f"⚠ {found[name]}" if name in found else "" for name in FIELDS}

    def read(
        self, model: str | None, system_prompt: str | None, *values: Any
    ) -> tuple[str | None, str | None, GenerationParams]:
        return model or None, system_prompt, params_from(*values)

    def apply_preset(self, name: str, saved: dict[str, Any] | None) -> dict[Any, Any]:
        """The preset's values; a parameter the preset does not set keeps its value."""
        preset = {**BUILT_IN_PRESETS, **(saved or {})}.get(name, {})
        return self._parameters({field: preset[field] for field in FIELDS if field in preset}) or gr.skip()

    async def reset(self, model: str | None) -> dict[Any, Any]:
        d = self.defaults(model)
        reset = {self._controls.preset: "Balanced", **self._parameters({field: d[field] for field in FIELDS})}
        return reset | await self.fitted_max_tokens(model)

    def save_preset(self, name: str, saved: dict[str, Any] | None, *values: Any) -> dict[Any, Any]:
        name = (name or "").strip()[:40]
        if not name:
            raise gr.Error(say("refusal_preset_name"))
        if name in BUILT_IN_PRESETS:
            raise gr.Error(say("refusal_preset_built_in", name=repr(name)))
        presets = {**(saved or {}), name: dict(zip(FIELDS, values, strict=True))}
        c = self._controls
        return {
            c.saved_presets: presets,
            c.preset: gr.update(choices=preset_choices(presets), value=name),
            c.preset_name: "",
        }

    def remember(self, system_prompt: str, *values: Any) -> dict[str, Any]:
        return {"system_prompt": system_prompt, **dict(zip(FIELDS, values, strict=True))}

    def restore(self, remembered: dict[str, Any] | None, request: gr.Request) -> dict[Any, Any]:
        kept = dict(remembered or {})
        if request.query_params.get("c"):
            kept.pop("system_prompt", None)  # a reopened conversation brings its own
        restored = self._parameters({field: kept[field] for field in FIELDS if field in kept})
        if "system_prompt" in kept:
            restored[self._controls.system_prompt] = kept["system_prompt"]
        return restored or gr.skip()

    def list_presets(self, saved: dict[str, Any] | None) -> Any:
        return gr.update(choices=preset_choices(saved or {}))

    @property
    def _controls(self) -> GenerationControls:
        assert self.controls is not None, "render() first"
        return self.controls

    def _parameters(self, values: dict[str, Any]) -> dict[Any, Any]:
        """``{field name: value}`` as ``{parameter control: value}``."""
        return {getattr(self._controls, field): value for field, value in values.items()}
