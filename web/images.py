"""``GET /images/<sha256>`` and ``GET /share/<token>/images/<sha256>``: attached images, to whoever may see them.

An image is served to its owner while one of their conversations that is not deleted holds it, and through a share
link whose snapshot shows it (while the link stands); everyone else — another user, no session, a deleted
conversation, a revoked link — gets the same plain 404 as an unknown image, so a hash reveals nothing. The type is
the one its bytes were checked to be (``inference.images``), never sniffed (``nosniff``), and the response forbids
everything but showing the picture (a CSP of its own), so an image can never run as a page.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from access.identity import Identities
from storage.store import Store
from web.share import SHARE_PATH, token_hash

IMAGE_PATH = "/images/"

HEADERS = {
    "content-security-policy": "default-src 'none'; sandbox",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "same-origin",
    "referrer-policy": "no-referrer",
}
NOT_FOUND_HEADERS = {**HEADERS, "cache-control": "no-store"}


def image_url(sha256: str) -> str:
    return f"{IMAGE_PATH}{sha256}"


def share_image_url(token: str, sha256: str) -> str:
    return f"{SHARE_PATH}{token}{IMAGE_PATH}{sha256}"


def _answer(found: tuple[str, bytes] | None, *, cache: str) -> Response:
    if found is None:
        return PlainTextResponse("Not found", status_code=404, headers=NOT_FOUND_HEADERS)
    mime_type, data = found
    return Response(data, media_type=mime_type, headers={**HEADERS, "cache-control": cache})


def image_routes(store: Store, identities: Identities) -> list[Route]:
    async def owned(request: Request) -> Response:
        user_id = identities.of(request).user_id
        found = await asyncio.to_thread(store.image_for_owner, user_id, request.path_params["sha256"])
        # Private: a shared cache must never hand one user's image to another; no-cache: a deleted conversation's
        # image stops being shown at once.
        return _answer(found, cache="private, no-cache")

    async def shared(request: Request) -> Response:
        token = request.path_params["token"]
        found = (
            await asyncio.to_thread(store.image_for_share, token_hash(token), request.path_params["sha256"])
            if len(token) <= 128
            else None
        )
        return _answer(found, cache="no-store")

    return [
        Route(IMAGE_PATH + "{sha256}", owned, methods=["GET"]),
        Route(SHARE_PATH + "{token}" + IMAGE_PATH + "{sha256}", shared, methods=["GET"]),
    ]
