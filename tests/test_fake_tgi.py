"""The fake TGI must look like TGI on the wire: checked against responses recorded from real TGI servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_tgi import Behaviour, FakeTgi

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tgi"
CASSETTE = FIXTURES / "chat_stream_tgi_3.2.1.body.txt"


def _events(raw: str) -> list[str]:
    assert raw.endswith("\n\n"), "every SSE event ends with a blank line"
    return [block for block in raw.split("\n\n") if block]


def _stream(fake: FakeTgi, **body: Any) -> str:
    request = {"model": "tgi", "messages": [{"role": "user", "content": "What is deep learning?"}], "stream": True}
    response = httpx.post(f"{fake.url}/v1/chat/completions", json={**request, **body}, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.text


def test_chunks_have_tgi_3_wire_shape_and_key_order(fake_tgi: FakeTgi) -> None:
    recorded = [json.loads(e.removeprefix("data: ")) for e in _events(CASSETTE.read_text())[:-1]]
    fake_tgi.next(Behaviour(tokens=5))
    events = _events(_stream(fake_tgi))
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]" == _events(CASSETTE.read_text())[-1]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    for chunk in chunks:
        assert list(chunk) == list(recorded[0])
        assert list(chunk["choices"][0]) == list(recorded[0]["choices"][0])
        assert list(chunk["choices"][0]["delta"]) == list(recorded[0]["choices"][0]["delta"])
        assert chunk["id"] == "" and chunk["usage"] is None
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["length"]
    assert recorded[-1]["choices"][0]["finish_reason"] == "length"


def test_eos_ends_with_an_empty_stop_chunk_like_tgi(fake_tgi: FakeTgi) -> None:
    recorded = json.loads((FIXTURES / "test_json_schema_stream.json").read_text())
    fake_tgi.next(Behaviour(reply="Hello world", finish_reason="stop"))
    chunks = [json.loads(e.removeprefix("data: ")) for e in _events(_stream(fake_tgi))[:-1]]
    assert (
        chunks[-1]["choices"][0]["delta"] == recorded[-1]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == recorded[-1]["choices"][0]["finish_reason"] == "stop"


def test_usage_chunk_matches_the_recorded_one(fake_tgi: FakeTgi) -> None:
    recorded = json.loads((FIXTURES / "test_chat_hfhub_usage.json").read_text())[-1]
    fake_tgi.next(Behaviour(tokens=3))
    chunks = [
        json.loads(e.removeprefix("data: "))
        for e in _events(_stream(fake_tgi, stream_options={"include_usage": True}))[:-1]
    ]
    usage = chunks[-1]
    assert sorted(usage) == sorted(recorded) and usage["choices"] == recorded["choices"] == []
    assert sorted(usage["usage"]) == sorted(recorded["usage"])
    assert usage["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"top_p": 1.0}, "Input validation error: `top_p` must be > 0.0 and < 1.0"),
        ({"temperature": -1}, "Input validation error: `temperature` must be strictly positive"),
        (
            {"stop": ["a", "b", "c", "d", "e"]},
            "Input validation error: `stop` supports up to 4 stop sequences. Given: 5",
        ),
    ],
)
def test_validation_errors_arrive_inside_a_200_stream(fake_tgi: FakeTgi, body: dict[str, Any], message: str) -> None:
    events = _events(_stream(fake_tgi, **body))
    assert events == [
        "data: " + json.dumps({"error": {"message": message, "http_status_code": 422}}, separators=(",", ":")),
        "data: [DONE]",
    ]


def test_info_and_health_follow_tgi(fake_tgi: FakeTgi) -> None:
    info = httpx.get(f"{fake_tgi.url}/info").json()
    assert {"model_id", "max_input_tokens", "max_total_tokens", "max_stop_sequences", "router", "version"} <= set(info)
    assert httpx.get(f"{fake_tgi.url}/health").content == b""
    fake_tgi.healthy = False
    assert httpx.get(f"{fake_tgi.url}/health").json() == {"error": "unhealthy", "error_type": "healthcheck"}


def test_malformed_body_is_a_plain_text_422(fake_tgi: FakeTgi) -> None:
    response = httpx.post(f"{fake_tgi.url}/v1/chat/completions", json={"messages": "please"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
