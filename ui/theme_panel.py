"""The Theme panel (appearance): placeholder until built. Renders inside the settings sidebar's Theme tab."""

from __future__ import annotations

import gradio as gr

from settings import Settings

CSS = ""
HEAD = ""


class ThemePanel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def render(self) -> None:
        gr.Markdown("Appearance settings come here.")

    def wire(self, demo: gr.Blocks) -> None:
        return None
