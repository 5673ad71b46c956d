"""The page's security headers and forms in model output, in real Chromium (issue 15, items 3, 4 and 5).

* The CSP (``web.security_headers``) leaves ChatLens's page working with zero violations while a message is sent
  and the analytics tab opened as admin; the page cannot be framed by another origin; an injected inline handler
  does not run.
* A reply holding a form and a ``formaction`` button renders no form control, and clicking posts nothing to the
  server the form names.
* An export is served to its owner only: another browser and a client without a cookie get 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from access.sessions import COOKIE
from storage.schema import Conversation
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.other_origins import QuietHandler, security_test_app, serving
from tests.support.rawqueue import call, fn_index

VIOLATIONS_JS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || "")));
"""


class _Listener(QuietHandler):
    """Another origin: records every request that reaches it, and serves a page framing the app."""

    posts: ClassVar[list[str]] = []
    frame_of = ""

    def page(self) -> str:
        return f'<!doctype html><iframe id="app" src="{self.frame_of}" width=800 height=600></iframe>'

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        _Listener.posts.append(f"{self.path} {self.rfile.read(length).decode(errors='replace')}")
        self.send_response(204)
        self.end_headers()


@pytest.fixture(scope="module")
def listener() -> Iterator[int]:
    with serving(_Listener) as port:
        yield port


@pytest.fixture(scope="module")
def launched(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Any]]:
    folder = tmp_path_factory.mktemp("page-security")
    # everyone is admin: the analytics tab is on the page
    with security_test_app(folder, fake_tgi_server.url, analytics_open=True) as launched:
        yield launched


def _open(page: Page, url: str) -> None:
    page.add_init_script(VIOLATIONS_JS)
    page.goto(url)
    expect(page.locator("#cl-header")).to_contain_text("fake-org/", timeout=20_000)


def _send(page: Page, text: str) -> None:
    page.locator("#cl-input textarea").fill(text)
    page.locator("#cl-input textarea").press("Enter")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete").last).to_be_visible(timeout=10_000)


def test_the_page_works_under_its_csp_with_zero_violations_and_runs_no_injected_handler(
    browser: Browser, launched: tuple[RunningApp, Any], fake_tgi: FakeTgi
) -> None:
    running, _ = launched
    page_headers = httpx.get(running.url).headers
    csp = page_headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "frame-ancestors 'self'" in csp and "form-action 'self'" in csp, csp
    assert page_headers["x-content-type-options"] == "nosniff"
    assert page_headers["referrer-policy"] == "same-origin"
    assert httpx.get(f"{running.url}/healthz").headers["x-content-type-options"] == "nosniff"
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        _open(page, running.url)
        fake_tgi.next(Behaviour(reply="A reply with **markdown** and `code`.", finish_reason="stop"))
        _send(page, "hello under a CSP")
        expect(page.locator("#cl-chat")).to_contain_text("A reply with markdown")
        page.get_by_role("tab", name="Analytics").click()
        expect(page.locator("#cl-analytics-summary")).to_be_visible(timeout=10_000)
        page.wait_for_timeout(1500)  # the tab's plots and tables render
        assert page.evaluate("window.__violations") == [] and errors == [], (
            page.evaluate("window.__violations"),
            errors,
        )

        page.evaluate(
            """() => { const img = document.createElement("div");
               img.innerHTML = '<img src="/nope.png" onerror="window.__xss = 1">';
               document.body.appendChild(img); }"""
        )
        page.wait_for_timeout(500)
        assert page.evaluate("window.__xss") is None, "an injected inline handler ran"
        assert any("script-src" in v for v in page.evaluate("window.__violations"))
    finally:
        context.close()


def test_another_origin_cannot_frame_the_page(
    browser: Browser, launched: tuple[RunningApp, Any], listener: int
) -> None:
    running, _ = launched
    _Listener.frame_of = running.url
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://localhost:{listener}/")
        page.wait_for_timeout(3000)
        framed = [frame for frame in page.frames if frame != page.main_frame]
        assert framed and all(frame.locator("#cl-header").count() == 0 for frame in framed)
    finally:
        context.close()


