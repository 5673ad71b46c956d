"""Operational routes served beside the UI: ``GET /healthz`` (JSON) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio
import statistics

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from analytics.recorder import WriteBehindRecorder
from analytics.store import Store
from inference.service import ChatService


def ops_routes(*, service: ChatService, store: Store, recorder: WriteBehindRecorder) -> list[Route]:
    async def healthz(request: Request) -> Response:
        database_ok = await asyncio.to_thread(store.ping)
        model_ok = await service.model_server_healthy() if service.configured else False
        body = {
            "status": "ok" if database_ok else "failing",
            "app": "ok",
            "database": "ok" if database_ok else "failing",
            "model_server": ("ok" if model_ok else "unreachable") if service.configured else "not configured",
            "streams_active": service.in_flight,
        }
        return JSONResponse(body, status_code=200 if database_ok else 503)

    async def metrics(request: Request) -> Response:
        commits = list(recorder.commit_ms)
        lines = [
            "# HELP chatlens_streams_active Replies streaming now.",
            "# TYPE chatlens_streams_active gauge",
            f"chatlens_streams_active {service.in_flight}",
            "# HELP chatlens_db_commit_ms_median Median group-commit time of the last 10,000 commits (ms).",
            "# TYPE chatlens_db_commit_ms_median gauge",
            f"chatlens_db_commit_ms_median {statistics.median(commits) if commits else 0:.3f}",
        ]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
