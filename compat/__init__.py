"""Every patch ChatLens makes to a third-party library, in one table (``PATCHES``), applied once by ``apply_all()``.

Each patch removes a measured cost or a risk and leaves behaviour unchanged. A patch that re-implements or rearranges
private code is *exact*: it is applied only on the version it was checked on (read with ``importlib.metadata``); on
any other version it logs one warning and is not applied, and ChatLens works without it. The others touch a private
name but no private code; they check that the name is still there and warn when it is not.

``apply_all()`` is called once from ``app.main()`` (and by the test launch, so tests run what production runs); the
queue entries are used where the app is built. ``CHATLENS_COMPAT=off`` in the environment turns every entry off —
nothing below is applied or touched — to rule the patches out when something looks wrong; ``tests/test_compat.py``
runs the app that way once, streaming and storing a reply.

The table (``render_table()``; a test keeps this text equal to ``PATCHES``):

* **lazy session configs** — gradio 6.31.0, exact; applied by apply_all().
  Touches: gradio.state_holder.SessionState, SessionState._update_value_in_config, SessionState._update_config,
  SessionState._state_ttl, Blocks.default_config, BlocksConfig.config_for_block.
  Why: Gradio builds the configuration of every block of the page for each new session, and again for each input of
  each call, only to rebuild a session for deep links, which ChatLens does not use: 3.7 ms of event-loop time per
  new session with this page (83 blocks). The patched session builds configurations when they are read.
* **matplotlib marked absent** — gradio 6.31.0; applied by apply_all().
  Touches: sys.modules['matplotlib'] (set to None when matplotlib is not installed).
  Why: Each event enters Gradio's MatplotlibBackendMananger, which imports matplotlib twice; when it is not
  installed, every attempt searches the whole sys.path again. Marked absent once, the import fails at once.
* **hot routes first** — gradio 6.31.0 + fastapi 0.165.0, exact; applied by apply_all().
  Touches: gradio.routes.App.create_app (wrapped), fastapi.routing._IncludedRouter.original_router (its routes
  reordered), APIRouter._routes_version.
  Why: FastAPI tries routes in order, twice per request; queue/join and queue/data, the two requests of every chat
  turn, sat behind forty others. Moved to the front, unless an earlier route could match their path. The two fixes
  above and this one, measured as one change (commit 41fd18d): app CPU per 1,000 streamed tokens 0.33 -> 0.18 CPU-s
  at 128 users, same run conditions.
* **short tracebacks** — gradio 6.31.0; applied by apply_all().
  Touches: the traceback globals of gradio.queueing, gradio.routes and gradio.route_utils.
  Why: Gradio prints the traceback of a failing event, and some of its messages quote the inputs whole, so a 200 KB
  body under the size cap would land in the log. Every line longer than 300 characters is cut; the type and start of
  each message stay readable.
* **fast chunk reading** — huggingface_hub 2.4.0, exact; applied by apply_all().
  Touches: huggingface_hub.inference._common._format_chat_completion_stream_output,
  huggingface_hub.inference._common._parse_text_generation_error.
  Why: The library turns every streamed SSE line into nested dataclasses mirrored into dicts at every level, the
  largest part of ChatLens's CPU per streamed token; inference.tgi_chunks reads the same lines into plain slotted
  objects: 72 -> 22 µs of CPU per streamed token.
* **fast request bodies** — httpx2 2.16.2; applied by apply_all().
  Touches: httpx2._content.json_dumps.
  Why: httpx2 encodes huggingface_hub's request bodies with json.dumps, which walks a message's base64 images
  character by character; orjson writes the same bytes (checked by a test) several times faster. What orjson would
  write differently (non-finite floats, non-string keys, huge integers) still goes to json.dumps. Measured by
  benchmarks.bench_images (docs/benchmarks.md, Images).
* **queue poll interval** — gradio 6.31.0; applied by compat.set_queue_poll_interval in ui.app.build_app.
  Touches: Blocks._queue, Queue.sleep_when_free.
  Why: Gradio polls its queue every 1 ms when idle (5% of a core, measured); every 5 ms costs a fifth of that and
  delays an event by at most 5 ms.
* **queue length** — gradio 6.31.0; applied by compat.queue_length, read by /metrics (chatlens_queue_size).
  Touches: Blocks._queue, Queue.__len__.
  Why: Gradio has no public count of the events waiting in its queue. Reported as NaN when the patches are off.
"""

