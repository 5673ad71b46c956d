"""``GET /metrics`` through the running app: counters and histograms move once per finished reply."""

from __future__ import annotations

import time

import httpx
import pytest
from gradio_client import Client
from prometheus_client.parser import text_string_to_metric_families

from storage.schema import Generation, Message
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def reply_to(app: RunningApp, question: str) -> Message:
    [asked] = app.rows(Message, content=question)
    [reply] = app.rows(Message, conversation_id=asked.conversation_id, role="assistant")
    return reply


def test_each_finished_reply_is_counted_once_with_its_timings(app: RunningApp, fake_tgi: FakeTgi) -> None:
    model = (("model", fake_tgi.model_id),)
    before = scrape(app.url)
    client = Client(app.url, verbose=False)
    fake_tgi.next(Behaviour(tokens=40, first_token_delay_s=0.3, token_interval_s=0.01))
    client.predict("count me", api_name="/chat")
    fake_tgi.next(Behaviour(tokens=10, error_after=3))
    with pytest.raises(Exception, match="failed while writing the reply"):
        client.predict("fail me", api_name="/chat")
    after = scrape(app.url)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted({**dict(model), **labels}.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    api = {"source": "gradio_api"}  # the counters' source label: /chat
    assert delta("chatlens_replies_total", status="complete", **api) == 1
    assert delta("chatlens_replies_total", status="error", **api) == 1
    assert delta("chatlens_errors_total", error_type="generation", **api) == 1
    assert delta("chatlens_output_tokens_total", **api) == 40 + 3
    assert delta("chatlens_time_to_first_token_seconds_count") == 2
    # In seconds, and the very times stored: the complete reply's first token came after 0.3 s (not in the 0.25 s
    # bucket), the failing one's at once (how much later under load is the machine's business, not this test's).
    assert delta("chatlens_time_to_first_token_seconds_bucket", le="0.25") == 1
    stored = [g for text in ("count me", "fail me") for g in app.rows(Generation, message_id=reply_to(app, text).id)]
    ttft_s = sum(g.time_to_first_token_ms for g in stored) / 1000
    assert delta("chatlens_time_to_first_token_seconds_sum") == pytest.approx(ttft_s, rel=1e-6)  # stored: 32-bit
    assert delta("chatlens_reply_duration_seconds_count") == 2
    assert delta("chatlens_tokens_per_second_count") == 2
    assert after[("chatlens_streams_active", ())] == 0
    assert after[("chatlens_queue_size", ())] == 0
    assert ("chatlens_db_commit_ms_median", ()) in after


def test_event_loop_tasks_are_counted_and_let_go(
    app: RunningApp, fake_tgi: FakeTgi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leak watch of the soak: tasks alive on the serving loop, back to the idle count once replies end.

    Gradio's SSE stream leaves its heartbeat timer behind when it ends, so "back" takes up to one heartbeat interval:
    1 s here (GRADIO_HEARTBEAT_INTERVAL, read per stream; 15 s by default)."""
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")
    idle = scrape(app.url)[("chatlens_event_loop_tasks", ())]
    client = Client(app.url, verbose=False)
    fake_tgi.next(Behaviour(tokens=60, token_interval_s=0.02))
    job = client.submit("keep streaming", api_name="/chat")
    deadline = time.monotonic() + 10
    while not fake_tgi.streams or fake_tgi.streams[-1].tokens_sent < 5:
        assert time.monotonic() < deadline, "the reply did not start"
        time.sleep(0.02)
    streaming = scrape(app.url)[("chatlens_event_loop_tasks", ())]
    job.result(timeout=30)
    client.close()
    assert idle >= 1 and streaming > idle
    deadline = time.monotonic() + 25
    while (now := scrape(app.url)[("chatlens_event_loop_tasks", ())]) > idle:
        assert time.monotonic() < deadline, f"{now:.0f} tasks alive 25 s after the reply, {idle:.0f} before it"
        time.sleep(0.5)


def test_a_reply_that_thought_counts_its_thinking_apart(app: RunningApp, fake_tgi: FakeTgi) -> None:
    model = (("model", fake_tgi.model_id),)
    before = scrape(app.url)
    behaviour = Behaviour(reply="Yes.", thinking="Let me think it over.", token_interval_s=0.02, finish_reason="stop")
    fake_tgi.next(behaviour)
    Client(app.url, verbose=False).predict("think me", api_name="/chat")
    after = scrape(app.url)

    def delta(name: str) -> float:
        key = (name, model)
        return after.get(key, 0.0) - before.get(key, 0.0)

    [generation] = app.rows(Generation, message_id=reply_to(app, "think me").id)
    assert delta("chatlens_thinking_tokens_total") == len(behaviour.thinking_tokens()) == generation.reasoning_tokens
    assert delta("chatlens_thinking_seconds_count") == 1
    assert delta("chatlens_thinking_seconds_sum") == pytest.approx(generation.thinking_ms / 1000, rel=1e-6)
    assert delta("chatlens_time_to_first_answer_seconds_sum") == pytest.approx(
        generation.time_to_first_answer_ms / 1000, rel=1e-6
    )
    assert delta("chatlens_time_to_first_answer_seconds_sum") > delta("chatlens_time_to_first_token_seconds_sum")
