"""ChatLens entry point: ``python app.py [--share]``. Only composes; every part is built by its own package."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Read by Gradio when it is imported: no beacons, and a cheap per-event analytics summary.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

from analytics.recorder import WriteBehindRecorder
from analytics.store import Store, StoreUnavailable
from inference.pacing import FrameBudget
from inference.service import ChatService
from inference.tgi import TgiGenerator
from settings import Settings

log = logging.getLogger("chatlens")


@dataclass
class ChatLens:
    """Everything one process runs, built from one ``Settings``."""

    settings: Settings
    store: Store
    recorder: WriteBehindRecorder
    generator: TgiGenerator | None
    service: ChatService

    @classmethod
    def build(cls, settings: Settings) -> ChatLens:
        store = Store.open(settings.database_url)
        recorder = WriteBehindRecorder(store)
        generator = None
        if settings.tgi_url:
            generator = TgiGenerator(
                base_url=settings.tgi_url,
                api_key=settings.tgi_api_key.get_secret_value() if settings.tgi_api_key else None,
                request_timeout_s=settings.request_timeout_s,
                connect_timeout_s=settings.connect_timeout_s,
                max_connections=settings.max_concurrent_streams,
                info_ttl_s=settings.info_ttl_s,
            )
        service = ChatService(
            generator,
            recorder,
            budget=FrameBudget(
                min_interval_s=settings.frame_min_interval_ms / 1000,
                frames_per_s=settings.frame_budget_per_s,
            ),
            max_message_chars=settings.max_message_chars,
            max_new_tokens=settings.max_new_tokens,
            system_prompt=settings.system_prompt,
        )
        return cls(settings, store, recorder, generator, service)

    def launch(self, **overrides: Any) -> Any:
        from ui.app import build_app, launch_options

        parts = {"service": self.service, "store": self.store, "recorder": self.recorder, "settings": self.settings}
        demo = build_app(**parts)
        return demo, demo.launch(**{**launch_options(**parts), **overrides})

    def close(self) -> None:
        self.recorder.close()
        self.store.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ChatLens: a chat front-end that measures every reply.")
    parser.add_argument("--share", action="store_true", help="create a public Gradio share link")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        chatlens = ChatLens.build(Settings())
    except StoreUnavailable as exc:
        raise SystemExit(f"ChatLens cannot start: {exc}") from None
    if chatlens.generator is None:
        log.warning("TGI_URL is not set: the page opens, and the chat explains how to point it at a model server")
    try:
        chatlens.launch(share=args.share)
    finally:
        chatlens.close()


if __name__ == "__main__":
    main()
