"""What the OpenAI-compatible API (``/v1/chat/completions``) adds between a client and the model server, in one run:
the same load sent straight to the fake TGI and through ChatLens's ``/v1``, at 1 and 32 clients.

Processes, on 127.0.0.1 and started once per invocation: a fake TGI (``tests.support.fake_tgi``, 50 ms to the first
token, 50 tok/s) and ChatLens (``app.py``, fresh DuckDB file, default settings but the per-address rate limit, which
would count every simulated client as one). The load generator is this process (asyncio + ``benchmarks.rawhttp``,
one connection per request, as cheap as it gets, so the CPU measured is the app's); its own CPU is reported.

Scenarios: ``1`` ten clients one after another, 20-token replies; ``32`` 32 clients at once, 200-token replies. Each
run sends each scenario direct, then through ChatLens's ``/v1``, then through its Gradio ``/chat`` (the same turn,
over Gradio's queue protocol, as ``benchmarks.bench_turns`` sends it: a page load per client first, not measured), so
what the turn itself costs shows apart from what each way in adds; runs repeat (``--runs``, default 5) and the
table shows the median and min–max over runs, and the per-run difference to the direct measurement of the same run.

Per stream: TTFT = request start → first non-empty text; the reply must be exactly the fake's ``w0 … w{n-1}``.
Per measurement: TTFT p50 / p95, app CPU-s (read around the burst, plus 0.5 s for the commits) per 1,000 streamed
tokens. Every ChatLens call is a full turn: conversation and messages committed, the generation row recorded.

With ``--litellm BIN`` (the ``litellm`` command of a ``litellm[proxy]`` install, in a venv of its own), a fourth
column: the same load through LiteLLM's proxy in front of the same fake (``openai/tgi`` at the fake's ``/v1``, a
dummy upstream key, a random master key, telemetry off, the model cost map read from its package, not fetched);
its process's CPU is the "app CPU". Without it the column is left out and the run says so.

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_openai_api [--runs 5] [--scenarios 1,32]
[--litellm /tmp/litellm-venv/bin/litellm]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.bench_stream import (
    FIRST_TOKEN_MS,
    RESULTS_DIR,
    StreamResult,
    child,
    completion_stream,
    free_port,
    wait_until_ready,
)
from benchmarks.bench_turns import (
    Target,
    User,
    _fn_index,
    begin,
    burst,
    burst_stats,
    chatlens_chat_inputs,
    finish,
    load_page,
    print_header,
    print_runs,
    queue_stream,
)

TARGETS = ("direct", "chatlens", "gradio")  # straight to the fake, ChatLens's /v1, ChatLens's Gradio /chat
LITELLM = "litellm"  # LiteLLM's proxy in front of the same fake, with --litellm
HEADERS = {
    "direct": "direct",
    "chatlens": "ChatLens /v1",
    "gradio": "ChatLens /chat (Gradio)",
    LITELLM: "LiteLLM proxy",
}
TOKENS_PER_S = 50


@dataclass(frozen=True)
class Scenario:
    key: str
    clients: int
    max_tokens: int
    sequential: bool = False


SCENARIOS = {"1": Scenario("1", 10, 20, sequential=True), "32": Scenario("32", 32, 200)}


async def openai_stream(base: str, model: str, max_tokens: int, key: str | None = None) -> StreamResult:
    """One streamed chat completion from ``base``'s ``/v1/chat/completions``, as any OpenAI client sends it."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "go"}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"authorization": f"Bearer {key}"} if key else None
    return await completion_stream(f"{base}/v1/chat/completions", body, "error event", headers)


async def measure(sc: Scenario, target: str, url: str, pids: dict[str, int], key: str | None = None) -> dict[str, Any]:
    model = "tgi" if target in ("direct", LITELLM) else "default"
    gradio = (
        Target("chatlens", url, pids.get("app", 0), _fn_index(url, "chat"), chatlens_chat_inputs)
        if target == "gradio"
        else None
    )
    gradio_users: list[User] = [await load_page(gradio) for _ in range(sc.clients)] if gradio else []
    await asyncio.sleep(0.5)
    load = os.getloadavg()[0]

    async def one(index: int) -> StreamResult:
        if gradio is not None:
            return await queue_stream(gradio, gradio_users[index], "go", sc.max_tokens)
        return await openai_stream(url, model, sc.max_tokens, key if target == LITELLM else None)

    timeout_s = 30 + 3 * sc.max_tokens / TOKENS_PER_S
    streams, _, cpu = await burst(one, sc.clients, sc.sequential, timeout_s, sc.max_tokens, pids)
    return burst_stats(streams, cpu, load)


