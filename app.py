"""ChatLens entry point: ``python app.py [--share]``. Only composes; every part is built by its own package."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Read by Gradio when it is imported: no beacons, and a cheap per-event analytics summary.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
# Read by huggingface_hub when it is imported. With telemetry on, its user-agent code fetches an "agent harnesses"
# list from the Hub (blocking, up to 3 s) on the first model call: no calls beyond the model server.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pydantic import ValidationError

from access.api_tokens import Tokens
from access.downloads import Downloads
from access.identity import Identities
from access.login import LoginRoutes
from access.message_gate import MessageGate
from access.queue_sessions import SessionOwners
from access.rate_limits import RateLimits
from analytics.dashboard import AnalyticsReader
from analytics.load_scraper import LoadScraper
from analytics.prometheus import ReplyMetrics
from analytics.slo import SloMonitor, SloThresholds
from inference.local import (
    LOCAL_MODEL_NAME,
    LocalModelServer,
    LocalModelUnavailable,
    check_platform,
    local_model_params,
    packaged_model_path,
)
from inference.pacing import FrameBudget
from inference.service import ChatService
from inference.tgi import TgiGenerator, model_server_answers
from settings import ModelServer, Settings
from storage.expiry import DeletedExpiry
from storage.privacy import ContentKeeper
from storage.scratch import ScratchDir
from storage.server_state import RecentReadings
from storage.store import Store, StoreUnavailable
from storage.temporary import TemporaryAwareRecorder, TemporaryChats
from storage.writer import WriteBehindRecorder
from web.browser_beacon import BrowserBeacon
from web.images import image_routes
from web.openai_api import OpenAiApi
from web.ops import ops_routes
from web.share import share_routes

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger("chatlens")


@dataclass(frozen=True)
class ChatLens:
    """Everything one process runs, built from one ``Settings`` by ``build`` — the one place parts are made and
    handed their collaborators; nothing is wired onto them afterwards."""

    settings: Settings
    store: Store
    recorder: WriteBehindRecorder
    temporary: TemporaryChats
    generators: dict[str, TgiGenerator]
    service: ChatService
    metrics: ReplyMetrics
    reader: AnalyticsReader
    slo: SloMonitor
    load_scraper: LoadScraper
    expiry: DeletedExpiry
    tokens: Tokens
    identities: Identities
    demo: gr.Blocks
    launch_options: dict[str, Any]

    @classmethod
    def build(cls, settings: Settings) -> ChatLens:
        import compat  # with Gradio (seconds to import): after the configuration is known to be good
        from ui.app import build_app, launch_options

        store = Store.open(
            settings.database_url,
            keeper=None if settings.store_content else ContentKeeper(),
            images_dir=settings.state_dir / "images",
        )
        slo = SloMonitor(
            store.engine,
            SloThresholds(
                ttft_p95_ms=settings.slo_ttft_p95_ms,
                error_rate=settings.slo_error_rate,
                window_s=settings.slo_window_s,
                min_replies=settings.slo_min_replies,
            ),
        )
        # The live values are read when /metrics is scraped, once everything below exists.
        metrics = ReplyMetrics(
            streams_active=lambda: service.in_flight,
            commit_ms=lambda: list(recorder.commit_ms),
            queue_size=lambda: compat.queue_length(demo),
            slo=slo,
        )
        # The scraper's latest readings, in memory: each reply's row gets its server's state at its start from them.
        readings = RecentReadings()
        recorder = WriteBehindRecorder(store, observers=[metrics.observe], readings=readings)
        generators = {
            model.name: TgiGenerator(
                base_url=model.url,
                api_key=model.token.get_secret_value() if model.token else None,
                request_timeout_s=settings.request_timeout_s,
                connect_timeout_s=settings.connect_timeout_s,
                max_connections=settings.max_concurrent_streams,
                info_ttl_s=settings.info_ttl_s,
                vision=model.vision,
                context_tokens=model.context_tokens,
            )
            for model in settings.models
        }
        temporary = TemporaryChats()  # temporary chats' messages: in memory only, never written
        service = ChatService(
            generators,
            TemporaryAwareRecorder(recorder, temporary),
            budget=FrameBudget(
                min_interval_s=settings.frame_min_interval_ms / 1000,
                frames_per_s=settings.frame_budget_per_s,
            ),
            max_message_chars=settings.max_message_chars,
            max_new_tokens=settings.max_new_tokens,
            system_prompt=settings.system_prompt,
            model_defaults={model.name: model.default_params() for model in settings.models},
            auto_title=settings.auto_title and settings.store_content,  # a title is text taken from the message
            max_reply_chars=settings.max_reply_chars,
            reasoning_tags=settings.reasoning_tags,
            image_tokens=settings.image_tokens,
        )
        reader = AnalyticsReader(store.engine, ttl_s=settings.analytics_cache_ttl_s)
        load_scraper = LoadScraper(
            [(model.url, model.token.get_secret_value() if model.token else None) for model in settings.models],
            writer=recorder,
            interval_s=settings.model_metrics_interval_s,
            keep_days=settings.model_metrics_keep_days,
            full_days=settings.model_metrics_full_days,
            timeout_s=settings.connect_timeout_s,
            readings=readings,
        )
        tokens = Tokens(store, recorder)
        identities = Identities(settings, tokens=tokens)
        limits = RateLimits(
            recorder,
            per_user_per_min=settings.rate_limit_user_per_min,
            per_ip_per_min=settings.rate_limit_ip_per_min,
            counted_here=store.engine.dialect.name == "duckdb",  # one process per DuckDB file: it sees every message
        )
        downloads = Downloads()  # exports made for one user, served to that user only (checked by the gate)
        message_gate = MessageGate(limits, identities) if limits.enabled else None
        demo = build_app(
            service=service,
            store=store,
            recorder=recorder,
            settings=settings,
            reader=reader,
            slo=slo,
            identities=identities,
            gate=message_gate,
            downloads=downloads,
            temporary=temporary,
        )
        routes = [
            *ops_routes(service=service, store=store, recorder=recorder, metrics=metrics),
            *share_routes(store),
            *image_routes(store, identities),
            *(BrowserBeacon(recorder, identities).routes() if settings.browser_metrics else []),
            *OpenAiApi(
                service,
                identities,
                message_gate,
                require_token=settings.api_require_token or settings.require_login,
                image_max_bytes=settings.image_max_bytes,
                images_per_message=settings.images_per_message,
            ).routes(),
            *(
                LoginRoutes(settings=settings, identities=identities, recorder=recorder).routes()
                if settings.auth_mode == "oidc"
                else []
            ),
        ]
        return cls(
            settings=settings,
            store=store,
            recorder=recorder,
            temporary=temporary,
            generators=generators,
            service=service,
            metrics=metrics,
            reader=reader,
            slo=slo,
            load_scraper=load_scraper,
            expiry=DeletedExpiry(store, recorder, keep_days=settings.deleted_keep_days),
            tokens=tokens,
            identities=identities,
            demo=demo,
            launch_options=launch_options(
                settings=settings,
                identities=identities,
                routes=routes,
                downloads=downloads,
                session_owners=SessionOwners(),  # each queue session_hash bound to its first caller
            ),
        )

    def launch(self, **overrides: Any) -> tuple[gr.Blocks, Any]:
        """Start the SLO checks and serve the app; ``overrides`` go to ``Blocks.launch`` on top of the options."""
        self.slo.check()
        self.slo.run_every(self.settings.slo_check_interval_s)
        self.load_scraper.start()  # its own thread: the model servers' /metrics, never on a reply's path
        self.expiry.start()  # its own thread: "Recently deleted" purged after DELETED_KEEP_DAYS
        from ui.app import launch

        options = {**self.launch_options, **overrides}
        return self.demo, launch(self.demo, options, settings=self.settings, identities=self.identities)

    def drain(self) -> None:
        """Refuse new turns, give streaming replies the grace period, stop the rest (saved as ``stopped``)."""
        self.service.refuse_new_turns()
        loop = self.service.loop
        if loop is not None and loop.is_running():
            grace_s = self.settings.shutdown_grace_s
            asyncio.run_coroutine_threadsafe(self.service.drain(grace_s), loop).result(grace_s + 15)

    def close(self) -> None:
        """Commit what is queued and close the database."""
        self.slo.stop()
        self.load_scraper.stop()
        self.expiry.stop()
        self.reader.close()
        self.recorder.close()
        self.store.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ChatLens: a chat front-end that measures every reply.")
    parser.add_argument("--share", action="store_true", help="create a public Gradio share link")
    return parser.parse_args(argv)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    name = ".".join(str(part) for part in error["loc"]).upper()
    return f"{name}: {message}" if name else message  # a check across settings names them in its message


def start_local_model(settings: Settings) -> tuple[Settings, LocalModelServer]:
    """Local mode: start llama.cpp's server with the small CPU model and point ChatLens at it like at TGI."""
    check_platform()
    model_path = settings.local_model or packaged_model_path()
    local = LocalModelServer(
        model_path=model_path,
        chat_format=settings.local_chat_format,
        context_tokens=settings.local_context_tokens,
        log_path=settings.state_dir / "local-model.log",
        alias=LOCAL_MODEL_NAME,
    )
    local.start()
    params = local_model_params(settings.local_chat_format, settings.local_max_new_tokens)
    # llama-cpp-python's server reports no window (no /props): the context it was started with is the window.
    server = ModelServer(
        name=LOCAL_MODEL_NAME, url=local.url, params=params, context_tokens=settings.local_context_tokens
    )
    update: dict[str, Any] = {"models": [server]}
    if "max_concurrent_streams" not in settings.model_fields_set:
        # llama.cpp's server (llama-cpp-python) answers one request at a time and cut a second one short: the
        # queue holds the others ("waiting for the model") instead.
        update["max_concurrent_streams"] = 1
    if settings.local_model is None and "auto_title" not in settings.model_fields_set:
        update["auto_title"] = False  # the packaged base model echoes the title instruction instead of a title
    return settings.model_copy(update=update), local


