"""kill -9 during 50 concurrent streams, many times: what was promised durable is in the database exactly once.

Each trial starts ``python app.py`` on the same DuckDB file, opens 50 streams through the ``chat`` API (a fake TGI
at 20 tokens/s, 40-token replies), SIGKILLs the app at a moment drawn at random between the trial's first first
token and the moment its last stream would complete, then opens the file itself and checks:

* the database opens cleanly after every kill;
* every user message whose stream had shown a first token is stored exactly once;
* every reply whose stream had completed is stored exactly once, ``complete``, with the whole text;
* no stored reply is marked ``complete`` with less than the whole text (partial replies are absent — the process
  died before it could mark them ``stopped``).

A trial *counts* only when it tested something: at least ``--min-first-tokens`` (20) of its streams had shown a
first token before the kill and at least one of them was still streaming. The span from the first first token to
the last completion is measured once, on the first app, by a round of streams left to finish. The benchmark runs
until ``--trials`` trials counted (at most twice as many attempts) and fails when fewer did: a durability check
that passes because nothing was in flight is a check that cannot fail.

The limits it is not about are lifted: the app's rate limits are off (all 50 streams come from one ``gradio_client``
user on one loopback address, which the default 20 messages a minute per user would hold), automatic titles too.

Run from the repo root: ``.venv/bin/python -m benchmarks.crash_durability [--trials 20] [--streams 50]``.
Exits non-zero when a check fails or too few trials counted.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gradio_client import Client
from gradio_client.client import Job
from sqlalchemy import select

from storage.schema import Message
from storage.store import Store
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.processes import AppProcess

TOKENS = 40
EXPECTED = " ".join(f"w{i}" for i in range(TOKENS))
# Everything this benchmark is not about, lifted: one client sends all streams, far faster than a person types.
APP_ENV = {"RATE_LIMIT_USER_PER_MIN": "0", "RATE_LIMIT_IP_PER_MIN": "0", "AUTO_TITLE": "false"}


@dataclass
class Watch:
    """What the load generator saw of its streams: when each showed a first token and when each completed."""

    texts: list[str]
    jobs: list[Job]
    first_token_at: dict[str, float] = field(default_factory=dict)
    completed_at: dict[str, float] = field(default_factory=dict)

    def poll(self) -> None:
        now = time.monotonic()
        for text, job in zip(self.texts, self.jobs, strict=True):
            if text not in self.first_token_at and job.outputs():
                self.first_token_at[text] = now
            if text not in self.completed_at and job.done() and job.exception() is None:
                outputs = job.outputs()
                if outputs and outputs[-1] == EXPECTED:
                    self.completed_at[text] = now

    @property
    def streaming(self) -> set[str]:
        return set(self.first_token_at) - set(self.completed_at)


def submit(client: Client, label: str, streams: int) -> Watch:
    texts = [f"{label} user {user}" for user in range(streams)]
    return Watch(texts, [client.submit(text, api_name="/chat") for text in texts])


def measure_span(client: Client, streams: int, timeout_s: float = 60) -> float:
    """Seconds from the first first token to the last completion of ``streams`` streams left to finish."""
    watch = submit(client, "warm-up", streams)
    deadline = time.monotonic() + timeout_s
    while len(watch.completed_at) < streams:
        if time.monotonic() > deadline:
            raise RuntimeError(f"warm-up: {len(watch.completed_at)} of {streams} streams completed in {timeout_s} s")
        watch.poll()
        time.sleep(0.01)
    return max(watch.completed_at.values()) - min(watch.first_token_at.values())


@dataclass
class Outcome:
    counted: bool
    problems: list[str]


def trial(
    number: int, app: AppProcess, client: Client, args: argparse.Namespace, span_s: float, url: str, rng: random.Random
) -> Outcome:
    watch = submit(client, f"trial {number}", args.streams)
    deadline = time.monotonic() + 60
    while not watch.first_token_at:
        if time.monotonic() > deadline:
            app.kill()
            return Outcome(False, [f"trial {number}: no stream showed a first token in 60 s (see {app.log_path})"])
        watch.poll()
        time.sleep(0.005)
    kill_at = min(watch.first_token_at.values()) + rng.uniform(0, span_s)
    while time.monotonic() < kill_at:
        watch.poll()
        time.sleep(0.005)
    watch.poll()
    first_token, completed, streaming = set(watch.first_token_at), set(watch.completed_at), watch.streaming
    app.kill()
    client.close()

    try:
        store = Store.open(url)
    except Exception as exc:
        return Outcome(True, [f"trial {number}: the database did not reopen: {exc}"])
    with store.sessions() as session:
        rows = session.execute(select(Message.conversation_id, Message.role, Message.content, Message.status)).all()
    store.close()
    problems: list[str] = []
    texts = set(watch.texts)
    questions = Counter(content for _, role, content, _ in rows if role == "user" and content in texts)
    conversation_of = {content: cid for cid, role, content, _ in rows if role == "user" and content in texts}
    ours = set(conversation_of.values())
    replies = Counter((cid, status, content) for cid, role, content, status in rows if role == "assistant")
    for text in first_token:
        if questions[text] != 1:
            problems.append(f"trial {number}: {text!r} stored {questions[text]} times after its first token")
    for text in completed:
        if replies[(conversation_of.get(text), "complete", EXPECTED)] != 1:
            problems.append(f"trial {number}: the completed reply to {text!r} is not stored exactly once")
    for cid, status, content in replies:
        if cid in ours and status == "complete" and content != EXPECTED:
            problems.append(f"trial {number}: a reply marked complete holds {len(content)} of {len(EXPECTED)} chars")
    counted = len(first_token) >= args.min_first_tokens and bool(streaming)
    verdict = "ok" if not problems else f"{len(problems)} problem(s)"
    print(
        f"trial {number:2}: killed after {len(first_token):2} first tokens, {len(completed):2} completed, "
        f"{len(streaming):2} still streaming; stored {sum(questions.values()):2} questions, "
        f"{sum(n for (cid, _, _), n in replies.items() if cid in ours):2} replies — {verdict}"
        + ("" if counted else " (did not count: too few streams in flight)"),
        flush=True,
    )
    return Outcome(counted, problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials that must count")
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--min-first-tokens", type=int, default=20, help="first tokens a trial needs to count")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-crash-"))
    url = f"duckdb:///{work / 'crash.duckdb'}"
    fake = FakeTgi(default=Behaviour(tokens=TOKENS, token_interval_s=0.05, first_token_delay_s=0.05)).start()
    rng = random.Random(args.seed)
    problems: list[str] = []
    counted = attempts = 0
    span_s: float | None = None
    try:
        while counted < args.trials and attempts < 2 * args.trials:
            env = {"TGI_URL": fake.url, "DATABASE_URL": url, **APP_ENV}
            app = AppProcess(env, work / f"app-{attempts}.log").wait_ready()
            client = Client(app.url, verbose=False, max_workers=args.streams + 4)
            if span_s is None:
                span_s = measure_span(client, args.streams)
                print(f"first first token → last completion of {args.streams} streams: {span_s:.2f} s", flush=True)
            outcome = trial(attempts, app, client, args, span_s, url, rng)
            problems += outcome.problems
            counted += outcome.counted
            attempts += 1
    finally:
        fake.stop()
    print(f"{counted} of {attempts} trials counted ({args.trials} needed); logs in {work}")
    if counted < args.trials:
        problems.append(f"only {counted} of {attempts} trials counted; {args.trials} needed")
    print("\n".join(problems) or f"all {counted} counted trials: every promise held")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
