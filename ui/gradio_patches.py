"""One measured fix to Gradio internals, applied once at start-up and only to the version it was checked on.

Gradio builds the configuration of every block of the page for each new session (``SessionState.__init__``), only
to rebuild a session for deep links, which ChatLens does not use. With this page (83 blocks) that is 3.7 ms of
event-loop time per new session: every API call opens one, so 32 users arriving together wait ~120 ms for each
other before their first token. The patched session builds those configurations on demand instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from copy import copy
from typing import Any

import gradio
from gradio import state_holder

log = logging.getLogger(__name__)

CHECKED_ON = "6.31."


class _LazySessionState(state_holder.SessionState):
    def __init__(self, blocks: Any) -> None:
        self._blocks = blocks
        self.blocks_config = copy(blocks.default_config)
        self.config_values: dict[int, Any] = {}
        self.state_data: dict[int, Any] = {}
        self._state_ttl: dict[int, Any] = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST") else 3600

    @property
    def components(self) -> Iterator[dict[str, Any]]:
        for key, block in self.blocks_config.blocks.items():
            if key in self._blocks.blocks and key not in self.config_values:
                self.config_values[key] = self.blocks_config.config_for_block(key, [], block)
        yield from super().components


def build_session_configs_on_demand() -> None:
    if not gradio.__version__.startswith(CHECKED_ON):
        log.warning("gradio %s: session patch not applied (checked on %sx)", gradio.__version__, CHECKED_ON)
        return
    state_holder.SessionState = _LazySessionState  # type: ignore[misc]
