"""Faults of the model server, through the running app (issue #9): each gives the caller a clear sentence, keeps the
user's message, records the reply's error type in ``generations``, and another user's stream carries on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from gradio_client import Client

from storage.schema import Generation, Message
from tests.support.apps import Launch, RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until

# The client's own requests (joining the queue) wait longer than httpx's 5 s: 64 joins at once on 2 loaded cores.
PATIENT = {"timeout": 30}


@pytest.fixture(scope="module")
def app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """This module's own app: a 2 s model-server timeout, so the two timeout faults wait 2 s, not the suite's 5 s."""
    settings = make_settings(
        tmp_path_factory.mktemp("faults"), tgi_url=fake_tgi_server.url, request_timeout_s=2, connect_timeout_s=2,
        info_ttl_s=0, auto_title=False,
    )  # fmt: skip
    with launched_app(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Client:
    return Client(app.url, verbose=False)


@pytest.mark.parametrize(
    ("fault", "error_type", "says"),
    [
        (Behaviour(first_token_delay_s=3), "timeout", "took too long"),  # this module's app times out after 2 s
        (Behaviour(tokens=8, hang_after=3, token_interval_s=0.01), "timeout", "took too long"),
        (Behaviour(http_status=422, http_error="Input validation error: bad", http_error_type="validation"),
         "validation", "rejected"),
        (Behaviour(http_status=429), "overloaded", "overloaded"),
        (Behaviour(http_status=503, http_error="unhealthy", http_error_type="healthcheck"), "unavailable", "not ready"),
        (Behaviour(tokens=8, error_after=3), "generation", "failed while writing"),
        (Behaviour(tokens=8, malformed_after=3), "generation", "could not read"),
        (Behaviour(tokens=8, truncate_after=3), "incomplete", "ended the reply early"),
    ],
    ids=["slow-first-token", "hang", "422", "429", "503", "in-stream-error", "malformed-sse", "truncated"],
)  # fmt: skip
def test_a_fault_is_explained_recorded_and_leaves_other_streams_alone(
    client: Client, app: RunningApp, fake_tgi: FakeTgi, fault: Behaviour, error_type: str, says: str
) -> None:
    healthy = Behaviour(tokens=30, token_interval_s=0.02, finish_reason="stop")
    fake_tgi.next(fault, healthy)
    question = f"fault {uuid.uuid4()}"
    faulty: Future[str] = client.submit(question, api_name="/chat").future  # type: ignore[attr-defined]
    assert wait_until(lambda: len(fake_tgi.streams) >= 1)
    other = client.submit("meanwhile, another user", api_name="/chat")
    assert other.result(timeout=30) == " ".join(f"w{i}" for i in range(30))

    with pytest.raises(Exception, match=says) as caught:
        faulty.result(timeout=30)
    assert "Traceback" not in str(caught.value)
    [stored] = app.rows(Message, content=question)  # the user's message is kept: Retry works from it
    [reply] = app.rows(Message, conversation_id=stored.conversation_id, role="assistant")
    assert reply.status == "error"
    [generation] = app.rows(Generation, message_id=reply.id)
    assert generation.error_type == error_type


def test_the_model_server_restarted_under_64_streams_ends_each_clearly_and_the_next_messages_are_served(
    launch: Launch, tmp_path: Path
) -> None:
    streams, reply = 64, " ".join(f"w{i}" for i in range(40))
    fake = FakeTgi(default=Behaviour(tokens=40, token_interval_s=0.05, finish_reason="stop")).start()
    try:
        app = launch(make_settings(tmp_path, tgi_url=fake.url, auto_title=False, request_timeout_s=10))
        client = Client(app.url, verbose=False, max_workers=streams + 4, httpx_kwargs=PATIENT)
        texts = [f"restart {i}" for i in range(streams)]
        jobs = [client.submit(text, api_name="/chat") for text in texts]
        assert wait_until(lambda: sum(bool(job.outputs()) for job in jobs) >= 20, timeout_s=30)
        fake.stop()  # drops every open stream mid-reply, as a crashed server would
        fake.start(port=fake.port)
        outcomes: dict[str, str] = {}
        for text, job in zip(texts, jobs, strict=True):
            try:
                assert job.result(timeout=60) == reply
                outcomes[text] = "complete"
            except Exception as exc:
                assert "model server" in str(exc) and "Traceback" not in str(exc), exc  # a sentence, not a trace
                outcomes[text] = "error"
        assert "error" in outcomes.values(), "the restart came after every stream had ended: this tested nothing"

        fake.default = Behaviour(tokens=5, finish_reason="stop")
        assert [client.predict(f"after the restart {i}", api_name="/chat") for i in range(3)] == ["w0 w1 w2 w3 w4"] * 3
        for text, outcome in outcomes.items():
            [question] = app.rows(Message, content=text)
            [answer] = app.rows(Message, conversation_id=question.conversation_id, role="assistant")
            assert answer.status == outcome, text
    finally:
        fake.stop()
