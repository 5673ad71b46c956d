"""The local CPU demo model (Gemma 3 270M Q4_K_M under llama.cpp's server) as ChatLens measures it.

Starts ``python app.py`` in local mode on a fresh DuckDB file, asks a few prompts one after another through the
``chat`` API, stops the app and reads what it recorded: time to first token and tokens/s per reply.
Run from the repo root: ``.venv/bin/python -m benchmarks.bench_local [--replies N] [--max-tokens N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from gradio_client import Client

from storage.schema import Generation
from storage.store import Store
from tests.support.processes import AppProcess

PROMPTS = [
    "The capital of France is",
    "Write a short poem about the sea.",
    "Explain what a GPU does in one paragraph.",
    "List three fruits and their colours.",
    "Once upon a time, in a small village,",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-bench-local-"))
    database_url = f"duckdb:///{work / 'bench.duckdb'}"
    env = {"LOCAL_MODE": "true", "TGI_URL": "", "DATABASE_URL": database_url}
    # Not what this measures: rate limits off, as in every benchmark that loads the app.
    env |= {"RATE_LIMIT_USER_PER_MIN": "0", "RATE_LIMIT_IP_PER_MIN": "0"}
    app = AppProcess(env, work / "app.log")
    try:
        client = Client(app.wait_ready(timeout_s=180).url, verbose=False)
        for i in range(args.replies):
            client.predict(PROMPTS[i % len(PROMPTS)], "", 0.7, None, args.max_tokens, 1234 + i, api_name="/chat")
        app.terminate()
    finally:
        app.kill()
    store = Store.open(database_url)
    with store.sessions() as session:
        rows = session.query(Generation).filter_by(status="complete").all()
    store.close()
    ttft = [r.time_to_first_token_ms for r in rows if r.time_to_first_token_ms is not None]
    rates = [r.tokens_per_s for r in rows if r.tokens_per_s is not None]
    tokens = [r.output_tokens for r in rows]
    model = rows[0].model_id if rows else "?"
    print(f"local model (llama.cpp, {model}), {len(rows)} replies of ≤{args.max_tokens} tokens")
    print(f"  time to first token  p50 {statistics.median(ttft):.0f} ms   max {max(ttft):.0f} ms")
    print(f"  tokens/s per reply   p50 {statistics.median(rates):.1f}     min {min(rates):.1f}")
    print(f"  output tokens        p50 {statistics.median(tokens):.0f}")


if __name__ == "__main__":
    main()
