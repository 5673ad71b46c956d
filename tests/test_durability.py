"""What survives a closed tab (issue #9): the partial reply is saved with its status and metrics."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from storage.schema import Generation, Message
from tests.support.apps import RunningApp
from tests.support.browser import conversation_of, open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until


def test_a_tab_closed_mid_stream_leaves_the_partial_reply_saved(
    browser: Browser, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=2000, token_interval_s=0.01))
    context = browser.new_context()
    page = context.new_page()
    open_chat(page, app.url)
    send(page, "a long one, then I leave")
    expect(page.locator("#cl-chat")).to_contain_text("w30", timeout=10_000)
    cid = conversation_of(page)
    context.close()

    [stream] = fake_tgi.wait_for_streams(1)
    assert wait_until(lambda: stream.ended.is_set(), timeout_s=30)
    assert stream.client_closed and stream.tokens_sent < 2000  # nobody is watching: the GPU stops too
    assert wait_until(lambda: app.count(Message, conversation_id=cid, role="assistant") == 1, timeout_s=30)
    [reply] = app.rows(Message, conversation_id=cid, role="assistant")
    [generation] = app.rows(Generation, message_id=reply.id)
    assert reply.status == "stopped" and reply.content.startswith("w0 w1 w2")
    assert generation.status == "stopped" and generation.time_to_first_token_ms is not None
    assert 30 <= generation.output_tokens < 2000
