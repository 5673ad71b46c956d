"""The Model panel in Chromium, and several model servers (MODELS) through the page and the API."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from gradio_client import Client
from playwright.sync_api import Page, expect

from settings import ModelServer
from storage.schema import Conversation
from tests.support.apps import RunningApp, launched_app
from tests.support.browser import open_chat, send
from tests.support.config import make_settings
from tests.support.fake_tgi import FakeTgi
from tests.support.wait import wait_until


def open_model_panel(page: Page) -> None:
    page.locator("#cl-panels .toggle-button").click()
    expect(page.locator("#cl-system textarea")).to_be_visible()


def set_value(page: Page, selector: str, value: str) -> None:
    field = page.locator(selector)
    field.fill(value)
    field.press("Tab")


def choose(page: Page, selector: str, option: str) -> None:
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def stored(page: Page, key: str) -> str | None:
    return page.evaluate("(key) => localStorage.getItem(key)", key)  # type: ignore[no-any-return]


def wait_until_stored(page: Page, key: str, first: str | None, quiet_ms: int = 600, timeout_s: float = 25) -> None:
    """Each change is stored (encrypted) by a round trip: wait until the value differs from ``first`` and settles."""
    deadline = time.monotonic() + timeout_s
    last = first
    while time.monotonic() < deadline:
        page.wait_for_timeout(quiet_ms)
        now = stored(page, key)
        if now == last and now != first:
            return
        last = now
    raise AssertionError(f"{key} was not stored")


def test_each_setting_reaches_the_model_server(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    open_chat(page, app.url)
    open_model_panel(page)
    set_value(page, "#cl-system textarea", "Answer like a pirate.")
    set_value(page, "#cl-temperature input[type=number]", "0.3")
    set_value(page, "#cl-top-p input[type=number]", "0.8")
    set_value(page, "#cl-max-tokens input", "64")
    set_value(page, "#cl-frequency input[type=number]", "0.5")
    set_value(page, "#cl-seed input", "7")
    set_value(page, "#cl-stop-sequences textarea", "END\nSTOP")
    choose(page, "#cl-thinking-switch", "Off")
    choose(page, "#cl-reasoning-effort", "high")
    send(page, "Hello")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    body = fake_tgi.streams[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["frequency_penalty"], body["seed"]) == (
        0.3,
        0.8,
        64,
        0.5,
        7,
    )
    assert body["stop"] == ["END", "STOP"]
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking": False}
    assert body["reasoning_effort"] == "high"


def test_off_values_are_sent_as_absent(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    open_chat(page, app.url)
    open_model_panel(page)
    set_value(page, "#cl-top-p input[type=number]", "1")
    set_value(page, "#cl-frequency input[type=number]", "0")
    send(page, "Hello")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    body = fake_tgi.streams[-1].body
    assert "top_p" not in body and "frequency_penalty" not in body and "seed" not in body
    assert "chat_template_kwargs" not in body and "reasoning_effort" not in body  # thinking left to the server


def test_a_refused_value_shows_its_reason_and_sends_nothing(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    open_chat(page, app.url)
    open_model_panel(page)
    set_value(page, "#cl-max-tokens input", "999999")
    expect(page.locator("#cl-problem-max_tokens")).to_contain_text("at most 4,095 tokens")
    set_value(page, "#cl-stop-sequences textarea", "a\nb\nc\nd\ne")
    expect(page.locator("#cl-problem-stop")).to_contain_text("at most 4 stop sequences")
    box = page.locator("#cl-input textarea")
    box.fill("Will this be sent?")
    box.press("Enter")
    expect(page.get_by_text("at most 4,095 tokens").last).to_be_visible()
    expect(box).to_have_value("Will this be sent?")
    assert fake_tgi.streams == []
    set_value(page, "#cl-max-tokens input", "100")
    expect(page.locator("#cl-problem-max_tokens")).to_have_text("")


def test_presets_apply_and_a_saved_one_survives_a_reload(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    open_chat(page, app.url)
    open_model_panel(page)
    page.locator("#cl-preset input").click()
    page.get_by_role("option", name="Precise").click()
    expect(page.locator("#cl-temperature input[type=number]")).to_have_value("0.2")
    set_value(page, "#cl-temperature input[type=number]", "1.3")
    set_value(page, "#cl-preset-name textarea", "Hot")
    page.locator("#cl-save-preset").click()
    expect(page.locator("#cl-preset input")).to_have_value("Hot")
    page.reload()
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")
    open_model_panel(page)
    page.locator("#cl-preset input").click()
    page.get_by_role("option", name="Balanced").click()
    expect(page.locator("#cl-temperature input[type=number]")).to_have_value("0.7")
    page.locator("#cl-preset input").click()
    page.get_by_role("option", name="Hot").click()
    expect(page.locator("#cl-temperature input[type=number]")).to_have_value("1.3")
    send(page, "Hello")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    assert fake_tgi.streams[-1].body["temperature"] == 1.3


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, FakeTgi, FakeTgi]]:
    alpha = FakeTgi(model_id="org/alpha-7b").start()
    beta = FakeTgi(model_id="org/beta-70b", max_total_tokens=2048, max_input_tokens=2047).start()
    settings = make_settings(
        tmp_path_factory.mktemp("models"),
        models=[
            ModelServer(name="Alpha", url=alpha.url),
            ModelServer(name="Beta", url=beta.url, params={"temperature": 0.1, "max_tokens": 256}),
        ],
        info_ttl_s=0,
    )
    with launched_app(settings) as running:
        yield running, alpha, beta
    alpha.stop()
    beta.stop()


def test_the_model_picker_chooses_the_server_per_conversation(page: Page, two_models) -> None:  # type: ignore[no-untyped-def]
    app, alpha, beta = two_models
    page.goto(app.url)
    expect(page.locator("#cl-header")).to_contain_text("org/alpha-7b")
    open_model_panel(page)
    page.locator("#cl-model input").click()
    page.get_by_role("option", name="Beta").click()
    expect(page.locator("#cl-temperature input[type=number]")).to_have_value("0.1")  # Beta's defaults
    expect(page.locator("#cl-header")).to_contain_text("org/beta-70b")
    send(page, "Which model?")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    # The reply, then the automatic title: both from the conversation's own model server.
    assert wait_until(lambda: len(beta.streams) == 2)
    assert alpha.streams == []
    assert [stream.body["max_tokens"] for stream in beta.streams] == [256, 16]
    conversation = re.search(r"c=([0-9a-f-]{36})", page.url)
    assert conversation is not None
    [row] = app.rows(Conversation, id=uuid.UUID(conversation.group(1)))
    assert row.settings == {"model": "Beta"} and row.model_id == "org/beta-70b"

    page.goto(app.url)  # a new page starts on the first model …
    expect(page.locator("#cl-header")).to_contain_text("org/alpha-7b")
    page.goto(page.url + f"?c={conversation.group(1)}")  # … and the conversation reopens on its own
    open_model_panel(page)
    expect(page.locator("#cl-model input")).to_have_value("Beta")


def test_the_api_picks_a_model_by_name(two_models) -> None:  # type: ignore[no-untyped-def]
    app, alpha, beta = two_models
    client = Client(app.url, verbose=False)
    before = len(alpha.streams), len(beta.streams)
    client.predict("hi", "", None, None, 99_999, None, "Beta", api_name="/chat")
    assert wait_until(lambda: len(beta.streams) == before[1] + 2)  # the reply and the new chat's title
    assert len(alpha.streams) == before[0]
    # Clamped to Beta's window (2,048 tokens), less the prompt's room.
    assert 2000 < beta.streams[before[1]].body["max_tokens"] < 2047


def test_settings_survive_a_reload(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    open_chat(page, app.url)
    open_model_panel(page)
    before = stored(page, "chatlens-generation")
    set_value(page, "#cl-system textarea", "Be brief.")
    set_value(page, "#cl-temperature input[type=number]", "0.45")
    set_value(page, "#cl-max-tokens input", "77")
    wait_until_stored(page, "chatlens-generation", before)
    page.reload()
    open_chat(page, page.url)
    open_model_panel(page)
    expect(page.locator("#cl-system textarea")).to_have_value("Be brief.")
    expect(page.locator("#cl-temperature input[type=number]")).to_have_value("0.45")
    send(page, "Hello")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    body = fake_tgi.streams[-1].body
    assert (body["temperature"], body["max_tokens"], body["messages"][0]["content"]) == (0.45, 77, "Be brief.")
