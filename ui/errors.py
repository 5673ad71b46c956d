"""The one place where ChatLens errors become ``gr.Error``: the user sees the sentence, the log keeps the cause.

On the chat page a refused send (too long, settings the server would refuse, rate-limited, nothing to retry) is a
toast (``refusals_as_toasts``), not an error of the event: Gradio marks every output of a failed event with a big
"Error" badge, and the chat is one of them, so a refusal hid the whole conversation until its × was clicked.

The sentence is in the browser's language (its ``Accept-Language``, read from the request Gradio is serving: the
context variable its own ``ChatInterface`` reads) when it is its kind's standard sentence (``locales``)."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr
from gradio.context import LocalContext

import locales
from errors import ChatLensError

log = logging.getLogger(__name__)


def request_language() -> str:
    """The language of the request being served (``Accept-Language``); English outside a request."""
    request = LocalContext.request.get(None)
    return locales.negotiate(request.headers.get("accept-language") if request is not None else None)


def user_error(exc: ChatLensError) -> gr.Error:
    if exc.detail:
        log.info("%s: %s", exc.kind, exc.detail)
    sentence = locales.error_sentence(exc.user_message, request_language())
    # The modal renders HTML: escape markup, keep quotes readable for API clients too.
    return gr.Error(html.escape(sentence, quote=False), title="ChatLens", print_exception=False)


def refusals_as_toasts(
    handler: Callable[..., Awaitable[dict[Any, Any]]], refused: Callable[[], dict[Any, Any]]
) -> Callable[..., Awaitable[dict[Any, Any]]]:
    """``handler`` whose refusals (``gr.Error``) show as a warning toast and return ``refused()`` instead."""

    @functools.wraps(handler)  # keeps the signature Gradio reads (its gr.Request parameter)
    async def toasting(*args: Any, **kwargs: Any) -> dict[Any, Any]:
        try:
            return await handler(*args, **kwargs)
        except gr.Error as refusal:
            gr.Warning(refusal.message, title=refusal.title or "ChatLens")
            return refused()

    return toasting