class DataDirUnwritable(Exception):
    pass


def open_scratch_dir(data_dir: Path) -> ScratchDir:
    """This process's temporary folder under the data folder, used by tempfile and Gradio from now on."""
    try:
        scratch = ScratchDir.create(data_dir)
    except OSError as exc:
        raise DataDirUnwritable(
            f"the data folder {data_dir} cannot be written ({exc.strerror}); set DATA_DIR (or DATABASE_URL) to a "
            "writable folder"
        ) from None
    scratch.use_for_temporary_files()
    return scratch


def trust_forwarded_addresses(settings: Settings) -> None:
    """TRUSTED_PROXIES becomes uvicorn's FORWARDED_ALLOW_IPS, read when Gradio's launch() builds its Config."""
    if settings.forwarded_allow_ips is not None:
        os.environ["FORWARDED_ALLOW_IPS"] = settings.forwarded_allow_ips
    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    if "*" in [entry.strip() for entry in trusted.split(",")]:
        log.warning(
            "FORWARDED_ALLOW_IPS=* takes each request's leftmost X-Forwarded-For entry, which any client can set: "
            "per-address rate limits can be dodged. Set TRUSTED_PROXIES to your proxies' addresses instead"
        )
    log.info("client addresses: X-Forwarded-For is trusted from %s", trusted)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for client_logger in ("httpx", "httpx2"):  # not one line per request (huggingface_hub uses httpx2)
        logging.getLogger(client_logger).setLevel(logging.WARNING)
    args = parse_args(argv)
    local: LocalModelServer | None = None
    scratch: ScratchDir | None = None
    try:
        settings = Settings()
        scratch = open_scratch_dir(settings.state_dir)
        if not settings.models and settings.local_mode:
            settings, local = start_local_model(settings)
        import compat  # imports Gradio (seconds): only once the configuration is known to be good

        compat.apply_all()  # every third-party patch, once, before anything is built (CHATLENS_COMPAT=off: none)
        chatlens = ChatLens.build(settings)
    except ValidationError as exc:
        raise SystemExit(f"ChatLens cannot start: bad configuration: {_first_problem(exc)}") from None
    except (StoreUnavailable, LocalModelUnavailable, DataDirUnwritable) as exc:
        if local is not None:
            local.stop()
        if scratch is not None:
            scratch.remove()
        raise SystemExit(f"ChatLens cannot start: {exc}") from None
    except BaseException:
        if local is not None:
            local.stop()
        if scratch is not None:
            scratch.remove()
        raise
    trust_forwarded_addresses(settings)
    if settings.space_id and not settings.space_has_storage and "DATABASE_URL" not in os.environ:
        log.warning("this Space has no persistent storage (/data): conversations will not survive a restart")
    if not settings.models:
        log.warning("TGI_URL is not set: the page opens, and the chat explains how to point it at a model server")
    for model in settings.models:
        if not model_server_answers(model.url, timeout_s=settings.connect_timeout_s):
            log.warning(
                "the model server at %s does not answer /health yet; replies will fail until it does", model.url
            )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        chatlens.launch(share=args.share, prevent_thread_lock=True)
        settle_garbage_collector()
        while not stop.wait(0.5):
            pass
        log.info("stopping: new messages are refused; streaming replies get %.0f s", settings.shutdown_grace_s)
        chatlens.drain()
        chatlens.demo.close()
    finally:
        chatlens.close()
        if local is not None:
            local.stop()
        scratch.remove()
    log.info("stopped cleanly")


def settle_garbage_collector() -> None:
    """Once the app is built: its ~250,000 long-lived objects leave the collector's view, and young collections
    come less often. A full collection otherwise stopped the event loop for 125–160 ms during a 128-user burst
    (measured with gc.callbacks); with this, the same run had no full collection and ~40 ms of collections in all.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


if __name__ == "__main__":
    main()
