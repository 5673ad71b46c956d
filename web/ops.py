"""Operational routes served beside the UI: ``GET /healthz`` (JSON) and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from analytics.prometheus import CONTENT_TYPE, ReplyMetrics
from inference.service import ChatService
from storage.store import Store


def ops_routes(*, service: ChatService, store: Store, metrics: ReplyMetrics) -> list[Route]:
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

    async def metrics_text(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_text, methods=["GET"])]
