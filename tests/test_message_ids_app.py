"""Client message ids through the launched app: ``/chat`` with ``message_id``, over gradio_client and the raw queue,
against the fake TGI, checked in the app's DuckDB file."""

from __future__ import annotations

import concurrent.futures
import uuid

import httpx
import pytest
from gradio_client import Client

from storage.schema import Conversation, Generation, Message
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.rawqueue import call


def chat(client: Client, message: str, message_id: str, conversation_id: str = "") -> str:
    """``/chat`` with every optional argument left unset but the message id (the last one)."""
    reply: str = client.predict(
        message, conversation_id, None, None, None, None, "", None, None, None, message_id, api_name="/chat"
    )
    return reply


def user_rows(app: RunningApp, message_id: str) -> list[Message]:
    return app.rows(Message, id=uuid.UUID(message_id))


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (Behaviour(http_status=503, http_error="unhealthy", http_error_type="healthcheck"), "not ready"),
        (Behaviour(tokens=10, error_after=3), "failed while writing"),  # in-stream, after a partial reply
    ],
    ids=["503", "in-stream-error"],
)
def test_a_send_retried_after_an_error_is_stored_once_and_a_third_send_is_answered_from_the_store(
    app: RunningApp, fake_tgi: FakeTgi, failure: Behaviour, says: str
) -> None:
    client = Client(app.url, verbose=False)
    mid = str(uuid.uuid4())
    fake_tgi.next(failure)
    with pytest.raises(Exception, match=says):
        chat(client, "are you there?", mid)
    fake_tgi.next(Behaviour(reply="Yes, here.", finish_reason="stop"))
    assert chat(client, "are you there?", mid) == "Yes, here."
    calls = len(fake_tgi.streams)

    [question] = user_rows(app, mid)
    assert (question.role, question.content) == ("user", "are you there?")
    messages = app.rows(Message, conversation_id=question.conversation_id)
    assert [(m.role, m.status, m.superseded_at is None) for m in messages] == [
        ("user", "complete", True),
        ("assistant", "error", False),  # the failed reply: kept with its metrics, no longer shown
        ("assistant", "complete", True),
    ]
    assert app.count(Generation, conversation_id=question.conversation_id) == 2

    assert chat(client, "are you there?", mid) == "Yes, here."  # the stored reply: no model call
    assert len(fake_tgi.streams) == calls
    assert app.count(Message, conversation_id=question.conversation_id) == 3


def test_another_users_send_with_a_taken_id_is_refused_and_writes_nothing(app: RunningApp, fake_tgi: FakeTgi) -> None:
    owner, stranger = Client(app.url, verbose=False), Client(app.url, verbose=False)
    mid = str(uuid.uuid4())
    chat(owner, "my private question", mid)
    before = [app.count(model) for model in (Conversation, Message, Generation)]
    calls = len(fake_tgi.streams)
    for text in ("my private question", "something else"):
        with pytest.raises(Exception, match="That message id is already used") as refused:
            chat(stranger, text, mid)
        assert "private" not in str(refused.value)
    assert [app.count(model) for model in (Conversation, Message, Generation)] == before
    assert len(fake_tgi.streams) == calls


def test_an_invalid_message_id_is_refused_before_anything_is_stored(app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = Client(app.url, verbose=False)
    before = app.count(Message)
    with pytest.raises(Exception, match="message_id must be a UUID"):
        chat(client, "hello", "not-a-uuid")
    assert app.count(Message) == before


def test_two_simultaneous_sends_with_one_id_store_one_message(app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = Client(app.url, verbose=False)
    mid = str(uuid.uuid4())
    fake_tgi.default = Behaviour(tokens=20, token_interval_s=0.02)
    calls = len(fake_tgi.streams)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sends = [pool.submit(chat, client, "only once", mid) for _ in range(2)]
        outcomes = []
        for send in sends:
            try:
                outcomes.append(send.result(timeout=30))
            except Exception as exc:  # the one that arrived while the other streamed is told to wait
                outcomes.append(str(exc))
    expected = "".join(Behaviour(tokens=20).reply_tokens())
    assert expected in outcomes, outcomes
    assert all(o == expected or "already being answered" in o for o in outcomes), outcomes
    [question] = user_rows(app, mid)
    messages = app.rows(Message, conversation_id=question.conversation_id)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert len(fake_tgi.streams) == calls + 1


def test_old_callers_keep_working_and_the_raw_queue_takes_the_id_as_the_eleventh_value(
    app: RunningApp, fake_tgi: FakeTgi
) -> None:
    """gradio_client fills unset trailing arguments, so the ten /chat had before still work; the raw queue takes
    every input, the message id eleventh (benchmarks/bench_stream.py sends them so)."""
    expected = "".join(Behaviour().reply_tokens())
    old_style = Client(app.url, verbose=False).predict(
        "ten values", "", None, None, None, None, "", None, None, None, api_name="/chat"
    )
    assert old_style == expected
    keyword = str(uuid.uuid4())
    client = Client(app.url, verbose=False)
    assert [client.predict("by keyword", message_id=keyword, api_name="/chat") for _ in range(2)] == [expected] * 2
    assert len(user_rows(app, keyword)) == 1
    config = httpx.get(f"{app.url}/config").json()
    fn = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
    mid = str(uuid.uuid4())
    with httpx.Client(base_url=app.url, timeout=30) as http:  # keeps the session cookie: one user
        for _ in range(2):
            sent = call(
                http, fn, ["with an id", "", None, None, None, None, "", None, None, None, mid, False, None, None, None]
            )
            assert sent["success"] and sent["output"]["data"][0] == expected, sent
    assert len(user_rows(app, mid)) == 1