def start(stack: ExitStack, db_dir: Path, log_dir: Path) -> tuple[dict[str, str], dict[str, int]]:
    fake_port, app_port = free_port(), free_port()
    fake_url, app_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{app_port}"
    fake_cmd = [
        sys.executable, "-m", "tests.support.fake_tgi", "--port", str(fake_port),
        "--first-token-ms", str(FIRST_TOKEN_MS), "--tokens-per-s", str(TOKENS_PER_S), "--tokens", "8000",
    ]  # fmt: skip
    fake = stack.enter_context(child(fake_cmd, dict(os.environ), log_dir / "fake.log"))
    wait_until_ready("fake TGI", fake, f"{fake_url}/health", lambda r: r.status_code == 200)
    env = {
        **os.environ,
        "TGI_URL": fake_url,
        "RATE_LIMIT_IP_PER_MIN": "0",  # every simulated client comes from 127.0.0.1
        "RATE_LIMIT_USER_PER_MIN": "0",  # and, without a token, is a new anonymous user per call anyway
        "DATABASE_URL": f"duckdb:///{db_dir}/chatlens.duckdb",
        "DATA_DIR": str(db_dir / "data"),
        "GRADIO_SERVER_PORT": str(app_port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    app = stack.enter_context(child([sys.executable, "app.py"], env, log_dir / "chatlens.log"))
    wait_until_ready("chatlens", app, f"{app_url}/healthz", lambda r: r.status_code == 200)
    return {"direct": fake_url, "chatlens": app_url, "gradio": app_url}, {"fake": fake.pid, "app": app.pid}


LITELLM_CONFIG = """model_list:
  - model_name: tgi
    litellm_params:
      model: openai/tgi
      api_base: {fake_url}/v1
      api_key: dummy
litellm_settings:
  telemetry: false
"""


def start_litellm(stack: ExitStack, binary: str, fake_url: str, folder: Path, log_dir: Path) -> tuple[str, int, str]:
    """LiteLLM's proxy in front of the fake, on loopback; returns its URL, process id and master key."""
    port, key = free_port(), f"sk-bench-{secrets.token_hex(16)}"
    config = folder / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(fake_url=fake_url))
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": key,  # it refuses to start without one
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else the cost map is fetched from GitHub at start
    }
    cmd = [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    proxy = stack.enter_context(child(cmd, env, log_dir / "litellm.log"))
    url = f"http://127.0.0.1:{port}"
    wait_until_ready("litellm", proxy, f"{url}/health/liveliness", lambda r: r.status_code == 200)
    return url, proxy.pid, key


def print_table(results: dict[str, dict[str, list[dict[str, Any]]]], targets: tuple[str, ...]) -> None:
    for key, by_target in results.items():
        sc = SCENARIOS[key]
        title = f"[{key}] {sc.clients} clients {'one after another' if sc.sequential else 'at once'}, {TOKENS_PER_S}"
        header = ("metric", *(HEADERS[t] for t in targets))
        print_runs(f"{title} tok/s, {sc.max_tokens}-token replies", by_target, header, targets, [])


def cpu_pids(target: str, pids: dict[str, int]) -> dict[str, int]:
    """Whose CPU a measurement reads: the fake's, and as "app" the process in between (none when direct)."""
    if target == "direct":
        return {"fake": pids["fake"]}
    return {"fake": pids["fake"], "app": pids[LITELLM] if target == LITELLM else pids["app"]}


def main() -> None:
    parser = argparse.ArgumentParser(description="/v1/chat/completions through ChatLens vs straight to the fake.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default="1,32", help="comma-separated subset of 1,32")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--litellm", metavar="BIN", help="the litellm command (litellm[proxy]): adds its column")
    args = parser.parse_args()
    chosen = [SCENARIOS[key.strip()] for key in args.scenarios.split(",")]
    targets = (*TARGETS, LITELLM) if args.litellm else TARGETS
    skipped = (
        None if args.litellm else "LiteLLM column skipped: no --litellm BIN given (install litellm[proxy] in a venv)"
    )
    if skipped:
        print(skipped, file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started, name, log_dir, results, load_at_start = begin("bench_openai_api", chosen, targets)
    key = None
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp, ExitStack() as stack:
        urls, pids = start(stack, Path(tmp), log_dir)
        if args.litellm:
            urls[LITELLM], pids[LITELLM], key = start_litellm(stack, args.litellm, urls["direct"], Path(tmp), log_dir)
        for target in targets:  # warm-up: first calls pay imports and the /info fetch
            asyncio.run(measure(Scenario("warm-up", 4, 5), target, urls[target], cpu_pids(target, pids), key))
        for run in range(args.runs):
            for sc in chosen:
                for target in targets:
                    print(f"run {run + 1}/{args.runs} [{sc.key}] {target} …", file=sys.stderr, flush=True)
                    measured = measure(sc, target, urls[target], cpu_pids(target, pids), key)
                    results[sc.key][target].append(asyncio.run(measured))
    revision = print_header(started, load_at_start, f", {TOKENS_PER_S} tok/s")
    print_table(results, targets)
    if skipped:
        print(f"\n{skipped}")
    finish(args.out or RESULTS_DIR / f"{name}.json", started, revision, chosen, results)


if __name__ == "__main__":
    main()
