"""ChatLens launched in-process on a free port, over a real DuckDB file; tests drive it over HTTP.

Its rows are read through the app's own engine (DuckDB allows one process per file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

import compat
from app import ChatLens
from settings import Settings
from storage.schema import Generation, Message
from tests.support.fake_tgi import free_port


@dataclass
class RunningApp:
    url: str
    chatlens: ChatLens
    demo: gr.Blocks

    @property
    def db_path(self) -> Path:
        """The DuckDB file the app writes."""
        return Path(make_url(self.chatlens.settings.database_url).database or "")

    def rows(self, model: type[Any], **where: Any) -> list[Any]:
        """Rows of a table, read through the app's own engine after its writer has drained."""
        self.chatlens.recorder.barrier().result(timeout=10)
        with self.chatlens.store.sessions() as session:
            query = select(model).filter_by(**where)
            if model is Message:
                query = query.order_by(Message.seq)
            if model is Generation:
                query = query.order_by(Generation.created_at)
            return list(session.scalars(query))

    def count(self, model: type[Any], **where: Any) -> int:
        """How many rows of a table match, after the writer has drained (a count: the session app's tables grow)."""
        self.chatlens.recorder.barrier().result(timeout=10)
        with self.chatlens.store.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0)

    def last(self, model: type[Any]) -> Any:
        """The newest row of a table by ``created_at``, or None."""
        self.chatlens.recorder.barrier().result(timeout=10)
        with self.chatlens.store.sessions() as session:
            return session.scalars(select(model).order_by(model.created_at.desc()).limit(1)).first()


Launch = Callable[[Settings], RunningApp]  # the ``launch`` fixture: an app per call, closed after the test


@contextmanager
def launched_app(settings: Settings, *, port: int | None = None) -> Iterator[RunningApp]:
    """ChatLens built from ``settings``, serving on loopback (a free port unless given) until the block ends, then
    closed."""
    compat.apply_all()  # as app.main() does: tests run the patches production runs
    chatlens = ChatLens.build(settings)
    port = port or free_port()
    demo, _ = chatlens.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield RunningApp(f"http://127.0.0.1:{port}", chatlens, demo)
    finally:
        demo.close()
        chatlens.close()
