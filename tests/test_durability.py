"""What survives a closed tab (issues 9 and 20): the reply goes on streaming with nobody watching and is saved, whole,
with its status and metrics (reattach; a reply nobody follows is stopped only after ``REPLY_KEEP_UNWATCHED_S``)."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from storage.schema import Generation, Message
from tests.support.apps import RunningApp
from tests.support.browser import conversation_of, open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until


def test_a_tab_closed_mid_stream_leaves_the_reply_streaming_and_saved_whole(
    browser: Browser, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=600, token_interval_s=0.01))
    context = browser.new_context()
    page = context.new_page()
    open_chat(page, app.url)
    send(page, "a long one, then I leave")
    expect(page.locator("#cl-chat")).to_contain_text("w30", timeout=10_000)
    cid = conversation_of(page)
    context.close()

    [stream] = fake_tgi.wait_for_streams(1)
    assert wait_until(lambda: stream.ended.is_set(), timeout_s=30)
    assert not stream.client_closed and stream.tokens_sent == 600  # the closed tab did not stop it
    assert wait_until(lambda: app.count(Message, conversation_id=cid, role="assistant") == 1, timeout_s=30)
    [reply] = app.rows(Message, conversation_id=cid, role="assistant")
    [generation] = app.rows(Generation, message_id=reply.id)
    assert reply.status == "complete" and reply.content.startswith("w0 w1 w2") and "w599" in reply.content
    assert generation.status == "complete" and generation.time_to_first_token_ms is not None
    assert generation.output_tokens == 600