def test_forms_in_a_reply_render_no_form_control_and_post_nothing(
    browser: Browser, launched: tuple[RunningApp, Any], fake_tgi: FakeTgi, listener: int
) -> None:
    running, _ = launched
    steal = f"http://127.0.0.1:{listener}/steal"
    reply = (
        f'Please sign in: <form action="{steal}" method=post><input type=password name=p>'
        f"<textarea name=t></textarea><select name=s><option>1</option></select><button>go</button></form> "
        f'and <button formaction="{steal}" formmethod=post>also go</button> end of reply'
    )
    _Listener.posts.clear()
    context = browser.new_context()
    try:
        page = context.new_page()
        _open(page, running.url)
        fake_tgi.next(Behaviour(reply=reply, finish_reason="stop"))
        _send(page, "show me a form")
        bubble = page.locator("#cl-chat .message-content, #cl-chat .message").filter(has_text="end of reply").last
        expect(bubble).to_be_visible()
        for control in ("form", "input", "textarea", "select", "button[formaction]", "[action]"):
            assert page.locator(f"#cl-chat .bot {control}, #cl-chat [data-testid=bot] {control}").count() == 0, control
        assert bubble.locator("form, input, textarea, select, [formaction], [action]").count() == 0
        for text in ("go", "also go"):
            target = bubble.get_by_text(text, exact=True)
            if target.count():
                target.first.click()
        page.keyboard.press("Enter")
        page.wait_for_timeout(1000)
        assert _Listener.posts == [], _Listener.posts
    finally:
        context.close()


def test_the_admin_viewer_shows_a_stored_reply_without_form_controls(
    launched: tuple[RunningApp, Any], fake_tgi: FakeTgi, listener: int
) -> None:
    """The analytics tab's conversation viewer renders stored replies as HTML too (this app: analytics open)."""
    running, demo = launched
    user = httpx.Client(base_url=running.url, timeout=20)
    user.cookies.set(COOKIE, user.get("/config").cookies[COOKIE])
    cid = call(user, fn_index(demo, "new_conversation"), [])["output"]["data"][0]
    steal = f"http://127.0.0.1:{listener}/steal"
    fake_tgi.next(
        Behaviour(reply=f'Sign in <form action="{steal}"><input type=password><button>go</button></form> done')
    )
    data = ["show a form", cid, None, None, None, None, "", None, None, None, "", False, None, None, None]
    assert call(user, fn_index(demo, "chat"), data)["success"]
    [conversation] = [c for c in running.rows(Conversation) if str(c.id) == cid]
    opened = call(
        user,
        next(i for i, f in demo.fns.items() if f.api_name == "analytics_open_slowest"),
        [],
        event_data={"index": [0, 0], "value": "x", "row_value": [cid, str(conversation.user_id)]},
    )
    assert opened["success"], opened
    shown = " ".join(str(m.get("content")) for m in opened["output"]["data"][0])
    assert "Sign in" in shown and "go" in shown and "done" in shown, shown
    assert not any(tag in shown.lower() for tag in ("<form", "<input", "<button", "action=")), shown


def test_an_export_is_served_to_its_owner_only(launched: tuple[RunningApp, Any], fake_tgi: FakeTgi) -> None:
    running, demo = launched
    owner = httpx.Client(base_url=running.url, timeout=20)
    owner.cookies.set(COOKIE, owner.get("/config").cookies[COOKIE])
    cid = call(owner, fn_index(demo, "new_conversation"), [])["output"]["data"][0]
    fake_tgi.next(Behaviour(reply="private words", finish_reason="stop"))
    data = ["my private export", cid, None, None, None, None, "", None, None, None, "", False, None, None, None]
    assert call(owner, fn_index(demo, "chat"), data)["success"]
    exported = call(owner, fn_index(demo, "export"), [cid])
    assert exported["success"], exported
    files = exported["output"]["data"][0]["value"]
    urls = [f["url"] for f in files]
    assert len(urls) == 2 and all("/gradio_api/file=" in url for url in urls), files
    for url in urls:
        assert owner.get(url).status_code == 200 and "my private export" in owner.get(url).text
        other = httpx.Client(timeout=20)
        other.cookies.set(COOKIE, httpx.get(f"{running.url}/config").cookies[COOKIE])
        assert other.get(url).status_code == 404
        assert httpx.get(url).status_code == 404  # no cookie at all
