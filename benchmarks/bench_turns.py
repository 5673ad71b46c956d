"""Per-turn cost, side by side in one invocation: the model server directly, ChatLens, the Spaces chat template and a
Gradio app that only streams (the floor of Gradio's queue protocol), under 1, 8, 32 and 128 distinct users.

Processes, all on 127.0.0.1 and started once per invocation: two fake TGIs (``tests.support.fake_tgi``, 50 ms to the
first token; one at 50 tok/s, one at 20 tok/s) and, per fake, ChatLens (``app.py``, fresh DuckDB file, default
settings but the per-address rate limit, which would count every simulated user as one visitor), our copy of the
public Spaces template (``benchmarks.spaces_template``: ``gr.ChatInterface`` over ``InferenceClient``, its
concurrency limit lifted, 40 ms frames) and ``benchmarks.gradio_floor`` (one ``gr.api`` generator streaming the fake,
40 ms frames). The load generator is this process (asyncio + ``benchmarks.rawhttp``); its own CPU is reported.

A *distinct user* is what a browser is: it loads the page once (``GET /``: its own cookie), keeps one Gradio
``session_hash``, and sends a message to a new conversation of its own. Page loads happen before the measured part;
then all users of a scenario send at once (``1``: ten users, one after another).

Scenarios (``--scenarios``): ``1`` ten single users in turn, 50 tok/s, 20-token replies; ``8`` 8 at once, 50 tok/s,
100 tokens; ``32`` 32 at once, 50 tok/s, 200 tokens; ``128`` 128 at once, 20 tok/s, 200 tokens. Within one run each
scenario goes to every target in turn (direct, ChatLens, template, floor), so the comparison is within one run at
one load; runs repeat (``--runs``, default 5) and the table shows the median and min–max over runs. The 1-minute load
average is recorded before each measurement (other work on the machine shows there).

Per stream: TTFT = request start (``queue/join`` sent) → first non-empty text; rate = tokens after the first text
/ time from the first to the last text; the reply must be exactly the fake's ``w0 … w{n-1}``. Per measurement:
TTFT p50 / p95, rate p50, the share of users with TTFT ≤ 700 ms and ≥ 16 tok/s, CPU-s of the app, the fake and the
load generator (read around the burst, plus 0.5 s for the app's commits), app CPU-s per 1,000 streamed tokens.

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_turns [--runs 5] [--scenarios 1,8,32,128]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import httpx

from benchmarks import rawhttp
from benchmarks.bench_stream import (
    FIRST_TOKEN_MS,
    RESULTS_DIR,
    StreamResult,
    apply_output,
    child,
    direct_stream,
    free_port,
    git_revision,
    percentile,
    process_cpu_s,
    tested_nothing,
    verdict,
    wait_until_ready,
)

TARGETS = ("direct", "chatlens", "template", "floor")
GOOD_TTFT_S, GOOD_RATE = 0.700, 16.0


@dataclass(frozen=True)
class Scenario:
    key: str
    users: int
    tokens_per_s: int
    max_tokens: int
    sequential: bool = False  # one user after another (else all at once)


SCENARIOS = {
    "1": Scenario("1", 10, 50, 20, sequential=True),
    "8": Scenario("8", 8, 50, 100),
    "32": Scenario("32", 32, 50, 200),
    "128": Scenario("128", 128, 20, 200),
}
QUICK = {
    "1": Scenario("1", 3, 50, 20, sequential=True),
    "8": Scenario("8", 8, 50, 40),
    "32": Scenario("32", 32, 50, 40),
    "128": Scenario("128", 128, 20, 40),
}


@dataclass
class Target:
    """One thing the load is sent to: its URL, process, and how its ``chat`` call is shaped."""

    name: str
    url: str
    pid: int
    fn_index: int = -1
    data: Callable[[str, int], list[Any]] = lambda message, max_tokens: []


@dataclass
class User:
    cookie: str
    session: str


async def load_page(target: Target) -> User:
    """What a browser does once: load the page (its cookie); one Gradio session from then on."""
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.get(f"{target.url}/")
        response.raise_for_status()
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    return User(cookie, uuid.uuid4().hex[:11])


async def queue_stream(target: Target, user: User, message: str, max_tokens: int) -> StreamResult:
    """One ``chat`` call over Gradio's raw queue protocol, as ``user``."""
    headers = {"Cookie": user.cookie} if user.cookie else None
    result = StreamResult(started=time.perf_counter())
    join = {
        "data": target.data(message, max_tokens),
        "fn_index": target.fn_index,
        "session_hash": user.session,
        "event_data": None,
        "trigger_id": None,
    }
    try:
        await rawhttp.post_json(f"{target.url}/gradio_api/queue/join", join, headers)
        url = f"{target.url}/gradio_api/queue/data?session_hash={user.session}"
        async for line in rawhttp.lines(url, headers=headers):
            if not line.startswith("data:"):
                continue
            event, now = json.loads(line[5:]), time.perf_counter()
            kind = event.get("msg")
            if kind == "process_generating":
                apply_output(result, _text_output(event["output"]["data"]), now)
            elif kind == "process_completed":
                if event.get("success"):
                    final = _text_output(event["output"]["data"])
                    if isinstance(final, str):
                        result.extend_to(final, now)
                else:
                    result.error = f"app error: {event.get('output', {}).get('error')!r}"
                return result
            elif kind not in ("estimation", "process_starts", "heartbeat", "progress"):
                result.error = f"unexpected message: {line[:200]}"
                return result
        result.error = "SSE stream ended before process_completed"
    except (OSError, rawhttp.HttpError, ValueError, KeyError, TypeError) as exc:
        result.error = repr(exc)
    return result


