"""Streaming benchmark: what ChatLens adds between a model server and a user, measured under concurrency.

Three processes per scenario: a fake TGI (``python -m tests.fake_tgi``, started with the scenario's token rate),
the app (``python app.py`` on a fresh DuckDB file, pointed at that fake) and this process as load generator
(asyncio + httpx, everything on 127.0.0.1). Each scenario first runs its load directly against the fake, then
starts a fresh app and runs the same load through it, with every user starting at once.

* Through the app: a raw client of Gradio's queue protocol (not gradio_client, which polls): ``GET /config`` gives
  the fn index of ``api_name="chat"``, ``POST /gradio_api/queue/join`` starts the call and
  ``GET /gradio_api/queue/data`` is read as SSE. The first ``process_generating`` carries the whole text, later
  ones ``[["append", [], text]]`` diffs, ``process_completed`` the whole final text (checked against the diffs).
* Directly: ``POST /v1/chat/completions`` with ``stream: true``, reading the ``data:`` lines.

Per stream: TTFT = request start → first non-empty text; tokens are the fake's words ``w0 w1 …``; delivered rate =
(tokens at last text − tokens at first text) / (time of last text − time of first text), i.e. (n-1)/Δt when the
first text is one token. Per run: CPU-seconds (utime+stime from ``/proc/<pid>/stat``) of the app, the fake and
this process over the run, and app CPU-seconds per 1,000 delivered tokens. Every reply is checked to be exactly
``w0 … w{max_tokens-1}``.

Scenarios (targets from the issue): (a) 32 users, 50 tok/s, 200-token replies: app TTFT p50 ≤ direct p50 + 30 ms
and ≤ 0.25 app CPU-s per 1,000 tokens; (b) 128 users at 20 tok/s: ≥ 95 % get TTFT ≤ 1 s and ≥ 16 tok/s;
(c) 1 user baseline; (d) an 8,000-token reply at 200 tok/s after 20 turns of the same conversation, delivered at
≥ 95 % of the direct rate. Results: a table on stdout and JSON in ``bench-results/``.

Run: ``.venv/bin/python -m benchmarks.bench_stream [--quick] [--scenarios a,b,c,d]`` from the repo root.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import signal
import socket
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

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench-results"
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # longer than Gradio's 15 s SSE heartbeat
FIRST_TOKEN_MS = 50
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    users: int
    tokens_per_s: float
    max_tokens: int
    history_turns: int = 0
    history_max_tokens: int = 20


def scenarios(quick: bool) -> dict[str, Scenario]:
    if quick:
        return {
            "a": Scenario("a", "4 users, 50 tok/s, 50-token replies", 4, 50, 50),
            "b": Scenario("b", "8 users, 20 tok/s, 40-token replies", 8, 20, 40),
            "c": Scenario("c", "1 user, 50 tok/s, 50-token reply", 1, 50, 50),
            "d": Scenario("d", "800-token reply after 3 turns, 200 tok/s", 1, 200, 800, history_turns=3),
        }
    return {
        "a": Scenario("a", "32 users, 50 tok/s, 200-token replies", 32, 50, 200),
        "b": Scenario("b", "128 users, 20 tok/s, 200-token replies", 128, 20, 200),
        "c": Scenario("c", "1 user, 50 tok/s, 200-token reply (baseline)", 1, 50, 200),
        "d": Scenario("d", "8,000-token reply after 20 turns, 200 tok/s", 1, 200, 8000, history_turns=20),
    }


# -- one stream, as the user sees it -----------------------------------------------------------------------------


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
        """Text arrived (words are whole tokens: the fake sends ``w0``, `` w1``, …)."""
        if not piece:
            return
        self.parts.append(piece)
        self.tokens += len(piece.split())
        self.frames += 1
        self.last_text_at = now
        if self.first_text_at is None:
            self.first_text_at, self.ttft_s, self.first_tokens = now, now - self.started, self.tokens

    def finish(self, final: str, now: float) -> None:
        """The full final text: must extend what the increments built."""
        so_far = "".join(self.parts)
        if not final.startswith(so_far):
            self.error = f"final text does not extend the streamed text ({len(final)} vs {len(so_far)} chars)"
        else:
            self.add(final[len(so_far) :], now)

    def check(self, max_tokens: int) -> None:
        if self.error is None and "".join(self.parts) != " ".join(f"w{i}" for i in range(max_tokens)):
            self.error = f"reply is not w0…w{max_tokens - 1}: {self.tokens} tokens"

    @property
    def rate(self) -> float | None:
        if self.first_text_at is None or self.last_text_at is None or self.last_text_at <= self.first_text_at:
            return None
        return (self.tokens - self.first_tokens) / (self.last_text_at - self.first_text_at)


async def app_stream(
    http: httpx.AsyncClient, base: str, fn_index: int, message: str, conversation_id: str, max_tokens: int
) -> StreamResult:
    """One call of the app's ``chat`` API over the raw queue protocol."""
    session = uuid.uuid4().hex
    result = StreamResult(started=time.perf_counter())
    join = {
        "data": [message, conversation_id, None, None, max_tokens, None],
        "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None,
    }
    try:
        (await http.post(f"{base}/gradio_api/queue/join", json=join)).raise_for_status()
        url = f"{base}/gradio_api/queue/data"
        async with http.stream("GET", url, params={"session_hash": session}) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event, now = json.loads(line[5:]), time.perf_counter()
                kind = event.get("msg")
                if kind == "process_generating":
                    apply_output(result, event["output"]["data"][0], now)
                elif kind == "process_completed":
                    if event.get("success"):
                        result.finish(event["output"]["data"][0], now)
                    else:
                        result.error = f"app error: {event.get('output', {}).get('error')!r}"
                    return result
                elif kind not in ("estimation", "process_starts", "heartbeat", "progress"):
                    result.error = f"unexpected message: {line[:200]}"
                    return result
        result.error = "SSE stream ended before process_completed"
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        result.error = repr(exc)
    return result


