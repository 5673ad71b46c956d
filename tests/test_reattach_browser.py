"""Reattach (issue 20) in Chromium: a reply keeps streaming through a reload and the reloaded page follows it to
its end; the same conversation opened in a second tab shows it live, and Stop there stops it in both tabs."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from storage.schema import Message
from tests.support.apps import RunningApp
from tests.support.browser import conversation_of, open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until

# 12 s of reply: a reload on a loaded machine (up to ~5 s) still lands mid-reply.
LONG = Behaviour(tokens=600, token_interval_s=0.02, first_token_delay_s=0.1)


def test_a_reload_mid_reply_shows_the_text_so_far_and_follows_it_to_its_end(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(LONG)
    open_chat(page, app.url)
    send(page, "Tell me a long story")
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("w20", timeout=10_000)
    cid = conversation_of(page)
    page.reload()
    expect(chat).to_contain_text("Tell me a long story", timeout=10_000)
    expect(chat).to_contain_text("w300", timeout=10_000)  # followed live after the reload
    expect(page.locator("#cl-stop")).to_be_visible()
    expect(chat.locator(".cl-metrics")).to_have_count(1, timeout=20_000)
    expect(chat).to_contain_text("w599")
    expect(page.locator("#cl-send")).to_be_visible()
    [stream] = fake_tgi.wait_for_streams(1)
    assert not stream.client_closed and stream.tokens_sent == 600, "the reload stopped the reply"
    [reply] = app.rows(Message, conversation_id=cid, role="assistant")
    assert reply.status == "complete" and reply.content.endswith("w599")


def test_a_second_tab_follows_the_reply_live_and_stop_there_stops_it_in_both(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=2000, token_interval_s=0.02, first_token_delay_s=0.1))
    open_chat(page, app.url)
    send(page, "Count for a long time")
    expect(page.locator("#cl-chat")).to_contain_text("w10", timeout=10_000)
    cid = conversation_of(page)
    second = page.context.new_page()  # the same browser: the same user
    second.goto(f"{app.url}/?c={cid}")
    other = second.locator("#cl-chat")
    expect(other).to_contain_text("Count for a long time", timeout=10_000)
    expect(other).to_contain_text("w80", timeout=10_000)
    expect(second.locator("#cl-stop")).to_be_visible()
    second.locator("#cl-stop").click()
    expect(other.locator(".cl-metrics.cl-stopped")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-chat .cl-metrics.cl-stopped")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()
    [stream] = fake_tgi.wait_for_streams(1)
    assert wait_until(lambda: stream.client_closed, timeout_s=5) and stream.tokens_sent < 2000
    [reply] = app.rows(Message, conversation_id=cid, role="assistant")
    assert reply.status == "stopped"
    second.close()