def _text_output(data: list[Any]) -> Any:
    """The reply in an output list: the first value (ChatLens, floor); the template's chat API returns it first too."""
    return data[0]


async def measure(sc: Scenario, target: Target, fake_pid: int) -> dict[str, Any]:
    """Load pages (not measured), then the burst; CPU read around the burst (+0.5 s for the app's commits)."""
    direct = target.name == "direct"
    users = [] if direct else [await load_page(target) for _ in range(sc.users)]
    await asyncio.sleep(1.0)  # the page loads settle
    load = os.getloadavg()[0]
    messages = [{"role": "user", "content": "go"}]

    async def one(index: int) -> StreamResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(30 + 3 * sc.max_tokens / sc.tokens_per_s):
                if direct:
                    return await direct_stream(target.url, messages, sc.max_tokens)
                return await queue_stream(target, users[index], "go", sc.max_tokens)
        except TimeoutError:
            return StreamResult(started=started, error="timed out")

    pids = {"fake": fake_pid} if direct else {"app": target.pid, "fake": fake_pid}
    before = {name: process_cpu_s(pid) for name, pid in pids.items()}
    loadgen_before, t0 = time.process_time(), time.perf_counter()
    if sc.sequential:
        streams = [await one(i) for i in range(sc.users)]
    else:
        streams = list(await asyncio.gather(*(one(i) for i in range(sc.users))))
    wall_s = time.perf_counter() - t0
    loadgen = time.process_time() - loadgen_before
    await asyncio.sleep(0.5)
    cpu = {name: process_cpu_s(pid) - before[name] for name, pid in pids.items()}
    cpu["loadgen"] = loadgen
    for stream in streams:
        stream.check(sc.max_tokens)
    ttfts = [s.ttft_s for s in streams if s.ttft_s is not None]
    rates = [r for s in streams if (r := s.rate) is not None]
    tokens = sum(s.tokens for s in streams)
    good = [s for s in streams if s.ttft_s is not None and s.ttft_s <= GOOD_TTFT_S and (s.rate or 0) >= GOOD_RATE]
    return {
        "load_1min": load,
        "streams": len(streams),
        "ok": sum(s.error is None for s in streams),
        "errors": sorted({s.error for s in streams if s.error})[:3],
        "ttft_p50_s": percentile(ttfts, 0.5),
        "ttft_p95_s": percentile(ttfts, 0.95),
        "rate_p50": percentile(rates, 0.5),
        "rate_min": min(rates, default=None),
        "good_share": len(good) / len(streams),
        "first_tokens": len(ttfts),
        "tokens": tokens,
        "wall_s": wall_s,
        "cpu_s": cpu,
        "app_cpu_s_per_1k_tokens": cpu["app"] * 1000 / tokens if "app" in cpu and tokens else None,
        "ttft_s": ttfts,
    }


# -- processes -------------------------------------------------------------------------------------------------------


def _fn_index(url: str, *api_names: str) -> int:
    config = httpx.get(f"{url}/config", timeout=30).json()
    return int(next(d["id"] for d in config["dependencies"] if d.get("api_name") in api_names))


