"""The Theme panel (appearance): colour scheme, accent, text size, font, code colours, density and layout; also
the page's phone layout and the New-chat shortcut (Ctrl/Cmd+Shift+O).

Everything happens in the browser. ``HEAD`` defines ``window.chatlensTheme``, which applies a whole preferences
object to the page: one ``cl-<pref>-<value>`` class per preference on ``<html>`` and the ``dark`` class on
``<body>`` (Gradio's own dark-mode switch). ``CSS`` holds the rules behind those classes. The controls' listeners
are js-only (``fn=None``): no server round trip, no Python state.

Invariants:
* The preferences are one small dict of short strings (``DEFAULTS`` gives its keys), kept in a ``gr.BrowserState``
  under a fixed key. That storage is obfuscated, not protected: nothing sensitive goes there.
* The script accepts only known values (``CHOICES``); anything else in storage falls back to the default, so an old
  or tampered entry can never break the page or a control.
* Only user input writes the storage (``.input``, never ``.change``), so setting the controls on page load cannot
  write the defaults over the stored choice.
* No network: fonts are system stacks or the theme's own font, which Gradio serves itself.
* Colours are readable: every code colour and every accent behind white text reaches WCAG AA (4.5:1); the tests
  check it.
* The rules sit on ``<html>``: Gradio's theme declares its variables on ``:root`` and again on ``.dark`` (the body),
  and a variable derived on ``:root`` (``--color-accent: var(--primary-500)``) only follows an override made on
  ``:root``. Each rule therefore targets ``:root.cl-x`` and ``:root.cl-x body.dark``; both outrank the theme's
  ``:root`` and ``:root .dark``, which load after this CSS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import gradio as gr

from locales import LANGUAGES, SOURCE
from settings import Settings
from ui.i18n import choice, t

STORAGE_KEY = "chatlens-appearance"


@dataclass(frozen=True)
class Accent:
    label: str
    palette: gr.themes.Color
    strong: int  # the shade behind white text (buttons, selected options): the first one with ≥ 4.5:1


@dataclass(frozen=True)
class CodePalette:
    """Prism token colours as (light, dark) pairs, and the code block's background and text."""

    label: str
    tokens: Mapping[str, tuple[str, str]]
    background: tuple[str, str]
    text: tuple[str, str]


# Prism token classes in groups; every palette colours every group, in light and in dark, so no token ever keeps a
# colour chosen for the other background.
TOKEN_GROUPS: dict[str, tuple[str, ...]] = {
    "comment": ("comment", "prolog", "doctype", "cdata"),
    "punctuation": ("punctuation", "operator", "entity"),
    "keyword": ("keyword", "atrule", "important"),
    "string": ("string", "char", "attr-value", "regex", "inserted", "url"),
    "number": ("number", "boolean", "constant", "symbol"),
    "function": ("function", "class-name"),
    "builtin": ("builtin", "selector", "tag", "deleted"),
    "property": ("property", "attr-name", "variable"),
}

ACCENTS: dict[str, Accent] = {
    "indigo": Accent("Indigo", gr.themes.colors.indigo, 600),  # the Soft theme's own 500 is 4.47:1 behind white
    "blue": Accent("Blue", gr.themes.colors.blue, 600),
    "teal": Accent("Teal", gr.themes.colors.teal, 700),
    "green": Accent("Green", gr.themes.colors.emerald, 700),
    "orange": Accent("Orange", gr.themes.colors.orange, 700),
    "rose": Accent("Rose", gr.themes.colors.rose, 600),
    "violet": Accent("Violet", gr.themes.colors.violet, 600),
}

# Multipliers of the theme's text sizes (Gradio's text_md scale, which the Soft theme uses).
TEXT_SIZES: dict[str, tuple[str, float]] = {
    "small": ("Small", 0.875),
    "normal": ("Normal", 1.0),
    "large": ("Large", 1.125),
    "xlarge": ("Extra large", 1.25),
}
BASE_TEXT_PX = {
    k: float(getattr(gr.themes.sizes.text_md, k).removesuffix("px"))
    for k in ("xxs", "xs", "sm", "md", "lg", "xl", "xxl")
}

