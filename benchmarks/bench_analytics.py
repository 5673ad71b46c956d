"""Analytics benchmark: the whole tab's server time over a million generations, and what it costs a live chat.

Three processes on 127.0.0.1: a fake TGI (``python -m tests.support.fake_tgi``), the app (``python app.py`` with
``ANALYTICS_OPEN=true`` and the tab's cache off, over a DuckDB file seeded by ``benchmarks.seed_analytics``:
1,000,000 generations over 90 days, 5 models, 2,000 users, with ``--load-days`` (30) of 4 model servers' load
readings as the retention keeps them, and the browsers' reports of ``--browser-share`` (10 %) of the replies), and
this process calling the app over Gradio's raw queue protocol, as the browser does.

* Tab render: the ``analytics_refresh`` event (every KPI, chart and table of the tab) for the last 7 and 90 days,
  ``--runs`` times each. Reported: the server's own duration of the event (Gradio's ``process_completed`` duration),
  the reads alone (the tab's "read in … ms"), and the client's wall time. Targets: ≤ 500 ms (7 days), ≤ 1.5 s (90).
* Chat while the tab renders: one long reply (``--tokens`` at ``--tokens-per-s``) streamed alone, then again while
  the 90-day tab is rendered back to back; its delivered rate must keep ≥ 95 %.

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_analytics [--generations N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from benchmarks import rawhttp
from benchmarks.bench_stream import RESULTS_DIR, StreamResult, app_stream, child, free_port, wait_until_ready
from benchmarks.seed_analytics import seed_store

RANGES = {"7 days": "Last 7 days", "90 days": "Last 90 days"}
TARGET_MS = {"7 days": 500.0, "90 days": 1500.0}


async def refresh(base: str, fn_index: int, range_name: str) -> dict[str, float]:
    """One render of the whole tab: returns server duration, read time and wall time (ms)."""
    session = uuid.uuid4().hex
    started = time.perf_counter()
    join = {
        "data": [range_name, None, None, "All models", "All users", True, "All sources"],
        "fn_index": fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    await rawhttp.post_json(f"{base}/gradio_api/queue/join", join)
    async for line in rawhttp.lines(f"{base}/gradio_api/queue/data?session_hash={session}"):
        if line.startswith("data:"):
            event = json.loads(line[5:])
            if event.get("msg") == "process_completed":
                if not event.get("success"):
                    raise RuntimeError(f"analytics_refresh failed: {event}")
                summary = event["output"]["data"][2]
                found = re.search(r"read in ([\d,]+) ms", str(summary))
                if found is None:
                    raise RuntimeError(f"no read time in the summary: {summary!r}")
                read_ms = float(found.group(1).replace(",", ""))  # 1,234: the summary groups thousands
                return {
                    "server_ms": event["output"]["duration"] * 1000,
                    "read_ms": read_ms,
                    "wall_ms": (time.perf_counter() - started) * 1000,
                }
    raise RuntimeError("the SSE stream ended before process_completed")


async def chat_while(base: str, chat_index: int, refresh_index: int | None, tokens: int) -> tuple[StreamResult, int]:
    """One long reply; with ``refresh_index``, the 90-day tab is rendered back to back until the reply ends."""
    renders = 0
    stream = asyncio.create_task(app_stream(base, chat_index, "a long story", "", tokens))
    while refresh_index is not None and not stream.done():
        await refresh(base, refresh_index, RANGES["90 days"])
        renders += 1
    result = await stream
    result.check(tokens)
    return result, renders


async def measure(base: str, runs: int, tokens: int, config: dict[str, Any]) -> dict[str, Any]:
    index = {d.get("api_name"): d["id"] for d in config["dependencies"]}
    out: dict[str, Any] = {"tab": {}}
    for label, range_name in RANGES.items():
        samples = [await refresh(base, index["analytics_refresh"], range_name) for _ in range(runs)]
        out["tab"][label] = {key: [s[key] for s in samples] for key in ("server_ms", "read_ms", "wall_ms")}
    await app_stream(base, index["chat"], "warm-up", "", 2)
    alone, _ = await chat_while(base, index["chat"], None, tokens)
    during, renders = await chat_while(base, index["chat"], index["analytics_refresh"], tokens)
    out["chat"] = {"alone_tok_s": alone.rate, "during_tok_s": during.rate, "renders_during": renders}
    out["chat"]["errors"] = [e for e in (alone.error, during.error) if e]
    return out


def report(result: dict[str, Any]) -> None:
    print(
        f"\nWhole Analytics tab over {result['generations']:,} generations, {result['load_days']} days of 4 servers' "
        f"load, {result['browser_share']:.0%} of replies with a browser report (cache off; {result['runs']} runs each)"
    )
    print("load average at the end: " + " ".join(f"{v:.2f}" for v in result["load_average"]))
    print(f"{'range':<9} {'server p50':>11} {'min–max':>15} {'reads p50':>10} {'wall p50':>9}  target")
    for label, samples in result["tab"].items():
        server = samples["server_ms"]
        ok = "ok" if statistics.median(server) <= TARGET_MS[label] else "MISSED"
        print(
            f"{label:<9} {statistics.median(server):>9.0f}ms {min(server):>6.0f}–{max(server):>6.0f}ms "
            f"{statistics.median(samples['read_ms']):>8.0f}ms {statistics.median(samples['wall_ms']):>7.0f}ms"
            f"  ≤ {TARGET_MS[label]:.0f} ms {ok}"
        )
    chat = result["chat"]
    kept = (chat["during_tok_s"] or 0) / (chat["alone_tok_s"] or 1)
    print(
        f"\nChat stream alone {chat['alone_tok_s']:.1f} tok/s; while the 90-day tab rendered "
        f"{chat['renders_during']} times: {chat['during_tok_s']:.1f} tok/s = {kept:.1%} kept "
        f"(target ≥ 95%: {'ok' if kept >= 0.95 else 'MISSED'})"
    )
    if chat["errors"]:
        print("stream errors:", chat["errors"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--tokens-per-s", type=float, default=100)
    parser.add_argument("--load-days", type=int, default=30, help="days of model server load readings")
    parser.add_argument("--browser-share", type=float, default=0.1, help="share of replies with a browser report")
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    db = RESULTS_DIR / "analytics-bench.duckdb"
    for stale in RESULTS_DIR.glob("analytics-bench.duckdb*"):
        stale.unlink()
    seed_store(
        db, generations=args.generations, days=90, users=2000, seed=6, messages=False, load_days=args.load_days,
        load_servers=4, browser_share=args.browser_share,
    )  # fmt: skip
    with ExitStack() as stack:
        fake_port, app_port = free_port(), free_port()
        fake_url, app_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{app_port}"
        fake_cmd = [
            sys.executable, "-m", "tests.support.fake_tgi", "--port", str(fake_port), "--first-token-ms", "50",
            "--tokens-per-s", str(args.tokens_per_s), "--tokens", str(args.tokens),
        ]  # fmt: skip
        fake = stack.enter_context(child(fake_cmd, dict(os.environ), RESULTS_DIR / "analytics-fake.log"))
        wait_until_ready("fake TGI", fake, f"{fake_url}/health", lambda r: r.status_code == 200)
        env = {
            **os.environ,
            "TGI_URL": fake_url,
            "DATABASE_URL": f"duckdb:///{db}",
            "ANALYTICS_OPEN": "true",
            "ANALYTICS_CACHE_TTL_S": "0",
            "RATE_LIMIT_USER_PER_MIN": "0",  # not what this measures
            "RATE_LIMIT_IP_PER_MIN": "0",
            "GRADIO_SERVER_PORT": str(app_port),
            "GRADIO_SERVER_NAME": "127.0.0.1",
        }
        app = stack.enter_context(child([sys.executable, "app.py"], env, RESULTS_DIR / "analytics-app.log"))
        wait_until_ready("app", app, f"{app_url}/healthz", lambda r: r.status_code == 200)
        config = httpx.get(f"{app_url}/config", timeout=10).json()
        result = asyncio.run(measure(app_url, args.runs, args.tokens, config))
    result.update(
        generations=args.generations, runs=args.runs, load_days=args.load_days, browser_share=args.browser_share,
        load_average=os.getloadavg(),
    )  # fmt: skip
    Path(RESULTS_DIR / "analytics.json").write_text(json.dumps(result, indent=2))
    report(result)


if __name__ == "__main__":
    main()