from __future__ import annotations

import importlib.metadata
import logging
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from compat import fast_json_bodies, gradio_patches, gradio_tracebacks, hub_chunks
from compat.gradio_patches import queue_length, set_queue_poll_interval
from compat.switch import SWITCH, switched_off

__all__ = ["PATCHES", "SWITCH", "Patch", "apply", "apply_all", "queue_length", "set_queue_poll_interval"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Patch:
    name: str
    checked_on: tuple[tuple[str, str], ...]  # (distribution, version) it was measured and tested on
    exact: bool  # re-implements or rearranges private code: applied on exactly ``checked_on``
    private_names: tuple[str, ...]
    reason: str  # what was measured, or the risk it removes
    install: Callable[[], None] | None = None  # what ``apply_all`` runs; None: used at its call site
    applied_by: str = "apply_all()"


GRADIO = ("gradio", "6.31.0")
FASTAPI = ("fastapi", "0.165.0")
HUGGINGFACE_HUB = ("huggingface_hub", "2.4.0")
HTTPX2 = ("httpx2", "2.16.2")

PATCHES: tuple[Patch, ...] = (
    Patch(
        "lazy session configs",
        (GRADIO,),
        exact=True,
        private_names=(
            "gradio.state_holder.SessionState",
            "SessionState._update_value_in_config",
            "SessionState._update_config",
            "SessionState._state_ttl",
            "Blocks.default_config",
            "BlocksConfig.config_for_block",
        ),
        reason="Gradio builds the configuration of every block of the page for each new session, and again for "
        "each input of each call, only to rebuild a session for deep links, which ChatLens does not use: 3.7 ms of "
        "event-loop time per new session with this page (83 blocks). The patched session builds configurations "
        "when they are read.",
        install=gradio_patches.install_lazy_session_configs,
    ),
    Patch(
        "matplotlib marked absent",
        (GRADIO,),
        exact=False,
        private_names=("sys.modules['matplotlib'] (set to None when matplotlib is not installed)",),
        reason="Each event enters Gradio's MatplotlibBackendMananger, which imports matplotlib twice; when it is "
        "not installed, every attempt searches the whole sys.path again. Marked absent once, the import fails at "
        "once.",
        install=gradio_patches.install_matplotlib_absent,
    ),
    Patch(
        "hot routes first",
        (GRADIO, FASTAPI),
        exact=True,
        private_names=(
            "gradio.routes.App.create_app (wrapped)",
            "fastapi.routing._IncludedRouter.original_router (its routes reordered)",
            "APIRouter._routes_version",
        ),
        reason="FastAPI tries routes in order, twice per request; queue/join and queue/data, the two requests of "
        "every chat turn, sat behind forty others. Moved to the front, unless an earlier route could match their "
        "path. The two fixes above and this one, measured as one change (commit 41fd18d): app CPU per 1,000 "
        "streamed tokens 0.33 -> 0.18 CPU-s at 128 users, same run conditions.",
        install=gradio_patches.install_hot_routes_first,
    ),
    Patch(
        "short tracebacks",
        (GRADIO,),
        exact=False,
        private_names=("the traceback globals of gradio.queueing, gradio.routes and gradio.route_utils",),
        reason="Gradio prints the traceback of a failing event, and some of its messages quote the inputs whole, "
        "so a 200 KB body under the size cap would land in the log. Every line longer than "
        f"{gradio_tracebacks.MAX_LINE_CHARS} characters is cut; the type and start of each message stay readable.",
        install=gradio_tracebacks.shorten_gradio_tracebacks,
    ),
    Patch(
        "fast chunk reading",
        (HUGGINGFACE_HUB,),
        exact=True,
        private_names=(
            "huggingface_hub.inference._common._format_chat_completion_stream_output",
            "huggingface_hub.inference._common._parse_text_generation_error",
        ),
        reason="The library turns every streamed SSE line into nested dataclasses mirrored into dicts at every "
        "level, the largest part of ChatLens's CPU per streamed token; inference.tgi_chunks reads the same lines "
        "into plain slotted objects: 72 -> 22 µs of CPU per streamed token.",
        install=hub_chunks.install_fast_chunk_reading,
    ),
    Patch(
        "fast request bodies",
        (HTTPX2,),
        exact=False,
        private_names=("httpx2._content.json_dumps",),
        reason="httpx2 encodes huggingface_hub's request bodies with json.dumps, which walks a message's base64 "
        "images character by character; orjson writes the same bytes (checked by a test) several times faster. "
        "What orjson would write differently (non-finite floats, non-string keys, huge integers) still goes to "
        "json.dumps. Measured by benchmarks.bench_images (docs/benchmarks.md, Images).",
        install=fast_json_bodies.install_fast_json_bodies,
    ),
    Patch(
        "queue poll interval",
        (GRADIO,),
        exact=False,
        private_names=("Blocks._queue", "Queue.sleep_when_free"),
        reason="Gradio polls its queue every 1 ms when idle (5% of a core, measured); every 5 ms costs a fifth "
        "of that and delays an event by at most 5 ms.",
        applied_by="compat.set_queue_poll_interval in ui.app.build_app",
    ),
    Patch(
        "queue length",
        (GRADIO,),
        exact=False,
        private_names=("Blocks._queue", "Queue.__len__"),
        reason="Gradio has no public count of the events waiting in its queue. Reported as NaN when the patches "
        "are off.",
        applied_by="compat.queue_length, read by /metrics (chatlens_queue_size)",
    ),
)


def installed_version(library: str) -> str | None:
    try:
        return importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return None


def apply(patch: Patch) -> bool:
    """Install one patch if its guard lets it (idempotent); False, after one warning, if not."""
    if patch.install is None:
        raise ValueError(f"{patch.name!r} is not installed by apply(): {patch.applied_by}")
    if switched_off():
        return False
    if patch.exact:
        installed = [(library, installed_version(library)) for library, _ in patch.checked_on]
        if installed != list(patch.checked_on):
            log.warning(
                "patch %r not applied: installed %s; it re-implements private code checked on %s only",
                patch.name, _versions(installed), _versions(patch.checked_on),
            )  # fmt: skip
            return False
    patch.install()
    return True


def _versions(pairs: Iterable[tuple[str, str | None]]) -> str:
    return " + ".join(f"{library} {version or '(not installed)'}" for library, version in pairs)


_applied: list[str] | None = None


def apply_all() -> list[str]:
    """Apply every patch of the table its guard lets, once per process; the names applied (none when switched off)."""
    global _applied
    if switched_off():
        log.warning("%s=off: no third-party patch applied", SWITCH)
        return []
    if _applied is None:
        _applied = [patch.name for patch in PATCHES if patch.install is not None and apply(patch)]
    return list(_applied)


def render_table(patches: tuple[Patch, ...] = PATCHES, width: int = 116) -> str:
    """The table as this module's docstring shows it."""
    lines: list[str] = []
    for patch in patches:
        guard = ", exact" if patch.exact else ""
        checked = _versions(patch.checked_on)
        lines.append(f"* **{patch.name}** — {checked}{guard}; applied by {patch.applied_by}.")
        for label, text in (("Touches", ", ".join(patch.private_names) + "."), ("Why", patch.reason)):
            lines += textwrap.wrap(f"{label}: {text}", width, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines) + "\n"
