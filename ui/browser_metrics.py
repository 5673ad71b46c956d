"""The page script that measures what the user's browser saw and reports it to ChatLens (``web.browser_beacon``).

Per reply sent with Send or Enter: the time from that press to the first token *painted* (the reply's text first
non-empty on the page, taken after the next frame is painted: ``requestAnimationFrame`` then a task), to the last
token painted, the frames painted from first to last (``requestAnimationFrame``) and those longer than 50 ms, and
the tab's JS heap where the browser exposes it (``performance.memory``, Chromium). The reply ends when its metrics
line appears; that line names the reply (``cl-reply-<assistant message id>``), and one small report goes to
``browser/reply`` with ``navigator.sendBeacon`` (same origin, the session cookie: the server checks that the sender
owns that reply). JavaScript errors and unhandled rejections go to ``browser/error`` (message, stack, ChatLens
version, the page's path — never its query, which names a conversation), at most ``MAX_ERRORS`` per page load.

Off with ``BROWSER_METRICS=false``: the script is not in the page.
"""

from __future__ import annotations

import importlib.metadata
import json

MAX_ERRORS = 20

_SCRIPT = """
<script>
(() => {
  const VERSION = __VERSION__, MAX_ERRORS = __MAX_ERRORS__, LONG_FRAME_MS = 50, GIVE_UP_MS = 600000;
  const post = (path, data) => {
    const url = new URL(path, window.location.href).href, body = JSON.stringify(data);
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) { /* fall back to fetch */ }
    fetch(url, { method: 'POST', body, keepalive: true, credentials: 'same-origin' }).catch(() => {});
  };
  // Errors and unhandled rejections: what, where, which version. Counted on the server (same error: one row).
  let errorsLeft = MAX_ERRORS;
  const report = (kind, message, stack) => {
    if (errorsLeft <= 0) return;
    errorsLeft -= 1;
    post('browser/error', {
      kind, message: (String(message || '') || 'unknown').slice(0, 1000), stack: String(stack || '').slice(0, 8000),
      version: VERSION, page: (window.location.pathname || '/').slice(0, 500),
    });
  };
  window.addEventListener('error', (e) => report('error', e.message, e.error && e.error.stack));
  window.addEventListener('unhandledrejection', (e) => {
    const r = e.reason;
    report('rejection', r && r.message ? r.message : String(r), r && r.stack);
  });
  // One reply at a time, from the press of Send (or Enter) to its metrics line.
  let run = null;
  const messages = () => [...document.querySelectorAll('#cl-chat [data-testid="user"], #cl-chat [data-testid="bot"]')];
  const userCount = () => messages().filter((m) => m.dataset.testid === 'user').length;
  // The reply so far: the bot messages after the last user message (its thinking, its answer, its metrics line).
  const reply = () => {
    const all = messages();
    let i = all.length;
    while (i > 0 && all[i - 1].dataset.testid === 'bot') i -= 1;
    const bots = all.slice(i);
    const line = bots.map((m) => m.querySelector('.cl-metrics[class*="cl-reply-"]')).find(Boolean);
    const text = bots.filter((m) => !m.querySelector('.cl-metrics')).map((m) => m.textContent || '').join('').trim();
    return { text, line };
  };
  const afterPaint = (then) => requestAnimationFrame(() => setTimeout(() => then(performance.now()), 0));
  const countFrames = (r) => {
    const step = (t) => {
      if (run !== r || r.ended) return;
      if (r.lastFrame !== null && t - r.lastFrame > LONG_FRAME_MS) r.longFrames += 1;
      if (r.firstFrame === null) r.firstFrame = t;
      r.lastFrame = t;
      r.frames += 1;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  };
  const start = () => {
    run = { t0: performance.now(), users: userCount(), text: null, first: null, last: null,
            frames: 0, longFrames: 0, firstFrame: null, lastFrame: null, ending: false, ended: false };
  };
  const finish = (r, line) => {
    if (r.ended) return;
    r.ended = true;
    if (run === r) run = null;
    const id = [...line.classList].find((c) => c.startsWith('cl-reply-'));
    if (!id || r.first === null) return;  // nothing was painted: nothing was felt
    const span = r.lastFrame !== null && r.firstFrame !== null ? r.lastFrame - r.firstFrame : 0;
    const heap = performance.memory ? performance.memory.usedJSHeapSize : null;
    post('browser/reply', {
      reply: id.slice('cl-reply-'.length), ttft_ms: r.first - r.t0, last_token_ms: (r.last ?? r.first) - r.t0,
      frames: r.frames, long_frames: r.longFrames, fps: span > 0 ? (r.frames - 1) * 1000 / span : null,
      heap_bytes: Number.isSafeInteger(heap) ? heap : null,
    });
  };
  const look = () => {
    const r = run;
    if (!r || r.ended) return;
    if (performance.now() - r.t0 > GIVE_UP_MS) { run = null; return; }
    if (userCount() <= r.users) return;  // the new message is not on the page yet
    const { text, line } = reply();
    if (text && text !== r.text) {
      r.text = text;
      afterPaint((t) => {
        if (r.first === null) { r.first = t; countFrames(r); }
        r.last = t;
      });
    }
    if (line && !r.ending) {
      r.ending = true;
      afterPaint(() => setTimeout(() => finish(r, line), 0));  // after the last text's own mark
    }
  };
  document.addEventListener('click', (e) => { if (e.target.closest && e.target.closest('#cl-send')) start(); }, true);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.target.closest && e.target.closest('#cl-input')) {
      start();
    }
  }, true);
  new MutationObserver(look).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
})();
</script>
"""


def chatlens_version() -> str:
    try:
        return importlib.metadata.version("chatlens")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def head(version: str | None = None) -> str:
    """The script for the page's ``<head>``."""
    return _SCRIPT.replace("__VERSION__", json.dumps(version or chatlens_version())).replace(
        "__MAX_ERRORS__", str(MAX_ERRORS)
    )
