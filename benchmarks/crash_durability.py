"""kill -9 during 50 concurrent streams, many times: what was promised durable is in the database exactly once.

Each trial starts ``python app.py`` on the same DuckDB file, opens 50 streams through the ``chat`` API (a fake TGI
at 20 tokens/s, 40-token replies), SIGKILLs the app at a random moment, then opens the file itself and checks:

* the database opens cleanly after every kill;
* every user message whose stream had shown a first token is stored exactly once;
* every reply whose stream had completed is stored exactly once, ``complete``, with the whole text;
* no stored reply is marked ``complete`` with less than the whole text (partial replies are absent — the process
  died before it could mark them ``stopped``).

Run from the repo root: ``.venv/bin/python -m benchmarks.crash_durability [--trials 20] [--streams 50]``.
Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from gradio_client import Client
from sqlalchemy import select

from storage.schema import Message
from storage.store import Store
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.processes import AppProcess

TOKENS = 40
EXPECTED = " ".join(f"w{i}" for i in range(TOKENS))


def trial(number: int, streams: int, fake: FakeTgi, url: str, work: Path, rng: random.Random) -> list[str]:
    app = AppProcess({"TGI_URL": fake.url, "DATABASE_URL": url}, work / f"app-{number}.log").wait_ready()
    client = Client(app.url, verbose=False, max_workers=streams + 4)
    texts = [f"trial {number} user {user}" for user in range(streams)]
    jobs = [client.submit(text, api_name="/chat") for text in texts]
    first_token: set[str] = set()
    completed: set[str] = set()
    kill_at = time.monotonic() + rng.uniform(0.2, 3.5)
    while time.monotonic() < kill_at:
        for text, job in zip(texts, jobs, strict=True):
            if job.outputs():
                first_token.add(text)
            if job.done() and job.exception() is None and job.outputs() and job.outputs()[-1] == EXPECTED:
                completed.add(text)
        time.sleep(0.01)
    app.proc.kill()
    app.proc.wait(10)
    client.close()

    problems: list[str] = []
    try:
        store = Store.open(url)
    except Exception as exc:
        return [f"trial {number}: the database did not reopen: {exc}"]
    with store.sessions() as session:
        rows = session.execute(select(Message.conversation_id, Message.role, Message.content, Message.status)).all()
    store.close()
    questions = Counter(content for _, role, content, _ in rows if role == "user" and content in texts)
    conversation_of = {content: cid for cid, role, content, _ in rows if role == "user" and content in texts}
    replies = Counter((cid, status, content) for cid, role, content, status in rows if role == "assistant")
    for text in first_token:
        if questions[text] != 1:
            problems.append(f"trial {number}: {text!r} stored {questions[text]} times after its first token")
    for text in completed:
        cid = conversation_of.get(text)
        if replies[(cid, "complete", EXPECTED)] != 1:
            problems.append(f"trial {number}: the completed reply to {text!r} is not stored exactly once")
    for (cid, status, content), _ in replies.items():
        if cid in conversation_of.values() and status == "complete" and content != EXPECTED:
            problems.append(f"trial {number}: a reply marked complete holds {len(content)} of {len(EXPECTED)} chars")
    print(
        f"trial {number:2}: killed after {len(first_token):2} first tokens, {len(completed):2} completed; "
        f"stored {sum(questions.values()):2} questions, "
        f"{sum(n for (cid, _, _), n in replies.items() if cid in conversation_of.values()):2} replies — "
        + ("ok" if not problems else f"{len(problems)} problem(s)")
    )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-crash-"))
    url = f"duckdb:///{work / 'crash.duckdb'}"
    fake = FakeTgi(default=Behaviour(tokens=TOKENS, token_interval_s=0.05, first_token_delay_s=0.05)).start()
    rng = random.Random(11)
    problems: list[str] = []
    try:
        for number in range(args.trials):
            problems += trial(number, args.streams, fake, url, work, rng)
    finally:
        fake.stop()
    print("\n".join(problems) or f"all {args.trials} trials: every promise held (logs in {work})")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
