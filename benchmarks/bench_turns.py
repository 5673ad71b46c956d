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
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_stream import (
    FIRST_TOKEN_MS,
    RESULTS_DIR,
    StreamResult,
    child,
    direct_stream,
    free_port,
    git_revision,
    percentile,
    process_cpu_s,
    queue_call,
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
    """One ``chat`` call over Gradio's raw queue protocol, as ``user``; the reply is the first output value
    (ChatLens, floor; the template's chat API returns it first too)."""
    headers = {"Cookie": user.cookie} if user.cookie else None
    return await queue_call(target.url, target.fn_index, target.data(message, max_tokens), user.session, headers)


async def burst(
    one: Callable[[int], Awaitable[StreamResult]],
    count: int,
    sequential: bool,
    timeout_s: float,
    max_tokens: int,
    pids: dict[str, int],
) -> tuple[list[StreamResult], float, dict[str, float]]:
    """``one(0)`` … ``one(count - 1)``, all at once or one after another, each within ``timeout_s``; their text
    checked; the wall time and the CPU-s of ``pids`` (+0.5 s for the app's commits) and of this process."""

    async def bounded(index: int) -> StreamResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                return await one(index)
        except TimeoutError:
            return StreamResult(started=started, error="timed out")

    before = {name: process_cpu_s(pid) for name, pid in pids.items()}
    loadgen_before, t0 = time.process_time(), time.perf_counter()
    if sequential:
        streams = [await bounded(i) for i in range(count)]
    else:
        streams = list(await asyncio.gather(*(bounded(i) for i in range(count))))
    wall_s = time.perf_counter() - t0
    loadgen = time.process_time() - loadgen_before
    await asyncio.sleep(0.5)
    cpu = {name: process_cpu_s(pid) - before[name] for name, pid in pids.items()}
    cpu["loadgen"] = loadgen
    for stream in streams:
        stream.check(max_tokens)
    return streams, wall_s, cpu


async def measure(sc: Scenario, target: Target, fake_pid: int) -> dict[str, Any]:
    """Load pages (not measured), then the burst; CPU read around the burst (+0.5 s for the app's commits)."""
    direct = target.name == "direct"
    users = [] if direct else [await load_page(target) for _ in range(sc.users)]
    await asyncio.sleep(1.0)  # the page loads settle
    load = os.getloadavg()[0]
    messages = [{"role": "user", "content": "go"}]

    async def one(index: int) -> StreamResult:
        if direct:
            return await direct_stream(target.url, messages, sc.max_tokens)
        return await queue_stream(target, users[index], "go", sc.max_tokens)

    pids = {"fake": fake_pid} if direct else {"app": target.pid, "fake": fake_pid}
    timeout_s = 30 + 3 * sc.max_tokens / sc.tokens_per_s
    streams, wall_s, cpu = await burst(one, sc.users, sc.sequential, timeout_s, sc.max_tokens, pids)
    rates = [r for s in streams if (r := s.rate) is not None]
    good = [s for s in streams if s.ttft_s is not None and s.ttft_s <= GOOD_TTFT_S and (s.rate or 0) >= GOOD_RATE]
    return {
        **burst_stats(streams, cpu, load),
        "rate_p50": percentile(rates, 0.5),
        "rate_min": min(rates, default=None),
        "good_share": len(good) / len(streams),
        "wall_s": wall_s,
        "ttft_s": [s.ttft_s for s in streams if s.ttft_s is not None],
    }


def burst_stats(streams: list[StreamResult], cpu: dict[str, float], load: float) -> dict[str, Any]:
    """What every measurement reports of its streams: counts, errors, TTFT, tokens, CPU and the load before it."""
    ttfts = [s.ttft_s for s in streams if s.ttft_s is not None]
    tokens = sum(s.tokens for s in streams)
    return {
        "load_1min": load,
        "streams": len(streams),
        "ok": sum(s.error is None for s in streams),
        "errors": sorted({s.error for s in streams if s.error})[:3],
        "ttft_p50_s": percentile(ttfts, 0.5),
        "ttft_p95_s": percentile(ttfts, 0.95),
        "first_tokens": len(ttfts),
        "tokens": tokens,
        "cpu_s": cpu,
        "app_cpu_s_per_1k_tokens": cpu["app"] * 1000 / tokens if "app" in cpu and tokens else None,
    }


# -- processes -------------------------------------------------------------------------------------------------------


def chatlens_chat_inputs(message: str, max_tokens: int) -> list[Any]:
    """ChatLens's ``chat`` inputs for ``message`` in a new conversation (empty id), other settings left unset."""
    return [message, "", None, None, max_tokens, None, "", None, None, None, "", False, *[None] * 3]


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
    targets["chatlens"].data = chatlens_chat_inputs
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
        title = f"[{key}] {sc.users} users {'one after another' if sc.sequential else 'at once'}, {sc.tokens_per_s}"
        good = [
            ("tok/s p50", *(spread([r["rate_p50"] for r in by_target[t]], 1, 1) for t in targets)),
            (
                "TTFT ≤ 700 ms & ≥ 16 tok/s",
                *(spread([r["good_share"] for r in by_target[t]], 100) + " %" for t in targets),
            ),
        ]  # fmt: skip
        print_runs(f"{title} tok/s, {sc.max_tokens}-token replies", by_target, ("metric", *targets), targets, good)


def print_runs(
    title: str,
    by_target: dict[str, list[dict[str, Any]]],
    header: tuple[str, ...],
    targets: tuple[str, ...],
    middle: list[tuple[str, ...]],
) -> None:
    """One scenario's table over runs (``targets[0]`` is direct, the others go through an app): streams complete,
    TTFT and its difference to direct, then ``middle``, then CPU and load; then up to three errors per target."""
    print(f"\n{title}; {len(by_target[targets[0]])} runs, median [min–max]")

    def col(name: str, target: str) -> list[float | None]:
        return [itemgetter(name)(run) for run in by_target[target]]

    rows: list[tuple[str, ...]] = [header]
    rows.append(("complete & exact", *(
        f"{sum(r['ok'] for r in by_target[t])}/{sum(r['streams'] for r in by_target[t])}" for t in targets
    )))  # fmt: skip
    for label, name in (("TTFT p50 ms", "ttft_p50_s"), ("TTFT p95 ms", "ttft_p95_s")):
        rows.append((label, *(spread(col(name, t), 1000) for t in targets)))
        rows.append(("  over direct", "", *(plus(col(name, t), col(name, targets[0])) for t in targets[1:])))
    rows += middle
    rows.append(("app CPU-s / 1k tokens", "", *(spread(col("app_cpu_s_per_1k_tokens", t), 1, 3) for t in targets[1:])))
    rows.append(("app CPU-s", "", *(spread([r["cpu_s"].get("app") for r in by_target[t]], 1, 2) for t in targets[1:])))
    rows.append(("loadgen CPU-s", *(spread([r["cpu_s"]["loadgen"] for r in by_target[t]], 1, 2) for t in targets)))
    rows.append(("fake CPU-s", *(spread([r["cpu_s"]["fake"] for r in by_target[t]], 1, 2) for t in targets)))
    rows.append(("load avg (1 min)", *(spread(col("load_1min", t), 1, 2) for t in targets)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    for target in targets:
        for error in sorted({e for run in by_target[target] for e in run["errors"]})[:3]:
            print(f"  {target} error: {error}")


def begin(
    prefix: str, chosen: list[Any], targets: Sequence[str]
) -> tuple[datetime, str, Path, dict[str, dict[str, list[dict[str, Any]]]], tuple[float, float, float]]:
    """A run's start: its time, name (``<prefix>-<UTC time>``), log folder, empty results and load average."""
    started = datetime.now(UTC)
    name = f"{prefix}-{started:%Y%m%dT%H%M%SZ}"
    log_dir = RESULTS_DIR / f"{name}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {sc.key: {t: [] for t in targets} for sc in chosen}
    return started, name, log_dir, results, os.getloadavg()


def print_header(started: datetime, load_at_start: tuple[float, float, float], fake: str = "") -> str:
    """The line above the tables: revision, time, CPUs, load at start, the fake; returns the revision."""
    revision = git_revision()
    print(
        f"ChatLens {revision}, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average at start "
        + " / ".join(f"{v:.2f}" for v in load_at_start)
        + f"; fake TGI {FIRST_TOKEN_MS} ms to first token{fake}"
    )
    return revision


def finish(
    out: Path, started: datetime, revision: str, chosen: list[Any], results: dict[str, dict[str, list[dict[str, Any]]]]
) -> None:
    """Write the JSON report, then exit: 1 with a line per measurement that tested nothing, else 0."""
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

    started, name, log_dir, results, load_at_start = begin("bench_turns", chosen, targets_wanted)
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
    revision = print_header(started, load_at_start)
    print_table(results, table, tuple(targets_wanted))
    finish(args.out or RESULTS_DIR / f"{name}.json", started, revision, chosen, results)


if __name__ == "__main__":
    main()
