"""Context fit and automatic titles, through the running app against a fake TGI with a small window."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from gradio_client import Client

from storage.schema import Conversation, Message
from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until

WORDS = "alpha beta gamma delta epsilon zeta eta theta"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, FakeTgi]]:
    fake = FakeTgi(max_input_tokens=60, max_total_tokens=120).start()
    settings = make_settings(tmp_path_factory.mktemp("small"), tgi_url=fake.url, info_ttl_s=0, auto_title=True)
    with launched_app(settings) as running:
        yield running, fake
    fake.stop()


def chat(client: Client, message: str, conversation_id: str) -> str:
    reply: str = client.predict(message, conversation_id, None, None, 20, None, "", "Be brief.", api_name="/chat")
    return reply


def test_oldest_turns_are_left_out_so_the_prompt_fits(small: tuple[RunningApp, FakeTgi]) -> None:
    app, fake = small
    fake.default = Behaviour(reply=WORDS, finish_reason="stop")
    client = Client(app.url, verbose=False)
    cid = client.predict(api_name="/new_conversation")
    for turn in range(6):
        assert chat(client, f"{turn} {WORDS}", cid) == WORDS  # the server never refused the prompt
    replies = [s for s in fake.streams if s.body["max_tokens"] == 20]
    sent = replies[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["role"] == "user" and sent[-1] == {"role": "user", "content": f"5 {WORDS}"}
    assert {"role": "user", "content": f"0 {WORDS}"} not in sent  # the oldest turn went first
    assert len(sent) < 1 + 11
    assert len(app.rows(Message, conversation_id=uuid.UUID(cid))) == 12  # all of it is still stored


def test_a_message_that_cannot_fit_is_refused_before_anything_is_stored(small: tuple[RunningApp, FakeTgi]) -> None:
    app, fake = small
    client = Client(app.url, verbose=False)
    cid = client.predict(api_name="/new_conversation")
    before = len(fake.streams), app.count(Message)
    with pytest.raises(Exception, match=r"This message is about [\d,]+ tokens; the model takes at most"):
        chat(client, " ".join([WORDS] * 40), cid)
    assert (len(fake.streams), app.count(Message)) == before


def test_a_new_conversation_gets_a_title_from_the_model_or_keeps_its_first_words(
    small: tuple[RunningApp, FakeTgi],
) -> None:
    app, fake = small
    client = Client(app.url, verbose=False)
    fake.next(Behaviour(reply="Sure.", finish_reason="stop"), Behaviour(reply='"Greek Letters, Briefly."'))
    titled = client.predict(api_name="/new_conversation")
    chat(client, "Which Greek letters come first?", titled)
    assert wait_until(lambda: app.rows(Conversation, id=uuid.UUID(titled))[0].title == "Greek Letters, Briefly")
    title_request = fake.streams[-1].body
    assert (
        title_request["max_tokens"] == 16
        and "Which Greek letters come first?" in title_request["messages"][0]["content"]
    )

    fake.next(Behaviour(reply="Sure.", finish_reason="stop"), Behaviour(http_status=429))
    busy = client.predict(api_name="/new_conversation")
    chat(client, "What comes after gamma?", busy)
    fake.wait_for_streams(len(fake.streams))
    assert wait_until(lambda: fake.streams[-1].body["max_tokens"] == 16)
    [row] = app.rows(Conversation, id=uuid.UUID(busy))
    assert row.title == "What comes after gamma?"