def apply_output(result: StreamResult, data: Any, now: float) -> None:
    """A ``process_generating`` value: the whole text (first message) or a list of diff ops on it."""
    if isinstance(data, str):
        result.finish(data, now)
        return
    for op, path, value in data:
        if op == "append" and path == []:
            result.add(value, now)
        elif op == "replace" and path == []:
            result.finish(value, now)
        else:
            result.error = f"unexpected diff {op} {path}"


async def direct_stream(
    http: httpx.AsyncClient, base: str, messages: list[dict[str, str]], max_tokens: int
) -> StreamResult:
    """One streamed chat completion straight from the fake TGI."""
    result = StreamResult(started=time.perf_counter())
    body = {"model": "tgi", "messages": messages, "max_tokens": max_tokens, "stream": True}
    try:
        async with http.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data, now = line[5:].strip(), time.perf_counter()
                if data == "[DONE]":
                    return result
                chunk = json.loads(data)
                if "error" in chunk:
                    result.error = f"upstream error: {chunk['error']}"
                for choice in chunk.get("choices") or []:
                    result.add((choice.get("delta") or {}).get("content") or "", now)
        result.error = "stream ended without [DONE]"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        result.error = repr(exc)
    return result


# -- one load run ------------------------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LoadRun:
    streams: list[StreamResult]
    wall_s: float
    cpu_s: dict[str, float]


async def run_load(
    users: int, call: Callable[[httpx.AsyncClient], Awaitable[StreamResult]], pids: dict[str, int], limit_s: float
) -> LoadRun:
    """Start ``users`` streams at once and wait for all of them; CPU is read around the whole run."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=limits) as http:

        async def bounded() -> StreamResult:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(limit_s):
                    return await call(http)
            except TimeoutError:
                return StreamResult(started=started, error=f"no end within {limit_s:.0f} s")

        before = {name: process_cpu_s(pid) for name, pid in pids.items()}
        load_before, t0 = time.process_time(), time.perf_counter()
        streams = await asyncio.gather(*(bounded() for _ in range(users)))
        wall_s = time.perf_counter() - t0
        await asyncio.sleep(0.5)  # let the app's write-behind recorder commit the replies
        cpu = {name: process_cpu_s(pid) - before[name] for name, pid in pids.items()}
        cpu["loadgen"] = time.process_time() - load_before
    return LoadRun(list(streams), wall_s, cpu)


def history_messages(turns: int, reply_tokens: int) -> list[dict[str, str]]:
    reply = " ".join(f"w{i}" for i in range(reply_tokens))
    pairs = ([{"role": "user", "content": f"turn {i}"}, {"role": "assistant", "content": reply}] for i in range(turns))
    return [message for pair in pairs for message in pair]


async def measure_direct(sc: Scenario, fake_url: str, fake_pid: int) -> LoadRun:
    messages = [*history_messages(sc.history_turns, sc.history_max_tokens), {"role": "user", "content": "go"}]
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:  # warm-up: first-use costs of both processes
        await direct_stream(http, fake_url, messages[-1:], 2)
    run = await run_load(
        sc.users, lambda http: direct_stream(http, fake_url, messages, sc.max_tokens), {"fake": fake_pid},
        stream_limit_s(sc),
    )
    for stream in run.streams:
        stream.check(sc.max_tokens)
    return run


async def measure_app(sc: Scenario, app_url: str, pids: dict[str, int]) -> tuple[LoadRun, list[StreamResult]]:
    """The earlier turns (if any) one by one, then the measured load; returns both."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        config = (await http.get(f"{app_url}/config")).json()
        fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
        await app_stream(http, app_url, fn_index, "warm-up", "", 2)
        conversation_id = str(uuid.uuid4()) if sc.history_turns else ""
        earlier = []
        for turn in range(sc.history_turns):
            async with asyncio.timeout(30):
                earlier.append(
                    await app_stream(http, app_url, fn_index, f"turn {turn}", conversation_id, sc.history_max_tokens)
                )
            earlier[-1].check(sc.history_max_tokens)
    run = await run_load(
        sc.users, lambda http: app_stream(http, app_url, fn_index, "go", conversation_id, sc.max_tokens), pids,
        stream_limit_s(sc),
    )
    for stream in run.streams:
        stream.check(sc.max_tokens)
    return run, earlier