# System font stacks only: nothing is downloaded. "theme" keeps the theme's font, which Gradio serves itself.
FONTS: dict[str, tuple[str, str | None]] = {
    "theme": ("Theme", None),
    "system": ("System UI", 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'),
    "serif": ("Serif", 'ui-serif, Charter, "Bitstream Charter", Georgia, Cambria, "Times New Roman", serif'),
    "mono": ("Monospace", 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace'),
    "rounded": (
        "Rounded",
        'ui-rounded, "SF Pro Rounded", "Hiragino Maru Gothic ProN", Quicksand, Comfortaa, Manjari, '
        '"Arial Rounded MT", "Arial Rounded MT Bold", Calibri, sans-serif',
    ),
}

CODE_PALETTES: dict[str, CodePalette | None] = {
    "gradio": None,  # Gradio's own Prism colours (Prism default in light, One Dark in dark)
    "github": CodePalette(
        "GitHub",
        {
            "comment": ("#57606a", "#8b949e"),
            "punctuation": ("#24292f", "#c9d1d9"),
            "keyword": ("#cf222e", "#ff7b72"),
            "string": ("#0a3069", "#a5d6ff"),
            "number": ("#0550ae", "#79c0ff"),
            "function": ("#8250df", "#d2a8ff"),
            "builtin": ("#953800", "#ffa657"),
            "property": ("#116329", "#7ee787"),
        },
        background=("#f6f8fa", "#161b22"),
        text=("#24292f", "#c9d1d9"),
    ),
    # After the a11y-light / a11y-dark themes: every colour ≥ 4.5:1 on its background.
    "contrast": CodePalette(
        "High contrast",
        {
            "comment": ("#696969", "#d4d0ab"),
            "punctuation": ("#2b2b2b", "#fefefe"),
            "keyword": ("#7928a1", "#00e0e0"),
            "string": ("#008000", "#abe338"),
            "number": ("#aa5d00", "#f5ab35"),
            "function": ("#007faa", "#ffd700"),
            "builtin": ("#aa5d00", "#abe338"),
            "property": ("#d91e18", "#ffa07a"),
        },
        background=("#fefefe", "#2b2b2b"),
        text=("#2b2b2b", "#f8f8f2"),
    ),
}
CODE_LABELS = {"gradio": "Gradio", **{name: p.label for name, p in CODE_PALETTES.items() if p}}

# Every preference: its control's label and its choices as {value: shown label}.
PREFERENCES: dict[str, tuple[str, dict[str, str]]] = {
    "scheme": ("Colour scheme", {"system": "Follow system", "light": "Light", "dark": "Dark"}),
    "accent": ("Accent colour", {name: accent.label for name, accent in ACCENTS.items()}),
    "size": ("Text size", {name: label for name, (label, _) in TEXT_SIZES.items()}),
    "font": ("Font", {name: label for name, (label, _) in FONTS.items()}),
    "code": ("Code colours", CODE_LABELS),
    "density": ("Density", {"comfortable": "Comfortable", "compact": "Compact"}),
    "layout": ("Messages", {"bubble": "Bubbles", "panel": "Panel"}),
}
DEFAULTS: dict[str, str] = {
    "scheme": "system",
    "accent": "indigo",
    "size": "normal",
    "font": "theme",
    "code": "gradio",
    "density": "comfortable",
    "layout": "bubble",
}
CHOICES: dict[str, list[str]] = {key: list(choices) for key, (_, choices) in PREFERENCES.items()}
KEYS = tuple(PREFERENCES)

# -- CSS -----------------------------------------------------------------------------------------------------------


def _on(cls: str) -> str:
    """The selector for variables in both schemes (see the module docstring)."""
    return f":root.{cls}, :root.{cls} body.dark"


def _rule(selector: str, declarations: Mapping[str, str]) -> str:
    body = "; ".join(f"{name}: {value}" for name, value in declarations.items())
    return f"{selector} {{ {body}; }}\n"


def _accent_css(name: str, accent: Accent) -> str:
    shades = dict(zip((50, *range(100, 1000, 100), 950), accent.palette.expand(), strict=True))
    variables = {f"--{kind}-{shade}": value for kind in ("primary", "secondary") for shade, value in shades.items()}
    strong, hover = f"var(--primary-{accent.strong})", f"var(--primary-{accent.strong + 100})"
    variables |= {
        "--button-primary-background-fill": strong,
        "--button-primary-border-color": strong,
        "--button-primary-background-fill-hover": hover,
        "--button-primary-border-color-hover": hover,
        "--checkbox-label-background-fill-selected": strong,
    }
    return _rule(_on(f"cl-accent-{name}"), variables)


def _size_css(name: str, scale: float) -> str:
    return _rule(_on(f"cl-size-{name}"), {f"--text-{k}": f"{round(px * scale)}px" for k, px in BASE_TEXT_PX.items()})


def _font_css(name: str, stack: str) -> str:
    return _rule(_on(f"cl-font-{name}"), {"--font": stack})


def _tokens(group: str) -> tuple[str, ...]:
    return tuple(f".md .token.{token}" for token in TOKEN_GROUPS[group])


def _code_css(name: str, palette: CodePalette) -> str:
    cls = f"cl-code-{name}"
    css = ""
    for dark, scope in ((0, f":root.{cls}"), (1, f":root.{cls} body.dark")):
        css += _rule(f"{scope} .md", {"--code-background-fill": palette.background[dark]})
        css += _rule(f"{scope} .md pre", {"color": palette.text[dark]})
        for group, colours in palette.tokens.items():
            css += _rule(", ".join(f"{scope} {token}" for token in _tokens(group)), {"color": colours[dark]})
    return css


def _swatch_css() -> str:
    """A colour dot before each accent's name, so the choice is seen as well as read."""
    return "".join(
        _rule(f'#cl-theme-accent label:has(input[value="{name}"]) span::before', {"background": a.palette.c500})
        for name, a in ACCENTS.items()
    )


# Chat density and layout act on the Chatbot's own classes (bubble layout: .message-row.bubble, .user, .bot).
LAYOUT_CSS = """
/* Compact: tighter rows. The first row keeps clear of the Chatbot's clear button (top right). */
:root.cl-density-compact #cl-chat .bubble-wrap { padding-top: calc(var(--spacing-xxl) * 2); }
:root.cl-density-compact #cl-chat .message-row.bubble { margin: var(--spacing-md) var(--spacing-xl); }
:root.cl-density-compact #cl-chat .message-row .user,
:root.cl-density-compact #cl-chat .message-row .bot { padding: var(--spacing-xs) var(--spacing-lg); }
:root.cl-density-compact #cl-chat .message .prose { line-height: 1.35; }
:root.cl-density-compact #cl-chat .message-buttons .icon-button-wrapper { margin-top: 0; margin-bottom: 0; }
/* Panel: full-width bands, one per message with its copy button, instead of bubbles. */
:root.cl-layout-panel #cl-chat .bubble-wrap { padding-top: 0; }
:root.cl-layout-panel #cl-chat .message-row.bubble {
  margin: 0; max-width: 100%; align-self: stretch; padding: calc(var(--spacing-lg) * 2);
  border-top: 1px solid var(--border-color-primary);
}
:root.cl-layout-panel.cl-density-compact #cl-chat .message-row.bubble { padding: var(--spacing-md) var(--spacing-xl); }
:root.cl-layout-panel #cl-chat .message-row .user,
:root.cl-layout-panel #cl-chat .message-row .bot {
  align-self: stretch; border: none; border-radius: 0; box-shadow: none; background: transparent; padding: 0;
}
:root.cl-layout-panel #cl-chat .message-buttons { align-self: stretch; margin: 0; padding-bottom: var(--spacing-md); }
:root.cl-layout-panel #cl-chat .message-buttons .icon-button-wrapper {
  width: fit-content; margin: 0 calc(var(--spacing-lg) * 2);
}
:root.cl-layout-panel #cl-chat .user-row, :root.cl-layout-panel #cl-chat .user-row + .message-buttons {
  background: var(--color-accent-soft);
}
:root.cl-layout-panel #cl-chat .bot-row, :root.cl-layout-panel #cl-chat .bot-row + .message-buttons {
  background: var(--background-fill-secondary);
}
#cl-theme-accent label span::before {
  content: ""; display: inline-block; width: .8em; height: .8em; border-radius: 50%; margin-right: .4em;
  vertical-align: -.05em; box-shadow: 0 0 0 1.5px rgb(255 255 255 / .9), 0 0 0 2.5px rgb(0 0 0 / .12);
}
/* Gradio's dark code block is the colour of the dark chat: give its One Dark tokens One Dark's background. */
:root.cl-code-gradio body.dark .md { --code-background-fill: #282c34; }
#cl-theme-keys { font-size: var(--text-sm); opacity: .85; }
"""


def build_css() -> str:
    parts: list[str] = [LAYOUT_CSS, _swatch_css()]
    parts += [_accent_css(name, accent) for name, accent in ACCENTS.items()]
    parts += [_size_css(name, scale) for name, (_, scale) in TEXT_SIZES.items() if scale != 1.0]
    parts += [_font_css(name, stack) for name, (_, stack) in FONTS.items() if stack]
    parts += [_code_css(name, palette) for name, palette in CODE_PALETTES.items() if palette]
    return "".join(parts)


CSS = build_css()

# -- Script ----------------------------------------------------------------------------------------------------------

# The page's layout (the chat filling the screen, the docked composer, phones) lives in ``ui/assets.py``.
_HEAD_TEMPLATE = """
<script>
window.chatlensTheme = (() => {
  const DEFAULTS = __DEFAULTS__, CHOICES = __CHOICES__, KEYS = Object.keys(DEFAULTS);
  const media = window.matchMedia('(prefers-color-scheme: dark)');
  let current = { ...DEFAULTS };
  // Unknown keys and values (an old or edited entry) fall back to the defaults.
  const clean = (prefs) => Object.fromEntries(
    KEYS.map((k) => [k, CHOICES[k].includes(prefs && prefs[k]) ? prefs[k] : DEFAULTS[k]]));
  const systemIsDark = () => {
    // ?__theme=dark|light is Gradio's explicit override: "Follow system" honours it.
    const forced = new URLSearchParams(window.location.search).get('__theme');
    return forced === 'dark' || forced === 'light' ? forced === 'dark' : media.matches;
  };
  const applyScheme = () => {
    const dark = current.scheme === 'dark' || (current.scheme === 'system' && systemIsDark());
    document.body.classList.toggle('dark', dark);
  };
  const apply = (prefs) => {
    current = clean(prefs);
    const root = document.documentElement;
    for (const k of KEYS) {
      for (const c of [...root.classList]) if (c.startsWith('cl-' + k + '-')) root.classList.remove(c);
      root.classList.add('cl-' + k + '-' + current[k]);
    }
    applyScheme();
    return current;
  };
  // Gradio also follows the system on this event, whatever was chosen: re-apply after its listener has run.
  media.addEventListener('change', () => setTimeout(applyScheme, 0));
  return {
    apply,
    defaults: () => ({ ...DEFAULTS }),
    // Controls' values (in KEYS order) -> applied and returned for storage; prefs -> the controls' values.
    fromControls: (values) => apply(Object.fromEntries(KEYS.map((k, i) => [k, values[i]]))),
    toControls: (prefs) => KEYS.map((k) => prefs[k]),
  };
})();
(() => {
  // New chat: Ctrl+Shift+O (Cmd+Shift+O on a Mac), as in ChatGPT. Esc (stop) lives in ui/assets.py.
  document.addEventListener('keydown', (e) => {
    if (!(e.ctrlKey || e.metaKey) || !e.shiftKey || e.altKey || e.code !== 'KeyO') return;
    const button = document.querySelector('#cl-new');
    if (!button || !button.offsetParent) return;
    e.preventDefault();
    button.click();
    const box = document.querySelector('#cl-input textarea');
    if (box) box.focus();
  });
})();
</script>
"""

HEAD = _HEAD_TEMPLATE.replace("__DEFAULTS__", json.dumps(DEFAULTS)).replace("__CHOICES__", json.dumps(CHOICES))

# The listeners: inputs and outputs are the controls in KEYS order.
ON_INPUT_JS = "(...values) => window.chatlensTheme.fromControls(values)"
ON_LOAD_JS = "(stored) => window.chatlensTheme.toControls(window.chatlensTheme.apply(stored))"
RESET_JS = """() => {
  const prefs = window.chatlensTheme.apply(window.chatlensTheme.defaults());
  return [...window.chatlensTheme.toControls(prefs), prefs];
}"""


def _choices(key: str, options: Mapping[str, str]) -> list[tuple[str, str]]:
    """A control's choices, named in the browser's language (``theme_<key>_<value>``); a proper name (the code
    palettes named after a product) as it is."""
    return [
        choice(f"theme_{key}_{value}", value) if f"theme_{key}_{value}" in LANGUAGES[SOURCE] else (label, value)
        for value, label in options.items()
    ]


class ThemePanel:
    """The controls in the settings sidebar's Theme tab, and their browser-only wiring."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._controls: list[gr.Radio] = []
        self._reset: gr.Button | None = None

    def render(self) -> None:
        self._controls = [
            gr.Radio(
                _choices(key, options),
                value=DEFAULTS[key],
                label=t(f"theme_{key}"),
                elem_id=f"cl-theme-{key}",
                elem_classes=["cl-theme-control"],
            )
            for key, (_, options) in PREFERENCES.items()
        ]
        self._reset = gr.Button(t("theme_reset"), size="sm", elem_id="cl-theme-reset")
        gr.Markdown(t("theme_shortcuts"), elem_id="cl-theme-keys")

    def wire(self, demo: gr.Blocks) -> None:
        """Runs inside the page's Blocks, outside the sidebar: the storage is created here, at the top level."""
        if self._reset is None:
            raise RuntimeError("ThemePanel.render() must run before wire()")
        # Gradio mounts a tab's components only when the tab is first opened; an unmounted BrowserState never reads
        # the browser's storage, so it must not live in the Theme tab.
        stored = gr.BrowserState(dict(DEFAULTS), storage_key=STORAGE_KEY, secret=self._settings.browser_state_secret)
        controls = self._controls
        gr.on(_inputs(controls), None, controls, stored, js=ON_INPUT_JS, show_progress="hidden")
        self._reset.click(None, None, [*controls, stored], js=RESET_JS, show_progress="hidden")
        demo.load(None, stored, controls, js=ON_LOAD_JS, show_progress="hidden")


def _inputs(controls: Iterable[gr.Radio]) -> list[object]:
    """User edits only (``.input``): programmatic updates on load or reset must not write the storage."""
    return [control.input for control in controls]
