"""``POST /browser/reply`` and ``POST /browser/error``: what the user's browser saw, reported by the page itself.

The chat page (``ui.browser_metrics``) measures each reply it sent — Send (or Enter) to the first and the last token
painted, frames painted and long frames, the JS heap — and reports it here when the reply ends; it reports its own
JavaScript errors and unhandled rejections the same way. Only to ChatLens itself (same origin: the gate refuses a
foreign ``Origin`` with the session cookie), never to a third party; absent (404) with ``BROWSER_METRICS=false``.

A report is refused and stores nothing unless all of these hold:

* the body is small (``MAX_REPLY_BYTES`` / ``MAX_ERROR_BYTES``, counted as it is read, whatever it declares) and is
  one JSON object of exactly the known fields with the right types and sane ranges (strict: no ``"12"`` for 12, no
  ``true`` for 1, no extra field);
* the sender is within its budget (``REPLIES_PER_MIN`` / ``ERRORS_PER_MIN`` per user, in memory, bounded);
* for a reply: it names a generation the *sender* owns (an unknown id and another user's get the same 404) that has
  no report yet (a replay is 409).

Refusals answer ``{"detail": …}`` with 400 / 404 / 409 / 413 / 429; a stored report answers 204.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import uuid
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from access.identity import Identities
from storage.browser_reports import ReplySeen, SaveBrowserError, SaveReplySeen
from storage.writer import StorageFailed, WriteBehindRecorder

log = logging.getLogger(__name__)

REPLY_PATH = "/browser/reply"
ERROR_PATH = "/browser/error"
MAX_REPLY_BYTES = 1024
MAX_ERROR_BYTES = 12 * 1024
REPLIES_PER_MIN = 60
ERRORS_PER_MIN = 20
MAX_MS = 3_600_000.0  # a reply the page waited an hour for is not a measurement any more


class ReplyReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reply: uuid.UUID
    ttft_ms: Annotated[float, Field(ge=0, le=MAX_MS, allow_inf_nan=False)]
    last_token_ms: Annotated[float, Field(ge=0, le=MAX_MS, allow_inf_nan=False)]
    frames: Annotated[int, Field(ge=0, le=10_000_000)]
    long_frames: Annotated[int, Field(ge=0, le=10_000_000)]
    fps: Annotated[float | None, Field(ge=0, le=1000, allow_inf_nan=False)] = None
    heap_bytes: Annotated[int | None, Field(ge=0, le=1 << 44)] = None

    @model_validator(mode="before")
    @classmethod
    def _reply_is_a_string(cls, data: Any) -> Any:
        # Strict mode takes a UUID only as an instance; JSON carries it as a string, so check that it is one.
        if isinstance(data, dict) and isinstance(data.get("reply"), str) and len(data["reply"]) == 36:
            try:
                return {**data, "reply": uuid.UUID(data["reply"])}
            except ValueError:
                return data
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ReplyReport:
        if self.last_token_ms < self.ttft_ms or self.long_frames > self.frames:
            raise ValueError("inconsistent measurements")
        return self


class ErrorReport(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["error", "rejection"]
    message: Annotated[str, Field(min_length=1, max_length=1000)]
    stack: Annotated[str, Field(max_length=8000)] = ""
    version: Annotated[str, Field(pattern=r"^[0-9A-Za-z.+_-]{1,32}$")]
    page: Annotated[str, Field(pattern=r"^/[^?#\s]{0,499}$")]  # a path: no query (it names a conversation)


Report = TypeVar("Report", bound=BaseModel)


class Budget:
    """At most ``per_min`` reports per user in any minute; the users remembered are bounded (least recent out)."""

    def __init__(self, per_min: int, *, max_users: int = 10_000) -> None:
        self.per_min = per_min
        self._max_users = max_users
        self._seen: OrderedDict[uuid.UUID, deque[float]] = OrderedDict()

    def take(self, user_id: uuid.UUID, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._seen.pop(user_id, None) or deque()
        while times and now - times[0] >= 60:
            times.popleft()
        self._seen[user_id] = times
        if len(self._seen) > self._max_users:
            self._seen.popitem(last=False)
        if len(times) >= self.per_min:
            return False
        times.append(now)
        return True


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def _read_json(request: Request, max_bytes: int) -> Any:
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise Refused(413, f"Report too large: the limit is {max_bytes:,} bytes.")
    except ClientDisconnect:
        raise Refused(400, "The report was cut off.") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "A report is one JSON object.") from None


def connection_of(request: Request) -> Literal["local", "remote"]:
    """``local``: the browser is on this machine (a loopback address, after the trusted proxies); else ``remote``."""
    host = request.client.host if request.client else ""
    try:
        return "local" if ipaddress.ip_address(host).is_loopback else "remote"
    except ValueError:
        return "remote"


class BrowserBeacon:
    def __init__(self, recorder: WriteBehindRecorder, identities: Identities) -> None:
        self._recorder = recorder
        self._identities = identities
        self._replies = Budget(REPLIES_PER_MIN)
        self._errors = Budget(ERRORS_PER_MIN)

    def routes(self) -> list[Route]:
        return [
            Route(REPLY_PATH, self._answering(self.reply), methods=["POST"]),
            Route(ERROR_PATH, self._answering(self.error), methods=["POST"]),
        ]

    @staticmethod
    def _answering(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                await handler(request)
            except Refused as exc:
                return JSONResponse(
                    {"detail": exc.detail}, status_code=exc.status, headers={"cache-control": "no-store"}
                )
            except StorageFailed:
                return JSONResponse({"detail": "Not saved; try later."}, status_code=503)
            return Response(status_code=204, headers={"cache-control": "no-store"})

        return endpoint

    async def reply(self, request: Request) -> None:
        user_id = self._identities.of(request).user_id
        report = self._parse(ReplyReport, await _read_json(request, MAX_REPLY_BYTES))
        if not self._replies.take(user_id):
            raise Refused(429, "Too many reports; slow down.")
        seen = ReplySeen(
            felt_ttft_ms=report.ttft_ms,
            felt_last_token_ms=report.last_token_ms,
            frames=report.frames,
            long_frames=report.long_frames,
            fps=report.fps,
            heap_bytes=report.heap_bytes,
        )
        job = SaveReplySeen(report.reply, user_id, seen, connection_of(request), datetime.now(UTC))
        outcome = await self._recorder.run(job)
        if outcome == "unknown":
            raise Refused(404, "No such reply.")
        if outcome == "replayed":
            raise Refused(409, "This reply was reported already.")

    async def error(self, request: Request) -> None:
        user_id = self._identities.of(request).user_id
        report = self._parse(ErrorReport, await _read_json(request, MAX_ERROR_BYTES))
        if not self._errors.take(user_id):
            raise Refused(429, "Too many reports; slow down.")
        job = SaveBrowserError(
            report.kind, report.message, report.stack, report.version, report.page, datetime.now(UTC)
        )
        await self._recorder.run(job)

    @staticmethod
    def _parse(model: type[Report], data: Any) -> Report:
        if not isinstance(data, dict):
            raise Refused(400, "A report is one JSON object.")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            fields = sorted({".".join(str(part) for part in error["loc"]) or "report" for error in exc.errors()})
            raise Refused(400, f"Report refused: {', '.join(fields)[:200]}.") from None