def start_targets(stack: ExitStack, rate: int, db_dir: Path, log_dir: Path) -> tuple[int, dict[str, Target]]:
    """A fake TGI at ``rate`` tok/s and the three apps in front of it; returns the fake's pid and the targets."""
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake_cmd = [
        sys.executable, "-m", "tests.support.fake_tgi", "--port", str(fake_port),
        "--first-token-ms", str(FIRST_TOKEN_MS), "--tokens-per-s", str(rate), "--tokens", "8000",
    ]  # fmt: skip
    fake = stack.enter_context(child(fake_cmd, dict(os.environ), log_dir / f"fake-{rate}.log"))
    wait_until_ready("fake TGI", fake, f"{fake_url}/health", lambda r: r.status_code == 200)
    commands = {
        "chatlens": [sys.executable, "app.py"],
        "template": [sys.executable, "-m", "benchmarks.spaces_template"],
        "floor": [sys.executable, "-m", "benchmarks.gradio_floor"],
    }
    procs, ports = {}, {}
    for name, cmd in commands.items():
        ports[name] = free_port()
        env = {
            **os.environ,
            "TGI_URL": fake_url,
            "RATE_LIMIT_IP_PER_MIN": "0",  # every simulated user comes from 127.0.0.1
            "DATABASE_URL": f"duckdb:///{db_dir}/chatlens-{rate}.duckdb",
            "DATA_DIR": str(db_dir / f"data-{rate}"),
            "GRADIO_SERVER_PORT": str(ports[name]),
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        procs[name] = stack.enter_context(child(cmd, env, log_dir / f"{name}-{rate}.log"))
    targets = {"direct": Target("direct", fake_url, fake.pid)}
    for name, proc in procs.items():
        url = f"http://127.0.0.1:{ports[name]}"
        probe = "/healthz" if name == "chatlens" else "/config"
        wait_until_ready(name, proc, f"{url}{probe}", lambda r: r.status_code == 200)
        targets[name] = Target(name, url, proc.pid, _fn_index(url, "chat", "respond"))
    targets["chatlens"].data = lambda m, n: [m, "", None, None, n, None, "", None, None, None, "", False, *[None] * 3]
    # message, its history (a State: the session's), system message, max new tokens, temperature, top-p
    targets["template"].data = lambda m, n: [m, None, "You are a friendly Chatbot.", n, 0.7, 0.95]
    targets["floor"].data = lambda m, n: [m, n]
    return fake.pid, targets


async def warm_up(targets: dict[str, Target], fake_pid: int) -> None:
    for target in targets.values():
        await measure(Scenario("warm-up", 2, 50, 5), target, fake_pid)


# -- results ---------------------------------------------------------------------------------------------------------


def spread(values: list[float | None], scale: float = 1.0, digits: int = 0) -> str:
    """median [min–max] of the runs' values."""
    got = [v * scale for v in values if v is not None]
    if not got:
        return "-"
    if len(got) == 1:
        return f"{got[0]:.{digits}f}"
    return f"{statistics.median(got):.{digits}f} [{min(got):.{digits}f}–{max(got):.{digits}f}]"


def plus(values: list[float | None], base: list[float | None]) -> str:
    """The per-run difference to the direct run, in ms: median [min–max]."""
    deltas: list[float | None] = [
        v - b if v is not None and b is not None else None for v, b in zip(values, base, strict=True)
    ]
    return spread(deltas, 1000)


def print_table(
    results: dict[str, dict[str, list[dict[str, Any]]]], scenarios: dict[str, Scenario], targets: tuple[str, ...]
) -> None:
    for key, by_target in results.items():
        sc = scenarios[key]
        runs = len(by_target["direct"])
        print(
            f"\n[{key}] {sc.users} users {'one after another' if sc.sequential else 'at once'}, "
            f"{sc.tokens_per_s} tok/s, {sc.max_tokens}-token replies; {runs} runs, median [min–max]"
        )

        def col(
            metric: Callable[[dict[str, Any]], float | None], target: str, runs: dict[str, Any] = by_target
        ) -> list[float | None]:
            return [metric(run) for run in runs[target]]

        rows: list[tuple[str, ...]] = [("metric", *targets)]
        rows.append(("complete & exact", *(
            f"{sum(r['ok'] for r in by_target[t])}/{sum(r['streams'] for r in by_target[t])}" for t in targets
        )))  # fmt: skip
        for label, name in (("TTFT p50 ms", "ttft_p50_s"), ("TTFT p95 ms", "ttft_p95_s")):
            rows.append((label, *(spread(col(itemgetter(name), t), 1000) for t in targets)))
            rows.append(
                (
                    "  over direct",
                    "",
                    *(plus(col(itemgetter(name), t), col(itemgetter(name), "direct")) for t in targets[1:]),
                )
            )
        rows.append(("tok/s p50", *(spread(col(lambda r: r["rate_p50"], t), 1, 1) for t in targets)))
        rows.append(
            ("TTFT ≤ 700 ms & ≥ 16 tok/s", *(spread(col(lambda r: r["good_share"], t), 100) + " %" for t in targets))
        )
        rows.append(
            (
                "app CPU-s / 1k tokens",
                "",
                *(spread(col(lambda r: r["app_cpu_s_per_1k_tokens"], t), 1, 3) for t in targets[1:]),
            )
        )
        rows.append(("app CPU-s", "", *(spread(col(lambda r: r["cpu_s"].get("app"), t), 1, 2) for t in targets[1:])))
        rows.append(("loadgen CPU-s", *(spread(col(lambda r: r["cpu_s"]["loadgen"], t), 1, 2) for t in targets)))
        rows.append(("fake CPU-s", *(spread(col(lambda r: r["cpu_s"]["fake"], t), 1, 2) for t in targets)))
        rows.append(("load avg (1 min)", *(spread(col(lambda r: r["load_1min"], t), 1, 2) for t in targets)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        for target in targets:
            errors = sorted({e for run in by_target[target] for e in run["errors"]})
            for error in errors[:3]:
                print(f"  {target} error: {error}")


def run_problems(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Every measurement (scenario × target × run) must have tested something."""
    return [
        problem
        for key, by_target in results.items()
        for target, runs in by_target.items()
        for number, measured in enumerate(runs, 1)
        if (problem := tested_nothing(f"[{key}] {target} run {number}", measured))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-turn cost: direct vs ChatLens vs the Spaces template vs floor.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default="1,8,32,128", help="comma-separated subset of 1,8,32,128")
    parser.add_argument("--quick", action="store_true", help="short replies, 3 single users (a smoke run)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of " + ",".join(TARGETS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = QUICK if args.quick else SCENARIOS
    chosen = [table[key.strip()] for key in args.scenarios.split(",")]
    targets_wanted = ["direct", *(t for t in TARGETS[1:] if t in args.targets.split(","))]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.now(UTC)
    name = f"bench_turns-{started:%Y%m%dT%H%M%SZ}"
    log_dir = RESULTS_DIR / f"{name}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {sc.key: {t: [] for t in targets_wanted} for sc in chosen}
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as tmp, ExitStack() as stack:
        rates = sorted({sc.tokens_per_s for sc in chosen})
        print(f"starting fakes and apps for {rates} tok/s …", file=sys.stderr, flush=True)
        started_targets = {rate: start_targets(stack, rate, Path(tmp), log_dir) for rate in rates}
        for fake_pid, targets in started_targets.values():
            asyncio.run(warm_up(targets, fake_pid))
        for run in range(args.runs):
            for sc in chosen:
                fake_pid, targets = started_targets[sc.tokens_per_s]
                for target in targets_wanted:
                    print(f"run {run + 1}/{args.runs} [{sc.key}] {target} …", file=sys.stderr, flush=True)
                    results[sc.key][target].append(asyncio.run(measure(sc, targets[target], fake_pid)))
    revision = git_revision()
    print(
        f"ChatLens {revision}, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        "load average at start "
        + " / ".join(f"{v:.2f}" for v in load_at_start)
        + f"; fake TGI {FIRST_TOKEN_MS} ms to first token"
    )
    print_table(results, table, tuple(targets_wanted))
    out = args.out or RESULTS_DIR / f"{name}.json"
    report = {
        "started": started.isoformat(),
        "revision": revision,
        "argv": sys.argv[1:],
        "scenarios": [asdict(sc) for sc in chosen],
        "results": results,
    }
    out.write_text(json.dumps(report, indent=1))
    print(f"\nJSON: {out}")
    sys.exit(verdict(run_problems(results)))


if __name__ == "__main__":
    main()
