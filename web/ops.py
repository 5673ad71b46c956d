"""Operational routes served beside the UI: ``GET /healthz`` (JSON) and ``GET /metrics`` (Prometheus text).

``/healthz`` reports the database failing when it cannot be read or when writes are not being committed."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from analytics.prometheus import CONTENT_TYPE, ReplyMetrics
from inference.service import ChatService
from storage.store import Store
from storage.writer import WriteBehindRecorder


def ops_routes(
    *, service: ChatService, store: Store, recorder: WriteBehindRecorder, metrics: ReplyMetrics
) -> list[Route]:
    async def healthz(request: Request) -> Response:
        # A read is not enough: a full or read-only disk still answers SELECT 1. The writer's last commit (and, when
        # it failed, a probe write) says whether what users send is being saved.
        database_ok = await asyncio.to_thread(store.ping) and await recorder.healthy()
        model_ok = await service.model_server_healthy() if service.configured else False
        body = {
            "status": "ok" if database_ok else "failing",
            "app": "ok",
            "database": "ok" if database_ok else "failing",
            "model_server": ("ok" if model_ok else "unreachable") if service.configured else "not configured",
            "streams_active": service.in_flight,
        }
        return JSONResponse(body, status_code=200 if database_ok else 503)

    async def metrics_text(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_text, methods=["GET"])]