def stream_limit_s(sc: Scenario) -> float:
    return 30 + 3 * sc.max_tokens / sc.tokens_per_s


# -- processes ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the benchmark dies, even by SIGKILL (no orphans)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextmanager
def child(cmd: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process whose output goes to ``log_path``; terminated (then killed) on exit, whatever happens."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
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


def wait_until_ready(proc: subprocess.Popen[bytes], url: str, ready: Callable[[httpx.Response], bool]) -> None:
    deadline = time.monotonic() + 90
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with code {proc.returncode}")
            try:
                if ready(http.get(url)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after 90 s")


def run_scenario(sc: Scenario, workdir: Path, logdir: Path) -> dict[str, Any]:
    """Fake TGI at the scenario's rate → direct load → fresh app → load through the app."""
    with ExitStack() as stack:
        fake_port, app_port = free_port(), free_port()
        fake_url, app_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{app_port}"
        fake_cmd = [sys.executable, "-m", "tests.fake_tgi", "--port", str(fake_port), "--first-token-ms",
                    str(FIRST_TOKEN_MS), "--tokens-per-s", str(sc.tokens_per_s), "--tokens", "8000"]
        fake = stack.enter_context(child(fake_cmd, dict(os.environ), logdir / f"fake-{sc.key}.log"))
        wait_until_ready(fake, f"{fake_url}/health", lambda r: r.status_code == 200)
        direct = asyncio.run(measure_direct(sc, fake_url, fake.pid))

        app_env = {**os.environ, "TGI_URL": fake_url, "DATABASE_URL": f"duckdb:///{workdir}/bench-{sc.key}.duckdb",
                   "GRADIO_SERVER_PORT": str(app_port), "GRADIO_SERVER_NAME": "127.0.0.1"}
        app = stack.enter_context(child([sys.executable, "app.py"], app_env, logdir / f"app-{sc.key}.log"))
        wait_until_ready(app, f"{app_url}/healthz", lambda r: r.status_code == 200 and r.json()["model_server"] == "ok")
        via_app, earlier = asyncio.run(measure_app(sc, app_url, {"app": app.pid, "fake": fake.pid}))
    return {"scenario": asdict(sc), "direct": summarize(direct), "app": summarize(via_app),
            "earlier_turns_failed": sum(s.error is not None for s in earlier)}


# -- results -----------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(run: LoadRun) -> dict[str, Any]:
    ttfts = [s.ttft_s for s in run.streams if s.ttft_s is not None]
    rates = [r for s in run.streams if (r := s.rate) is not None]
    tokens = sum(s.tokens for s in run.streams)
    frames = sum(s.frames for s in run.streams)
    return {
        "streams": len(run.streams), "ok": sum(s.error is None for s in run.streams),
        "errors": sorted({s.error for s in run.streams if s.error})[:5],
        "ttft_p50_s": percentile(ttfts, 0.5), "ttft_p95_s": percentile(ttfts, 0.95), "ttft_max_s": max(ttfts, default=None),
        "rate_p50": percentile(rates, 0.5), "rate_min": min(rates, default=None),
        "tokens": tokens, "frames_per_stream": frames / len(run.streams), "wall_s": run.wall_s, "cpu_s": run.cpu_s,
        "app_cpu_s_per_1k_tokens": run.cpu_s["app"] * 1000 / tokens if "app" in run.cpu_s and tokens else None,
        "ttft_s": ttfts, "rates": rates,
        "good_share": sum((s.ttft_s or 99) <= 1.0 and (s.rate or 0) >= 16 for s in run.streams) / len(run.streams),
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def checks(result: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Rows of (metric, direct, app, target, result) for one scenario."""
    sc, d, a = result["scenario"], result["direct"], result["app"]
    rows = [
        ("streams complete & exact", f"{d['ok']}/{d['streams']}", f"{a['ok']}/{a['streams']}", "all",
         verdict(a["ok"] == a["streams"] and d["ok"] == d["streams"] and not result["earlier_turns_failed"])),
        ("TTFT p50", ms(d["ttft_p50_s"]), ms(a["ttft_p50_s"]), "", ""),
        ("TTFT p95 / max", f"{ms(d['ttft_p95_s'])} / {ms(d['ttft_max_s'])}",
         f"{ms(a['ttft_p95_s'])} / {ms(a['ttft_max_s'])}", "", ""),
        ("tokens/s per stream p50 / min", f"{num(d['rate_p50'])} / {num(d['rate_min'])}",
         f"{num(a['rate_p50'])} / {num(a['rate_min'])}", "", ""),
        ("frames per stream", num(d["frames_per_stream"]), num(a["frames_per_stream"]), "", ""),
        ("app CPU-s per 1k tokens", "", num(a["app_cpu_s_per_1k_tokens"]), "", ""),
        ("CPU-s app / fake / loadgen", f"- / {num(d['cpu_s']['fake'])} / {num(d['cpu_s']['loadgen'])}",
         f"{num(a['cpu_s']['app'])} / {num(a['cpu_s']['fake'])} / {num(a['cpu_s']['loadgen'])}", "", ""),
        ("wall", num(d["wall_s"], " s"), num(a["wall_s"], " s"), "", ""),
    ]
    if sc["key"] == "a" and a["ttft_p50_s"] is not None and d["ttft_p50_s"] is not None:
        rows[1] = (*rows[1][:3], "≤ direct + 30 ms", verdict(a["ttft_p50_s"] <= d["ttft_p50_s"] + 0.030))
        cpu = a["app_cpu_s_per_1k_tokens"]
        rows[5] = (*rows[5][:3], "≤ 0.25", verdict(cpu is not None and cpu <= 0.25))
    if sc["key"] == "b":
        rows.insert(1, ("users with TTFT ≤ 1 s & ≥ 16 tok/s", f"{d['good_share']:.0%}", f"{a['good_share']:.0%}",
                        "≥ 95 %", verdict(a["good_share"] >= 0.95)))
    if sc["key"] == "d" and a["rate_p50"] is not None and d["rate_p50"] is not None:
        share = a["rate_p50"] / d["rate_p50"]
        rows.insert(1, ("delivered rate app / direct", "100%", f"{share:.1%}", "≥ 95 %", verdict(share >= 0.95)))
    return rows


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("metric", "direct", "via app", "target", "result")
    for result in results:
        sc = result["scenario"]
        rows = checks(result)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        print(f"\n({sc['key']}) {sc['title']}")
        for row in [header, *rows]:
            print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        for side in ("direct", "app"):
            for error in result[side]["errors"]:
                print(f"  {side} error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few users, short replies")
    parser.add_argument("--scenarios", default="a,b,c,d", help="comma-separated subset of a,b,c,d (run in order)")
    parser.add_argument("--out", type=Path, help="JSON output file (default: bench-results/bench_stream-<time>.json)")
    args = parser.parse_args()
    available = scenarios(args.quick)
    chosen = [available[key.strip()] for key in args.scenarios.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup of the children on SIGTERM too

    started = datetime.now(UTC)
    name = f"bench_stream-{started:%Y%m%dT%H%M%SZ}"
    logdir = RESULTS_DIR / f"{name}-logs"
    logdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        results = []
        for sc in chosen:
            print(f"running ({sc.key}) {sc.title}; logs in {logdir}", file=sys.stderr, flush=True)
            results.append(run_scenario(sc, Path(tmp), logdir))
    print_table(results)
    out = args.out or RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"started": started.isoformat(), "argv": sys.argv[1:], "cpus": os.cpu_count(), "results": results}
    out.write_text(json.dumps(report, indent=1))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
