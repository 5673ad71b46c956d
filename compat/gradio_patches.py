"""Measured fixes to Gradio's per-request costs, and the two private queue attributes ChatLens uses.

Every chat turn is two HTTP requests (``queue/join``, ``queue/data``) and one Gradio event; when many users arrive
together these run one after another on one event loop, so their per-request CPU becomes everyone's time to first
token. Each fix below leaves behaviour unchanged and removes work this app never needs:

* **Session configs on demand.** Gradio builds the configuration of every block of the page for each new session
  (``SessionState.__init__``), and again for each input of each call (``__setitem__``, ``_update_value_in_config``),
  only to rebuild a session for deep links, which ChatLens does not use. With this page (83 blocks) that was
  3.7 ms of event-loop time per new session; the patched session builds configurations when they are read.
* **No import attempts per event.** Each event enters ``MatplotlibBackendMananger``, which imports matplotlib twice;
  when it is not installed, every attempt searches the whole ``sys.path`` again. Marked absent once, it fails fast.
* **Hot routes first.** FastAPI tries routes in order, twice per request; ``queue/join`` and ``queue/data`` sat
  behind forty others. Moved to the front, unless an earlier route could match their path.
* **Queue poll interval** (``set_queue_poll_interval``): Gradio polls its queue every 1 ms when idle (5% of a core,
  measured); 5 ms costs a fifth and adds at most 5 ms.
* **Queue length** (``queue_length``): Gradio has no public count of the events waiting in its queue; ``/metrics``
  reports it as ``chatlens_queue_size``.

Which version each was checked on, and how it is guarded, is the table in ``compat``; ``compat.apply_all`` installs
the first three, the last two are called where the app is built.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import sys
from collections.abc import Iterator
from copy import copy
from typing import Any

import gradio
from gradio import routes, state_holder

from compat.switch import switched_off

log = logging.getLogger(__name__)

HOT_PATHS = ("/gradio_api/queue/join", "/gradio_api/queue/data", "/gradio_api/heartbeat/{session_hash}")


class _LazySessionState(state_holder.SessionState):
    """A session whose per-block configurations are built when ``components`` is read, not on every write."""

    def __init__(self, blocks: Any) -> None:
        self._blocks = blocks
        self.blocks_config = copy(blocks.default_config)
        self.config_values: dict[int, Any] = {}
        self._pending_values: dict[int, Any] = {}
        self._replaced: set[int] = set()
        self.state_data: dict[int, Any] = {}
        self._state_ttl: dict[int, Any] = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST") else 3600

    def __setitem__(self, key: int, value: Any) -> None:
        from gradio.components import State

        block = self.blocks_config.blocks.get(key)
        if isinstance(block, State):
            super().__setitem__(key, value)
            return
        self.blocks_config.blocks[key] = value
        if block:  # as Gradio does: the configuration is rebuilt from the new block (when read)
            self.config_values.pop(key, None)
            self._pending_values.pop(key, None)
            self._replaced.add(key)

    def _update_value_in_config(self, key: int, value: Any) -> None:
        self._pending_values[key] = value

    def _update_config(self, key: int) -> None:
        self._materialize()
        super()._update_config(key)

    def _materialize(self) -> None:
        for key, block in self.blocks_config.blocks.items():
            if key not in self.config_values and (key in self._blocks.blocks or key in self._replaced):
                self.config_values[key] = self.blocks_config.config_for_block(key, [], block)
        for key, value in self._pending_values.items():
            if key not in self.config_values:
                self.config_values[key] = self.blocks_config.config_for_block(key, [], self.blocks_config.blocks[key])
            if "props" in self.config_values[key]:
                self.config_values[key]["props"]["value"] = value
        self._pending_values.clear()

    @property
    def components(self) -> Iterator[dict[str, Any]]:
        self._materialize()
        yield from super().components


def _hot_routes_first(app: Any) -> None:
    """Move the queue routes to the front of Gradio's API router, where no earlier route could match them."""
    for route in app.router.routes:
        router = getattr(route, "original_router", None)
        if router is None:
            continue
        front = 0
        for path in HOT_PATHS:
            index = next((i for i, r in enumerate(router.routes) if getattr(r, "path", None) == path), None)
            if index is None:
                continue
            earlier = router.routes[:index]
            if any(getattr(r, "path_regex", None) is None or r.path_regex.match(path) for r in earlier):
                log.warning("route %s not moved: an earlier route may match it", path)
                continue
            router.routes.insert(front, router.routes.pop(index))
            front += 1
        if hasattr(router, "_routes_version"):
            router._routes_version += 1


def _create_app_with_hot_routes_first(original: Any) -> Any:
    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        _hot_routes_first(app)
        return app

    return create_app


def install_lazy_session_configs() -> None:
    state_holder.SessionState = _LazySessionState  # type: ignore[misc]


def install_matplotlib_absent() -> None:
    """When matplotlib is not installed, ``import matplotlib`` fails at once instead of searching ``sys.path``."""
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]


def install_hot_routes_first() -> None:
    if not getattr(routes.App.create_app, "_chatlens_hot_routes", False):
        create_app = _create_app_with_hot_routes_first(routes.App.create_app)
        create_app.__dict__["_chatlens_hot_routes"] = True
        routes.App.create_app = staticmethod(create_app)  # type: ignore[method-assign]


def set_queue_poll_interval(demo: Any, seconds: float) -> None:
    """How long Gradio's queue sleeps between polls when it has nothing to do (its own default: 1 ms)."""
    if switched_off():
        return
    queue = getattr(demo, "_queue", None)
    if not hasattr(queue, "sleep_when_free"):
        log.warning("gradio %s: its queue has no sleep_when_free; it polls at its own interval", gradio.__version__)
        return
    queue.sleep_when_free = seconds  # type: ignore[union-attr]


def queue_length(demo: Any) -> float:
    """Events waiting in the app's Gradio queue; NaN (unknown) when the patches are off or the queue has no length."""
    if switched_off():
        return math.nan
    try:
        return float(len(demo._queue))
    except (AttributeError, TypeError):
        return math.nan
