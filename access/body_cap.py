"""Request size cap: a pure ASGI middleware answering 413 to bodies over ``REQUEST_MAX_BYTES`` before any handler.

* File uploads (``/gradio_api/upload``: conversation imports, images) have their own cap, Gradio's
  ``max_file_size`` plus room for the multipart envelope; ``/v1/chat/completions`` has ``API_REQUEST_MAX_BYTES``
  (images travel base64 in its JSON); every other body is capped at ``REQUEST_MAX_BYTES``.
* A declared ``Content-Length`` over the cap is refused without reading the body.
* A body without one (chunked) is counted as it arrives, buffering at most the cap: past it, 413; under it, the
  buffered body is handed to the app unchanged.
* The refusal names the limit, never the body; nothing here logs request content.
"""

from __future__ import annotations

from access.gate import ASGIApp, Message, Receive, Scope, Send, refusal_body

UPLOAD_PATH = "/gradio_api/upload"
API_PATH = "/v1/chat/completions"


class BodyCap:
    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int, api_max_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.api_max_bytes = api_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # File uploads (conversation imports) have their own, larger cap: Gradio's max_file_size plus form overhead.
        path = scope.get("path", "")
        cap = (
            self.upload_max_bytes
            if path.endswith(UPLOAD_PATH)
            else self.api_max_bytes
            if path.endswith(API_PATH)
            else self.max_bytes
        )
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > cap:
                await self._refuse(scope, send, cap)
                return
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > cap:
                await self._refuse(scope, send, cap)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, cap: int) -> None:
        body = refusal_body(scope.get("path", ""), 413, f"Request body too large: the limit is {cap:,} bytes.")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
