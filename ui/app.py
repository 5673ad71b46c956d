"""Assembles the Gradio app and the options it is launched with (hardened defaults, concurrency, the extra routes).

Both are given every collaborator already built (``app.ChatLens.build`` is the one place that builds them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import gradio as gr
from gradio import routes as gradio_routes
from starlette.middleware import Middleware
from starlette.routing import Route

import compat
from access.body_cap import BodyCap
from access.cross_origin import CrossOriginPolicy, TrustedOrigins
from access.downloads import Downloads
from access.gate import Guard
from access.identity import Identities
from access.message_gate import MessageGate
from access.queue_sessions import SessionOwners
from analytics.dashboard import AnalyticsReader
from analytics.slo import SloMonitor
from inference.service import ChatService
from settings import Settings
from storage.store import Store
from storage.temporary import TemporaryChats
from storage.writer import WriteBehindRecorder
from ui import account_panel, analytics_render, attachments, browser_metrics, i18n, theme_panel, versions
from ui.analytics_tab import AnalyticsTab
from ui.assets import CSS, HEAD
from ui.chat import ChatPage
from web.security_headers import SecurityHeaders

PRIVACY_NOTICE = (
    '<div class="cl-note">🔒 Privacy mode: what you write and the replies are not stored — only their timings and '
    "token counts. A conversation lasts while ChatLens runs.</div>"
)

# How often Gradio's idle queue looks for work (its own: every 1 ms; why 5 ms: the table in ``compat``).
QUEUE_POLL_S = 0.005
UPLOAD_MAX_BYTES = 10 * 1000 * 1000  # Gradio's "10mb"; raised to IMPORT_MAX_BYTES for other tools' exports


def build_app(
    *,
    service: ChatService,
    store: Store,
    recorder: WriteBehindRecorder,
    settings: Settings,
    reader: AnalyticsReader,
    slo: SloMonitor,
    identities: Identities,
    gate: MessageGate | None,
    downloads: Downloads,
    temporary: TemporaryChats | None = None,
) -> gr.Blocks:
    """The page: a Chat tab for everyone, an Analytics tab shown to admins only (checked per handler too)."""
    with gr.Blocks(title="ChatLens", fill_height=True, analytics_enabled=False) as demo:
        if not settings.store_content:
            gr.HTML(PRIVACY_NOTICE, elem_id="cl-privacy")
        with gr.Tabs(elem_id="cl-tabs"):
            with gr.Tab(i18n.t("chat_tab_chat"), id="chat", elem_id="cl-tab-chat"):
                ChatPage(
                    service=service,
                    store=store,
                    recorder=recorder,
                    identities=identities,
                    settings=settings,
                    gate=gate,
                    downloads=downloads,
                    temporary=temporary,
                ).build(demo)
            AnalyticsTab(
                reader=reader,
                store=store,
                identities=identities,
                settings=settings,
                slo=slo,
                service=service,
                downloads=downloads,
            ).build(demo)
    # The queue's default limit is 1 event at a time: lift it; streaming events carry their own limit.
    # (A periodic status_update_rate was measured worse than "auto": TTFT p50 4.5 s vs 1.6 s at 128 users.)
    demo.queue(default_concurrency_limit=None, max_size=settings.queue_max_size, api_open=False)
    compat.set_queue_poll_interval(demo, QUEUE_POLL_S)
    return demo  # type: ignore[no-any-return]


def launch_options(
    *,
    settings: Settings,
    identities: Identities,
    routes: list[Route],
    downloads: Downloads,
    session_owners: SessionOwners,
) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch``: Gradio's server name/port come from its own env variables.

    ``routes`` (ops, share links, login) are served beside Gradio's, behind the same middleware."""
    return {
        # Every running event, async ones included, takes one of max_threads slots.
        "max_threads": settings.max_concurrent_streams + 40,
        "footer_links": [],
        "state_session_capacity": settings.session_state_capacity,
        "enable_monitoring": False,
        "run_history": False,
        "show_error": False,
        "ssr_mode": False,
        "max_file_size": max(UPLOAD_MAX_BYTES, settings.import_max_bytes),
        "css": CSS + theme_panel.CSS + analytics_render.CSS + attachments.CSS + versions.CSS,
        "head": HEAD
        + theme_panel.HEAD
        + account_panel.HEAD
        + versions.HEAD
        + i18n.page_text_head()
        + (browser_metrics.head() if settings.browser_metrics else ""),
        "i18n": i18n.catalogue(),
        "theme": gr.themes.Soft(),
        "app_kwargs": {
            "routes": routes,
            # Inside Gradio's own CORS middleware, in front of every route: security headers on every response
            # (refusals too), the size cap, then who is calling.
            "middleware": [
                Middleware(SecurityHeaders, frame_ancestors=settings.frame_ancestors),
                Middleware(
                    BodyCap,
                    max_bytes=settings.request_max_bytes,
                    upload_max_bytes=max(UPLOAD_MAX_BYTES, settings.import_max_bytes) + 64 * 1024,
                    api_max_bytes=settings.api_request_max_bytes,
                ),
                Middleware(
                    Guard,
                    identities=identities,
                    public_url=settings.public_url,
                    allowed_origins=settings.allowed_origin_list,
                    session_owners=session_owners,
                    downloads=downloads,
                    max_body_bytes=settings.request_max_bytes,
                ),
            ],
        },
    }


def launch(demo: gr.Blocks, options: dict[str, Any], *, settings: Settings, identities: Identities) -> Any:
    """``demo.launch(**options)``, with ``CrossOriginPolicy`` outside Gradio's CORS middleware (why: its module)."""
    origins = TrustedOrigins(
        public_url=settings.public_url,
        allowed_origins=settings.allowed_origin_list,
        cross_site=identities.sessions.cross_site,
    )
    with outermost_on_launch(Middleware(CrossOriginPolicy, origins=origins)):
        return demo.launch(**options)


@contextlib.contextmanager
def outermost_on_launch(middleware: Middleware) -> Iterator[None]:
    """Add ``middleware`` outside Gradio's own (its CORS middleware included) to the app ``Blocks.launch`` builds.

    Gradio adds its middlewares to the FastAPI app after the ones passed in ``app_kwargs`` and builds that app inside
    ``launch()``, so only a wrapper around ``App.create_app`` for the length of the call can put one outside them.
    """
    original = gradio_routes.App.__dict__["create_app"]

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original.__func__(*args, **kwargs)
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
        return app

    gradio_routes.App.create_app = staticmethod(create_app)  # type: ignore[method-assign]
    try:
        yield
    finally:
        gradio_routes.App.create_app = original  # type: ignore[method-assign]
