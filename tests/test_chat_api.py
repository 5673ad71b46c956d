"""The launched app driven over HTTP with gradio_client, against the fake TGI, recorded in a real DuckDB file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gradio_client import Client
from sqlalchemy import event

from storage.schema import Conversation, Generation, Message
from tests.support.apps import RunningApp, launched_app
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Client:
    return Client(app.url, verbose=False)


def test_reply_streams_in_several_updates_and_ends_exact(client: Client, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=40, token_interval_s=0.02))
    conversation_id = client.predict(api_name="/new_conversation")
    job = client.submit("Hello there", conversation_id, api_name="/chat")
    final = job.result(timeout=30)
    updates = job.outputs()
    expected = "".join(Behaviour(tokens=40).reply_tokens())
    assert final == expected
    assert len(updates) >= 3, updates
    assert all(expected.startswith(u) for u in updates)

    messages = app.rows(Message, conversation_id=_uuid(conversation_id))
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "Hello there", "complete"),
        ("assistant", expected, "complete"),
    ]
    [generation] = app.rows(Generation, message_id=messages[1].id)
    assert generation.status == "complete"
    assert generation.output_tokens == 40
    assert generation.finish_reason == "length"
    assert 0 < generation.time_to_first_token_ms < 2000
    assert generation.tokens_per_s is not None and generation.tokens_per_s > 0  # exact: tests/test_service.py
    assert generation.model_id == fake_tgi.model_id
    assert generation.duration_ms >= generation.time_to_first_token_ms
    assert (generation.source, generation.token_id) == ("gradio_api", None)


def test_conversation_history_is_sent_to_the_model(client: Client, fake_tgi: FakeTgi) -> None:
    conversation_id = client.predict(api_name="/new_conversation")
    client.predict("first question", conversation_id, api_name="/chat")
    client.predict("second question", conversation_id, api_name="/chat")
    sent = fake_tgi.streams[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "first question" and sent[2]["content"] == "second question"
    assert fake_tgi.streams[-1].body["model"] == "tgi"
    assert fake_tgi.streams[-1].body["stream_options"] == {"include_usage": True}


def test_user_message_is_committed_before_the_reply_is_shown(
    client: Client, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    """The question is durable before the caller sees the reply's first token. The request to the model may leave
    while it commits (``ChatService(early_start=True)``): here the model answers at once while every commit takes a
    second (a slow disk), and the store is read the moment the first text arrives, while the reply still streams."""
    fake_tgi.next(Behaviour(tokens=20, first_token_delay_s=0.0, token_interval_s=0.1))
    conversation_id = client.predict(api_name="/new_conversation")
    engine = app.chatlens.store.engine

    def slow_disk(connection: Any) -> None:
        time.sleep(1.0)

    event.listen(engine, "commit", slow_disk)
    try:
        job = client.submit("is it saved yet?", conversation_id, api_name="/chat")
        assert wait_until(lambda: any(str(output).strip() for output in job.outputs())), "no reply text arrived"
        with app.chatlens.store.sessions() as session:
            saved = session.query(Message).filter_by(conversation_id=_uuid(conversation_id), role="user").all()
        streaming = not job.done()
    finally:
        event.remove(engine, "commit", slow_disk)
    assert [m.content for m in saved] == ["is it saved yet?"]
    assert streaming, "the reply had ended before the store was read: this checked nothing"
    job.result(timeout=10)


def test_stop_closes_the_upstream_stream_and_keeps_the_partial_reply(
    client: Client, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=500, token_interval_s=0.01))
    conversation_id = client.predict(api_name="/new_conversation")
    job = client.submit("write a lot", conversation_id, api_name="/chat")
    assert wait_until(lambda: len(job.outputs()) >= 2)
    job.cancel()
    [stream] = fake_tgi.wait_for_streams(1, timeout_s=10)
    assert stream.client_closed, "the upstream HTTP stream was not closed"
    assert 0 < stream.tokens_sent < 500

    assert wait_until(lambda: len(app.rows(Message, conversation_id=_uuid(conversation_id))) == 2)
    messages = app.rows(Message, conversation_id=_uuid(conversation_id))
    _user, reply = messages
    assert reply.status == "stopped"
    assert reply.content and "".join(Behaviour(tokens=500).reply_tokens()).startswith(reply.content)
    [generation] = app.rows(Generation, message_id=reply.id)
    assert generation.status == "stopped"
    assert (
        generation.output_tokens == len(Behaviour(reply=reply.content).reply_tokens()) or generation.output_tokens > 0
    )


@pytest.mark.parametrize(
    ("behaviour", "message_part", "error_type"),
    [
        (Behaviour(http_status=429), "overloaded", "overloaded"),
        (Behaviour(http_status=503, http_error="unhealthy", http_error_type="healthcheck"), "not ready", "unavailable"),
        (
            Behaviour(http_status=422, http_error="Template error: bad", http_error_type="template_error"),
            "rejected the request",
            "validation",
        ),
        (Behaviour(tokens=10, error_after=3), "failed while writing the reply", "generation"),
        (Behaviour(tokens=10, truncate_after=4), "ended the reply early", "incomplete"),
    ],
)
def test_model_server_errors_give_a_clear_message_and_keep_the_users_text(
    client: Client, app: RunningApp, fake_tgi: FakeTgi, behaviour: Behaviour, message_part: str, error_type: str
) -> None:
    fake_tgi.next(behaviour)
    conversation_id = client.predict(api_name="/new_conversation")
    with pytest.raises(Exception, match=message_part):
        client.predict("please answer", conversation_id, api_name="/chat")
    messages = app.rows(Message, conversation_id=_uuid(conversation_id))
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "error")]
    assert messages[0].content == "please answer"
    [generation] = app.rows(Generation, message_id=messages[1].id)
    assert generation.error_type == error_type
    # the server keeps serving
    assert client.predict("still there?", api_name="/chat") == "".join(Behaviour().reply_tokens())


def test_partial_text_before_an_in_stream_error_is_kept(client: Client, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=10, error_after=3))
    conversation_id = client.predict(api_name="/new_conversation")
    with pytest.raises(Exception, match="failed while writing"):
        client.predict("go", conversation_id, api_name="/chat")
    reply = app.rows(Message, conversation_id=_uuid(conversation_id))[1]
    assert (reply.content, reply.status) == ("w0 w1 w2", "error")


def test_an_oversized_reply_is_cut_off_saved_and_the_stream_closed(
    client: Client, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=4000, token_interval_s=0.001))  # ~23 KB against the test app's 10,000-character cap
    with pytest.raises(Exception, match="oversized reply; it was cut off and saved"):
        client.predict("flood me", "", None, None, 4000, api_name="/chat")
    [stream] = fake_tgi.wait_for_streams(1)
    assert stream.client_closed and stream.tokens_sent < 4000
    [question] = app.rows(Message, content="flood me")
    [reply] = app.rows(Message, conversation_id=question.conversation_id, role="assistant")
    assert reply.status == "error" and 10_000 <= len(reply.content) < 10_100
    [generation] = app.rows(Generation, message_id=reply.id)
    assert generation.error_type == "reply_too_large"
    assert client.predict("still there?", api_name="/chat").startswith("w0")  # the server keeps serving


def test_out_of_range_parameters_are_clamped_through_the_api(client: Client, fake_tgi: FakeTgi) -> None:
    reply = client.predict("hi", "", 0.5, 1.5, 99_999, None, "", None, 7.0, api_name="/chat")
    assert reply.startswith("w0 w1")
    body = fake_tgi.streams[-1].body
    assert "top_p" not in body  # 1.5 → 1 → off
    # Clamped below max_total_tokens (4096), then lowered so that the prompt still fits beside the reply.
    assert 4000 < body["max_tokens"] < 4095
    assert body["frequency_penalty"] == 2.0
    assert body["temperature"] == 0.5


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("hi", "", -1.0), "Temperature can't be negative"),
        (("hi", "", None, None, None, None, "", None, None, ["a", "b", "c", "d", "e"]), "at most 4 stop sequences"),
        (("hi", "", None, None, None, None, "no-such-model"), "no model named 'no-such-model'"),
    ],
)
def test_parameters_without_a_sensible_nearest_value_are_refused(
    client: Client, fake_tgi: FakeTgi, args: tuple[object, ...], reason: str
) -> None:
    with pytest.raises(Exception, match=reason):
        client.predict(*args, api_name="/chat")
    assert fake_tgi.streams == []


def test_system_prompt_and_settings_reach_the_model_server(client: Client, fake_tgi: FakeTgi) -> None:
    client.predict("hi", "", 0.0, 0.9, 12, 42, "", "Answer in French.", None, ["END"], api_name="/chat")
    body = fake_tgi.streams[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["stop"]) == (
        0.0,
        0.9,
        12,
        42,
        ["END"],
    )


def test_empty_message_is_refused_without_calling_the_model(client: Client, fake_tgi: FakeTgi) -> None:
    with pytest.raises(Exception, match="Type a message"):
        client.predict("   ", api_name="/chat")
    assert fake_tgi.streams == []


def test_huge_message_is_refused_before_anything_is_sent(client: Client, app: RunningApp, fake_tgi: FakeTgi) -> None:
    conversation_id = client.predict(api_name="/new_conversation")
    with pytest.raises(Exception, match="200,000 characters"):
        client.predict("x" * 200_000, conversation_id, api_name="/chat")
    assert fake_tgi.streams == []
    assert app.rows(Conversation, id=_uuid(conversation_id)) == []


def test_unusual_unicode_and_html_are_stored_exactly(client: Client, app: RunningApp, fake_tgi: FakeTgi) -> None:
    text = "Zeichen: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 👩‍👩‍👧 ‮RTL‬ \u200b <b>bold</b> <script>alert(1)</script> \x07 \\n 'quote\" 日本語"
    reply = "Sure: <img src=x onerror=alert(1)> and 𝔘𝔫𝔦 👩‍👩‍👧 <script>x</script>"
    fake_tgi.next(Behaviour(reply=reply, finish_reason="stop"))
    conversation_id = client.predict(api_name="/new_conversation")
    assert client.predict(text, conversation_id, api_name="/chat") == reply
    messages = app.rows(Message, conversation_id=_uuid(conversation_id))
    assert [m.content for m in messages] == [text, reply]
    assert fake_tgi.streams[-1].body["messages"][-1]["content"] == text


def test_model_server_down_gives_a_clear_message(app: RunningApp, client: Client) -> None:
    generator = app.chatlens.generators["default"]
    original = generator.base_url
    generator.base_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    try:
        with pytest.raises(Exception, match="cannot be reached"):
            client.predict("anyone?", api_name="/chat")
    finally:
        generator.base_url = original
    health = httpx.get(f"{app.url}/healthz").json()
    assert health["database"] == "ok" and health["model_server"] == "ok"


def test_healthz_reports_model_server_and_database(app: RunningApp, fake_tgi: FakeTgi) -> None:
    assert httpx.get(f"{app.url}/healthz").json() == {
        "status": "ok",
        "app": "ok",
        "database": "ok",
        "model_server": "ok",
        "streams_active": 0,
    }
    fake_tgi.healthy = False
    assert httpx.get(f"{app.url}/healthz").json()["model_server"] == "unreachable"


def test_only_the_documented_endpoints_are_public(app: RunningApp, client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/chat", "/new_conversation"]
    assert httpx.post(f"{app.url}/gradio_api/run/chat", json={"data": ["hi"]}).status_code == 404
    assert "chatlens_streams_active" in httpx.get(f"{app.url}/metrics").text
    for monitoring in ("/monitoring", "/monitoring/summary", "/gradio_api/monitoring/summary"):
        assert httpx.get(f"{app.url}{monitoring}").status_code in (403, 404), monitoring


def _uuid(value: str):  # type: ignore[no-untyped-def]
    import uuid

    return uuid.UUID(value)


@pytest.fixture(scope="module")
def unconfigured_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    from tests.support.config import make_settings

    with launched_app(make_settings(tmp_path_factory.mktemp("unconfigured"), tgi_url=None)) as running:
        yield running


def test_without_a_model_server_the_page_opens_and_says_how_to_configure_one(unconfigured_app: RunningApp) -> None:
    page = httpx.get(unconfigured_app.url)
    assert page.status_code == 200
    assert "TGI_URL" in httpx.get(f"{unconfigured_app.url}/config").text
    with pytest.raises(Exception, match=r"No model server is configured\. Set TGI_URL"):
        Client(unconfigured_app.url, verbose=False).predict("hello", api_name="/chat")
    assert httpx.get(f"{unconfigured_app.url}/healthz").json()["model_server"] == "not configured"
    assert unconfigured_app.rows(Message) == []
