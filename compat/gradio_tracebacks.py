"""Keep request content out of the log: Gradio prints the traceback of a failing event, and some of its messages
quote the inputs whole ("Received inputs: [...]", "Value: '...' is not in the list of choices"), so a 200 KB body
under the size cap would land in the log. This shortens every long line of the tracebacks Gradio prints while
serving requests (queue and routes); the type and start of each message stay readable.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from types import ModuleType
from typing import Any, TextIO

log = logging.getLogger(__name__)

MAX_LINE_CHARS = 300
SERVING_MODULES = ("gradio.queueing", "gradio.routes", "gradio.route_utils")


def shorten(text: str, limit: int = MAX_LINE_CHARS) -> str:
    lines = []
    for line in text.splitlines():
        cut = len(line) - limit
        lines.append(f"{line[:limit]}… [{cut:,} characters not logged]" if cut > 0 else line)
    return "\n".join(lines) + "\n"


class _ShortTracebacks(ModuleType):
    """Stands in for ``traceback`` inside Gradio's request-serving modules."""

    def __init__(self) -> None:
        super().__init__("traceback")

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)

    @staticmethod
    def print_exc(limit: int | None = None, file: TextIO | None = None, chain: bool = True) -> None:
        (file or sys.stderr).write(shorten(traceback.format_exc(limit=limit, chain=chain)))


def shorten_gradio_tracebacks() -> None:
    """Give each of Gradio's request-serving modules the shortening ``traceback`` (idempotent). A module that no
    longer prints through its ``traceback`` global is named in a warning: its tracebacks may quote request content."""
    for name in SERVING_MODULES:
        module = importlib.import_module(name)
        if not isinstance(getattr(module, "traceback", None), ModuleType):
            log.warning("%s has no traceback module to shorten: its tracebacks are logged whole", name)
            continue
        module.traceback = _ShortTracebacks()  # type: ignore[attr-defined]
