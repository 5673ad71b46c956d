"""``GET /share/<token>``: the read-only page behind a share link — plain HTML, no scripts, nothing to click.

Message text is rendered as Markdown with its raw HTML escaped (``web.markdown_html``), so hostile model output
stays inert; math is shown as written (no script typesets it). The page forbids scripts and outside resources by
CSP, is not cached (a revoked link stops working at once) and not indexed.
An unknown or revoked token gets the same plain 404 as any other path. The page's own words follow the browser's
``Accept-Language`` (``locales``); each message's text sets its own direction (``dir="auto"``: Arabic or Hebrew
reads right to left, whatever the page's language).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

import locales
from storage.store import Store
from web.markdown_html import markdown_html
from web.reply_html import metrics_line

SHARE_PATH = "/share/"


def token_hash(token: str) -> str:
    """What the store keeps of a share token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


HEADERS = {
    "content-security-policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-robots-tag": "noindex",
}
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #1f2937; }
.msg { margin: 1rem 0; padding: .7rem .9rem; border-radius: .6rem; overflow-wrap: anywhere; }
.msg > .md > :first-child { margin-top: 0; } .msg > .md > :last-child { margin-bottom: 0; }
.md pre { background: #e5e7eb; padding: .6rem .8rem; border-radius: .4rem; overflow-x: auto; white-space: pre; }
.md code, .math { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
.md table { border-collapse: collapse; } .md th, .md td { border: 1px solid #d1d5db; padding: .2rem .5rem; }
.math { background: #fef3c7; padding: 0 .2em; border-radius: .2rem; } .math.display { display: block; padding: .4rem; }
.user { background: #eef2ff; } .assistant { background: #f3f4f6; }
.who { font-size: .75rem; font-weight: 600; color: #4b5563; display: block; margin-bottom: .2rem; }
.cl-metrics { font-size: .75rem; color: #4b5563; display: block; margin-top: .3rem; }
.thought { font-size: .85rem; color: #4b5563; margin-bottom: .4rem; white-space: pre-wrap; }
.thumb { max-height: 12rem; max-width: 100%; border-radius: .45rem; display: block; margin-top: .4rem; }
footer { font-size: .8rem; color: #4b5563; margin-top: 2rem; }
"""


def _images_html(token: str, images: Any) -> str:
    """A shared message's images, each through this link's own route (``web.images``); names are escaped."""
    shown = []
    for image in images if isinstance(images, list) else []:
        sha256 = str(image.get("sha256") or "")
        if re.fullmatch(r"[0-9a-f]{64}", sha256):
            name = html.escape(str(image.get("name") or ""), quote=True)
            shown.append(f'<img class="thumb" src="{SHARE_PATH}{token}/images/{sha256}" alt="{name}">')
    return "".join(shown)


def share_page(snapshot: dict[str, Any], token: str = "", language: str = locales.SOURCE) -> str:
    def say(key: str, **values: object) -> str:
        return html.escape(locales.text(key, language, **values))

    title = html.escape(snapshot.get("title") or "") or say("share_title")
    parts = [f"<h1>{title}</h1>"]
    for m in snapshot.get("messages", []):
        role = "user" if m.get("role") == "user" else "assistant"
        metrics = ""
        if role == "assistant" and m.get("metrics"):
            x = m["metrics"]
            metrics = metrics_line(
                time_to_first_token_ms=x.get("time_to_first_token_ms"),
                tokens_per_s=x.get("tokens_per_s"),
                output_tokens=int(x.get("output_tokens") or 0),
                status=str(m.get("status") or "complete"),
                time_to_first_answer_ms=x.get("time_to_first_answer_ms"),
                reasoning_tokens=x.get("reasoning_tokens"),
                language=language,
            )
        thought = ""
        if role == "assistant" and m.get("reasoning"):  # collapsed, escaped: the thinking is text
            thought = (
                f'<details class="thought"><summary>{say("share_thinking")}</summary>'
                f"{html.escape(str(m['reasoning']))}</details>"
            )
        parts.append(
            f'<div class="msg {role}"><span class="who">{say("share_user" if role == "user" else "share_assistant")}'
            f'</span>{thought}<div class="md" dir="auto">{markdown_html(str(m.get("content") or ""))}</div>'
            f"{_images_html(token, m.get('images'))}{metrics}</div>"
        )
    shared_at = str(snapshot.get("shared_at", ""))[:16].replace("T", " ")  # escaped with the sentence
    parts.append(f"<footer>{say('share_footer', when=shared_at)}</footer>")
    direction = "rtl" if language in locales.RIGHT_TO_LEFT else "ltr"
    return (
        f'<!doctype html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def share_routes(store: Store) -> list[Route]:
    async def shared(request: Request) -> Response:
        token = request.path_params["token"]
        snapshot = await asyncio.to_thread(store.load_share, token_hash(token)) if len(token) <= 128 else None
        if snapshot is None:
            return PlainTextResponse("Not found", status_code=404, headers=HEADERS)
        language = locales.negotiate(request.headers.get("accept-language"))
        headers = {**HEADERS, "content-language": language, "vary": "Accept-Language"}
        return HTMLResponse(share_page(snapshot, token, language), headers=headers)

    return [Route(SHARE_PATH + "{token}", shared, methods=["GET"])]
