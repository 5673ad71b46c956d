"""Streaming benchmark: what ChatLens adds between a model server and its users, measured under concurrency.

Per scenario, three processes on 127.0.0.1: a fake TGI (``python -m tests.support.fake_tgi`` at the scenario's token
rate), the app (``python app.py``, fresh DuckDB file, pointed at that fake) and this process as load generator (asyncio
+ httpx).
The load runs directly against the fake, then through a freshly started app; all users of a run start at once, after
one warm-up request.

The load generator speaks HTTP through ``benchmarks.rawhttp`` (httpx's pool costs seconds of CPU at 128 streams).

* Via the app, a raw client of Gradio's queue protocol (gradio_client polls): ``GET /config`` gives the fn index of
  ``api_name="chat"``, ``POST /gradio_api/queue/join`` starts the call, ``GET /gradio_api/queue/data`` is read as SSE.
  The first ``process_generating`` holds the whole text, later ones ``[["append", [], text]]`` diffs, and
  ``process_completed`` the final text, which must extend what the diffs built.
* Directly: ``POST /v1/chat/completions`` with ``"stream": true``, reading the ``data:`` lines.

Per stream: TTFT = request start → first non-empty text; delivered rate = (tokens at the last text − tokens at the
first text) / (time between them), i.e. (n-1)/Δt when the first text is one token (tokens are the fake's words
``w0 w1 …``); the reply must be exactly ``w0 … w{max_tokens-1}``. Per run: CPU-seconds (utime+stime from
``/proc/<pid>/stat``) of the app, the fake and this process, and app CPU-seconds per 1,000 delivered tokens.

Scenarios and targets: (a) 32 users, 50 tok/s, 200-token replies: app TTFT p50 ≤ direct p50 + 30 ms, ≤ 0.25 app
CPU-s per 1,000 tokens; (b) 128 users at 20 tok/s: ≥ 95 % get TTFT ≤ 1 s and ≥ 16 tok/s; (c) one user (baseline);
(d) an 8,000-token reply at 200 tok/s after 20 earlier turns of one conversation: ≥ 95 % of the direct rate;
(e) as (b), but the 128 users arrive over 2 s and each asks for two replies in a row (a held load, not a burst).
Output: a table on stdout; JSON and the children's logs in ``bench-results/``.

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_stream [--quick] [--scenarios a,b,c,d,e]``.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import rawhttp

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench-results"
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # longer than Gradio's 15 s SSE heartbeat
FIRST_TOKEN_MS = 50
PR_SET_PDEATHSIG = 1
SHARE = "ttft_le_1s_and_rate_ge_16_share"
Row = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    users: int
    tokens_per_s: float
    max_tokens: int
    history_turns: int = 0
    history_max_tokens: int = 20
    ramp_s: float = 0.0  # users start spread evenly over this time (0: all at once)
    turns: int = 1  # replies each user asks for, one after the other

    @property
    def limit_s(self) -> float:
        """Longest a stream may take before it counts as failed."""
        return 30 + 3 * self.max_tokens / self.tokens_per_s * self.turns + self.ramp_s


def scenarios(quick: bool) -> dict[str, Scenario]:
    if quick:
        return {
            "a": Scenario("a", "4 users, 50 tok/s, 50-token replies", 4, 50, 50),
            "b": Scenario("b", "8 users, 20 tok/s, 40-token replies", 8, 20, 40),
            "c": Scenario("c", "1 user, 50 tok/s, 50-token reply", 1, 50, 50),
            "d": Scenario("d", "800-token reply after 3 turns, 200 tok/s", 1, 200, 800, history_turns=3),
            "e": Scenario("e", "8 users held, 2 replies each, 20 tok/s", 8, 20, 40, ramp_s=0.5, turns=2),
        }
    return {
        "a": Scenario("a", "32 users, 50 tok/s, 200-token replies", 32, 50, 200),
        "b": Scenario("b", "128 users, 20 tok/s, 200-token replies", 128, 20, 200),
        "e": Scenario(
            "e", "128 users held: arriving over 2 s, 2 replies each, 20 tok/s", 128, 20, 200, ramp_s=2, turns=2
        ),
        "c": Scenario("c", "1 user, 50 tok/s, 200-token reply (baseline)", 1, 50, 200),
        "d": Scenario("d", "8,000-token reply after 20 turns, 200 tok/s", 1, 200, 8000, history_turns=20),
    }


# -- one stream, as its user sees it ----------------------------------------------------------------------------------


@dataclass
class StreamResult:
    started: float
    ttft_s: float | None = None
    first_text_at: float | None = None
    last_text_at: float | None = None
    first_tokens: int = 0
    tokens: int = 0
    frames: int = 0
    parts: list[str] = field(default_factory=list)
    error: str | None = None

    def add(self, piece: str, now: float) -> None:
        """More text arrived (the fake's tokens are whole words: ``w0``, `` w1``, …)."""
        if not piece:
            return
        self.parts.append(piece)
        self.tokens += len(piece.split())
        self.frames += 1
        self.last_text_at = now
        if self.first_text_at is None:
            self.first_text_at, self.ttft_s, self.first_tokens = now, now - self.started, self.tokens

    def extend_to(self, whole: str, now: float) -> None:
        """A whole-text value: it must extend what arrived so far."""
        so_far = "".join(self.parts)
        if whole.startswith(so_far):
            self.add(whole[len(so_far) :], now)
        else:
            self.error = f"whole text does not extend the streamed text ({len(whole)} vs {len(so_far)} chars)"

    def check(self, max_tokens: int) -> None:
        if self.error is None and "".join(self.parts) != " ".join(f"w{i}" for i in range(max_tokens)):
            self.error = f"reply is not w0…w{max_tokens - 1} ({self.tokens} tokens)"

    @property
    def rate(self) -> float | None:
        if self.first_text_at is None or self.last_text_at is None or self.last_text_at <= self.first_text_at:
            return None
        return (self.tokens - self.first_tokens) / (self.last_text_at - self.first_text_at)


async def app_stream(
    base: str, fn_index: int, message: str, conversation_id: str, max_tokens: int, cookie: str = ""
) -> StreamResult:
    """One call of the app's ``chat`` API over the raw queue protocol, as the user whose session is ``cookie``."""
    data = [message, conversation_id, None, None, max_tokens, None, "", None, None, None, "", False, *[None] * 3]
    return await queue_call(base, fn_index, data, uuid.uuid4().hex, {"Cookie": cookie} if cookie else None)


async def queue_call(
    base: str, fn_index: int, data: list[Any], session: str, headers: dict[str, str] | None
) -> StreamResult:
    """One call over Gradio's raw queue protocol (join, then the SSE of ``queue/data``); the reply is the first
    output value."""
    result = StreamResult(started=time.perf_counter())
    join = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    try:
        await rawhttp.post_json(f"{base}/gradio_api/queue/join", join, headers)
        async for line in rawhttp.lines(f"{base}/gradio_api/queue/data?session_hash={session}", headers=headers):
            if not line.startswith("data:"):
                continue
            event, now = json.loads(line[5:]), time.perf_counter()
            kind = event.get("msg")
            if kind == "process_generating":
                apply_output(result, event["output"]["data"][0], now)
            elif kind == "process_completed":
                if event.get("success"):
                    final = event["output"]["data"][0]
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


def apply_output(result: StreamResult, data: Any, now: float) -> None:
    """A ``process_generating`` value: the whole text (first message) or a list of diff operations on it."""
    if isinstance(data, str):
        result.extend_to(data, now)
        return
    for op, path, value in data:
        if op == "append" and path == []:
            result.add(value, now)
        elif op == "replace" and path == []:
            result.extend_to(value, now)
        else:
            result.error = f"unexpected diff {op} {path}"


async def direct_stream(base: str, messages: list[dict[str, str]], max_tokens: int) -> StreamResult:
    """One streamed chat completion straight from the fake TGI."""
    body = {"model": "tgi", "messages": messages, "max_tokens": max_tokens, "stream": True}
    return await completion_stream(f"{base}/v1/chat/completions", body, "upstream error")


async def completion_stream(
    url: str, body: dict[str, Any], error_label: str, headers: dict[str, str] | None = None
) -> StreamResult:
    """One streamed ``/v1/chat/completions`` call (``body`` has ``"stream": true``), read as OpenAI's SSE: ``data:``
    chunks until ``[DONE]``; an ``error`` chunk is recorded as ``<error_label>: …``."""
    result = StreamResult(started=time.perf_counter())
    try:
        async for line in rawhttp.lines(url, "POST", body, headers):
            if not line.startswith("data:"):
                continue
            data, now = line[5:].strip(), time.perf_counter()
            if data == "[DONE]":
                return result
            chunk = json.loads(data)
            if "error" in chunk:
                result.error = f"{error_label}: {chunk['error']}"
            for choice in chunk.get("choices") or []:
                result.add((choice.get("delta") or {}).get("content") or "", now)
        result.error = "stream ended without [DONE]"
    except (OSError, rawhttp.HttpError, ValueError, KeyError) as exc:
        result.error = repr(exc)
    return result


# -- one load run ----------------------------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LoadRun:
    streams: list[StreamResult]
    wall_s: float
    cpu_s: dict[str, float]


async def run_load(sc: Scenario, call: Callable[[], Awaitable[StreamResult]], pids: dict[str, int]) -> LoadRun:
    """Start the scenario's streams at once, wait for all and check their text; CPU is read around the whole run."""

    async def user(index: int) -> list[StreamResult]:
        await asyncio.sleep(index * sc.ramp_s / sc.users)
        return [await bounded() for _ in range(sc.turns)]

    async def bounded() -> StreamResult:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(sc.limit_s):
                return await call()
        except TimeoutError:
            return StreamResult(started=started, error=f"no end within {sc.limit_s:.0f} s")

    before = {name: process_cpu_s(pid) for name, pid in pids.items()}
    loadgen_before, t0 = time.process_time(), time.perf_counter()
    streams = [stream for turns in await asyncio.gather(*(user(i) for i in range(sc.users))) for stream in turns]
    wall_s = time.perf_counter() - t0
    await asyncio.sleep(0.5)  # the app's write-behind recorder commits the last replies
    cpu = {name: process_cpu_s(pid) - before[name] for name, pid in pids.items()}
    cpu["loadgen"] = time.process_time() - loadgen_before
    for stream in streams:
        stream.check(sc.max_tokens)
    return LoadRun(list(streams), wall_s, cpu)


def history_messages(turns: int, reply_tokens: int) -> list[dict[str, str]]:
    reply = " ".join(f"w{i}" for i in range(reply_tokens))
    messages = []
    for i in range(turns):
        messages += [{"role": "user", "content": f"turn {i}"}, {"role": "assistant", "content": reply}]
    return messages


async def measure_direct(sc: Scenario, fake_url: str, fake_pid: int) -> LoadRun:
    messages = [*history_messages(sc.history_turns, sc.history_max_tokens), {"role": "user", "content": "go"}]
    await direct_stream(fake_url, messages[-1:], 2)  # warm-up: first-use costs of both processes
    return await run_load(sc, lambda: direct_stream(fake_url, messages, sc.max_tokens), {"fake": fake_pid})


async def measure_app(sc: Scenario, app_url: str, pids: dict[str, int]) -> tuple[LoadRun, list[StreamResult]]:
    """A warm-up call, the earlier turns of the conversation one by one (if any), then the measured load."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        response = await http.get(f"{app_url}/config")
    config = response.json()
    # One user (one session cookie) sends every call, so the earlier turns and the load share one conversation.
    cookie = "; ".join(f"{name}={value}" for name, value in response.cookies.items())
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
    await app_stream(app_url, fn_index, "warm-up", "", 2, cookie)
    conversation_id = str(uuid.uuid4()) if sc.history_turns else ""  # the app accepts any new UUID
    earlier = []
    for turn in range(sc.history_turns):
        async with asyncio.timeout(30):
            reply = await app_stream(app_url, fn_index, f"turn {turn}", conversation_id, sc.history_max_tokens, cookie)
        reply.check(sc.history_max_tokens)
        earlier.append(reply)
    run = await run_load(sc, lambda: app_stream(app_url, fn_index, "go", conversation_id, sc.max_tokens, cookie), pids)
    return run, earlier


# -- processes -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the benchmark dies, even by SIGKILL (no orphans)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextmanager
def child(cmd: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process logging to ``log_path``; terminated (killed if it must) on exit, whatever happened."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_until_ready(
    name: str, proc: subprocess.Popen[bytes], url: str, ready: Callable[[httpx.Response], bool]
) -> None:
    deadline = time.monotonic() + 90
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode} before it was ready")
            try:
                if ready(http.get(url)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{name}: {url} not ready after 90 s")


def run_scenario(sc: Scenario, db_dir: Path, log_dir: Path, app_env: dict[str, str]) -> dict[str, Any]:
    """A fake TGI at the scenario's rate → the load directly → a fresh app → the same load through the app."""
    with ExitStack() as stack:
        fake_port, app_port = free_port(), free_port()
        fake_url, app_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{app_port}"
        options = ["--first-token-ms", str(FIRST_TOKEN_MS), "--tokens-per-s", str(sc.tokens_per_s), "--tokens", "8000"]
        fake_cmd = [sys.executable, "-m", "tests.support.fake_tgi", "--port", str(fake_port), *options]
        fake = stack.enter_context(child(fake_cmd, dict(os.environ), log_dir / f"fake-{sc.key}.log"))
        wait_until_ready("fake TGI", fake, f"{fake_url}/health", lambda r: r.status_code == 200)
        direct = asyncio.run(measure_direct(sc, fake_url, fake.pid))

        env = {
            **os.environ,
            "RATE_LIMIT_USER_PER_MIN": "0",  # the load is one user at a far higher rate than a person types
            "RATE_LIMIT_IP_PER_MIN": "0",
            **app_env,
            "TGI_URL": fake_url,
            "DATABASE_URL": f"duckdb:///{db_dir}/bench-{sc.key}.duckdb",
            "GRADIO_SERVER_PORT": str(app_port),
            "GRADIO_SERVER_NAME": "127.0.0.1",
        }
        app = stack.enter_context(child([sys.executable, "app.py"], env, log_dir / f"app-{sc.key}.log"))
        wait_until_ready(
            "app", app, f"{app_url}/healthz", lambda r: r.status_code == 200 and r.json()["model_server"] == "ok"
        )
        via_app, earlier = asyncio.run(measure_app(sc, app_url, {"app": app.pid, "fake": fake.pid}))
    return {
        "scenario": asdict(sc),
        "direct": summarize(direct),
        "app": summarize(via_app),
        "earlier_turns_failed": sum(s.error is not None for s in earlier),
    }


# -- results ---------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summarize(run: LoadRun) -> dict[str, Any]:
    ttfts = [s.ttft_s for s in run.streams if s.ttft_s is not None]
    rates = [r for s in run.streams if (r := s.rate) is not None]
    tokens = sum(s.tokens for s in run.streams)
    good = [s for s in run.streams if s.ttft_s is not None and s.ttft_s <= 1.0 and (s.rate or 0) >= 16]
    return {
        "streams": len(run.streams),
        "ok": sum(s.error is None for s in run.streams),
        "errors": sorted({s.error for s in run.streams if s.error})[:5],
        "ttft_p50_s": percentile(ttfts, 0.5),
        "ttft_p95_s": percentile(ttfts, 0.95),
        "ttft_max_s": max(ttfts, default=None),
        "rate_p50": percentile(rates, 0.5),
        "rate_min": min(rates, default=None),
        SHARE: len(good) / len(run.streams),
        "first_tokens": len(ttfts),
        "tokens": tokens,
        "frames_per_stream": sum(s.frames for s in run.streams) / len(run.streams),
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "app_cpu_s_per_1k_tokens": run.cpu_s["app"] * 1000 / tokens if "app" in run.cpu_s and tokens else None,
        "ttft_s": ttfts,
        "rates": rates,
    }


def tested_nothing(label: str, measured: dict[str, Any]) -> str | None:
    """Why one measurement (``streams``, ``ok``, ``first_tokens``) tested nothing, or None if it tested something:
    no stream showed a first token, or no more than half of the streams completed exact. A benchmark whose load
    never reached the model (rate limits, a dead server, a wrong fn index) must not print a table that looks fine."""
    streams, ok, first = measured["streams"], measured["ok"], measured["first_tokens"]
    if not streams:
        return f"{label}: no streams were sent"
    if not first:
        return f"{label}: none of {streams} streams showed a first token"
    if ok * 2 <= streams:
        return f"{label}: only {ok} of {streams} streams completed exact (more than half must)"
    return None


def verdict(problems: list[str]) -> int:
    """Print why the run tested nothing (one line each) and return the exit status: 1 if it did, else 0."""
    for problem in problems:
        print(f"TESTED NOTHING: {problem}")
    return 1 if problems else 0


def run_problems(results: list[dict[str, Any]]) -> list[str]:
    """Every scenario's direct and via-app measurement must have tested something."""
    problems = []
    for result in results:
        for side in ("direct", "app"):
            problem = tested_nothing(f"({result['scenario']['key']}) {side}", result[side])
            if problem:
                problems.append(problem)
    return problems


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def row(metric: str, direct: str, app: str, target: str = "", ok: bool | None = None) -> Row:
    return metric, direct, app, target, "" if ok is None else "PASS" if ok else "FAIL"


def table_rows(result: dict[str, Any]) -> list[Row]:
    """(metric, direct, via app, target, PASS/FAIL) for one scenario; targets apply to the app column."""
    key, d, a = result["scenario"]["key"], result["direct"], result["app"]

    def pair(show: Callable[[dict[str, Any]], str]) -> tuple[str, str]:
        return show(d), show(a)

    all_ok = a["ok"] == a["streams"] and d["ok"] == d["streams"] and not result["earlier_turns_failed"]
    rows = [row("streams complete & exact", *pair(lambda r: f"{r['ok']}/{r['streams']}"), "all", all_ok)]
    if key in ("b", "e"):
        rows.append(
            row("users: TTFT ≤ 1 s & ≥ 16 tok/s", *pair(lambda r: f"{r[SHARE]:.0%}"), "≥ 95 %", a[SHARE] >= 0.95)
        )
    if key == "d":
        ratio = (a["rate_p50"] or 0) / (d["rate_p50"] or float("inf"))
        rows.append(row("delivered rate, app / direct", "100%", f"{ratio:.1%}", "≥ 95 %", ratio >= 0.95))
    ttft_ok = (a["ttft_p50_s"] or float("inf")) <= (d["ttft_p50_s"] or 0) + 0.030
    cpu = a["app_cpu_s_per_1k_tokens"]
    return [
        *rows,
        row("TTFT p50", *pair(lambda r: ms(r["ttft_p50_s"])), *(("≤ direct + 30 ms", ttft_ok) if key == "a" else ())),
        row("TTFT p95 / max", *pair(lambda r: f"{ms(r['ttft_p95_s'])} / {ms(r['ttft_max_s'])}")),
        row("tokens/s per stream p50 / min", *pair(lambda r: f"{num(r['rate_p50'])} / {num(r['rate_min'])}")),
        row("text messages per stream", *pair(lambda r: num(r["frames_per_stream"]))),
        row(
            "app CPU-s per 1,000 tokens",
            "",
            num(cpu),
            *(("≤ 0.25", cpu is not None and cpu <= 0.25) if key == "a" else ()),
        ),
        row(
            "CPU-s app / fake / loadgen",
            *pair(lambda r: " / ".join(num(r["cpu_s"].get(p)) for p in ("app", "fake", "loadgen"))),
        ),
        row("wall of the run", *pair(lambda r: f"{r['wall_s']:.2f} s")),
    ]


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("metric", "direct", "via app", "target", "result")
    for result in results:
        sc = result["scenario"]
        rows = [header, *table_rows(result)]
        widths = [max(len(cells[i]) for cells in rows) for i in range(len(header))]
        print(f"\n({sc['key']}) {sc['title']}: fresh fake TGI and app; direct run first, then via the app")
        for cells in rows:
            print("  " + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
        for side in ("direct", "app"):
            for error in result[side]["errors"]:
                print(f"  {side} error: {error}")
        if result["earlier_turns_failed"]:
            print(f"  earlier turns failed: {result['earlier_turns_failed']}")


def git_revision() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        " (modified files)" if git("status", "--porcelain", "-uno", "--", ".", ":!benchmarks") else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Streaming benchmark of ChatLens against a fake TGI.")
    parser.add_argument("--quick", action="store_true", help="smoke run: few users, short replies (~40 s)")
    parser.add_argument(
        "--scenarios", default="a,b,e,c,d", help="comma-separated subset of a,b,c,d,e, run in that order"
    )
    parser.add_argument("--app-env", action="append", default=[], metavar="NAME=VALUE", help="extra env for the app")
    parser.add_argument("--out", type=Path, help="JSON file (default: bench-results/bench_stream-<UTC time>.json)")
    args = parser.parse_args()
    available = scenarios(args.quick)
    chosen = [available[key.strip()] for key in args.scenarios.split(",")]
    app_env = dict(item.split("=", 1) for item in args.app_env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the children are stopped on SIGTERM too

    started = datetime.now(UTC)
    name = f"bench_stream-{started:%Y%m%dT%H%M%SZ}"
    log_dir = RESULTS_DIR / f"{name}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as db_dir:
        for sc in chosen:
            print(f"({sc.key}) {sc.title} …", file=sys.stderr, flush=True)
            results.append(run_scenario(sc, Path(db_dir), log_dir, app_env))
    print(f"ChatLens {git_revision()}, {os.cpu_count()} CPUs, app env {app_env or 'default'}; logs in {log_dir}")
    print_table(results)
    out = args.out or RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "started": started.isoformat(),
        "revision": git_revision(),
        "argv": sys.argv[1:],
        "cpus": os.cpu_count(),
        "app_env": app_env,
        "results": results,
    }
    out.write_text(json.dumps(report, indent=1))
    print(f"\nJSON: {out}")
    sys.exit(verdict(run_problems(results)))


if __name__ == "__main__":
    main()
