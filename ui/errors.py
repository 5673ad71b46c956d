"""The one place where ChatLens errors become ``gr.Error``: the user sees the sentence, the log keeps the cause."""

from __future__ import annotations

import html
import logging

import gradio as gr

from errors import ChatLensError

log = logging.getLogger(__name__)


def user_error(exc: ChatLensError) -> gr.Error:
    if exc.detail:
        log.info("%s: %s", exc.kind, exc.detail)
    # The modal renders HTML: escape markup, keep quotes readable for API clients too.
    return gr.Error(html.escape(exc.user_message, quote=False), title="ChatLens", print_exception=False)
