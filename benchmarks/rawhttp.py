"""A minimal HTTP/1.1 client for the load generator only (never used by the app).

httpx's connection pool does O(n) work per request over its connections: one client with 256 connections spent
~5 CPU-s on a 128-stream run, competing with the app on the same 2 cores and delaying the streams it measured. This
client opens one connection per request, writes the request by hand and reads chunked or sized bodies line by line,
at a small fraction of that cost, so the numbers are the app's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


async def _open(
    url: str, method: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = b"" if body is None else json.dumps(body).encode()
    reader, writer = await asyncio.open_connection(host, port, limit=2**22)
    writer.write(
        (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
            + "\r\n"
        ).encode()
        + payload
    )
    status = int((await reader.readline()).split()[1])
    chunked, length = False, -1
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name.lower() == "content-length":
            length = int(value)
    if status != 200:
        writer.close()
        raise HttpError(f"HTTP {status} for {method} {path}")
    return reader, writer, chunked, length


async def lines(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """The response body, line by line (without line endings), as it arrives."""
    reader, writer, chunked, length = await _open(url, method, body, headers)
    pending = b""
    try:
        while True:
            if chunked:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    break
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536 if length < 0 else length)
                if not data:
                    break
            *complete, pending = (pending + data).split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r").decode()
            if not chunked and length >= 0 and len(data) >= length:
                break
        if pending:
            yield pending.decode()
    finally:
        writer.close()


async def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    text = "\n".join([line async for line in lines(url, "POST", body, headers)])
    return json.loads(text)
