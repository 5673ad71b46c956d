"""Faults of the model server, through the running app (issue #9): each gives the caller a clear sentence, keeps the
user's message, records the reply's error type in ``generations``, and another user's stream carries on."""

from __future__ import annotations

import uuid
from concurrent.futures import Future

import pytest
from gradio_client import Client

from storage.schema import Generation, Message
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Client:
    return Client(app.url, verbose=False)


@pytest.mark.parametrize(
    ("fault", "error_type", "says"),
    [
        (Behaviour(first_token_delay_s=6), "timeout", "took too long"),  # the test app's timeout is 5 s
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
