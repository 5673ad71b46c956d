"""The streaming benchmarks fail when a run tested nothing (issue 21): their real load path, pointed at an in-process
fake TGI that never sends a token, must come out as "tested nothing" and a non-zero exit; a fake that answers as
asked must not."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from benchmarks import bench_stream, bench_turns
from tests.support.fake_tgi import Behaviour, FakeTgi


@pytest.fixture
def fake() -> Iterator[FakeTgi]:
    server = FakeTgi().start()
    try:
        yield server
    finally:
        server.stop()


def stream_result(fake: FakeTgi, tokens: int) -> dict[str, object]:
    """One scenario of bench_stream as run_scenario shapes it, both sides measured straight from the fake."""
    fake.default = Behaviour(tokens=tokens)
    sc = bench_stream.Scenario("a", "4 users", 4, 50, 5)
    run = bench_stream.summarize(asyncio.run(bench_stream.measure_direct(sc, fake.url, os.getpid())))
    return {"scenario": {"key": "a"}, "direct": run, "app": run, "earlier_turns_failed": 0}


def test_bench_stream_fails_when_no_stream_showed_a_first_token(
    fake: FakeTgi, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = bench_stream.run_problems([stream_result(fake, tokens=0)])
    assert problems == [
        "(a) direct: none of 4 streams showed a first token",
        "(a) app: none of 4 streams showed a first token",
    ]
    assert bench_stream.verdict(problems) == 1
    assert "TESTED NOTHING: (a) direct: none of 4 streams showed a first token" in capsys.readouterr().out


def test_bench_stream_fails_when_most_streams_did_not_complete_exact(fake: FakeTgi) -> None:
    # Tokens arrive, but 3 of the asked-for 5: every stream shows a first token and none is exact.
    assert bench_stream.run_problems([stream_result(fake, tokens=3)])[0] == (
        "(a) direct: only 0 of 4 streams completed exact (more than half must)"
    )


def test_bench_stream_passes_a_run_that_tested_something(fake: FakeTgi) -> None:
    result = stream_result(fake, tokens=5)
    assert bench_stream.run_problems([result]) == []
    assert bench_stream.verdict([]) == 0


def test_bench_turns_fails_when_no_stream_showed_a_first_token(fake: FakeTgi) -> None:
    sc = bench_turns.QUICK["1"]
    target = bench_turns.Target("direct", fake.url, os.getpid())
    fake.default = Behaviour(tokens=0)
    silent = asyncio.run(bench_turns.measure(sc, target, os.getpid()))
    fake.default = Behaviour(tokens=sc.max_tokens)
    answered = asyncio.run(bench_turns.measure(sc, target, os.getpid()))
    problems = bench_turns.run_problems({"1": {"direct": [answered, silent]}})
    assert problems == ["[1] direct run 2: none of 3 streams showed a first token"]
    assert bench_turns.run_problems({"1": {"direct": [answered]}}) == []
