"""The local demo model's first reply (Gemma 3 270M Q4_K_M under llama.cpp's server), one chat format against another.

Starts the real ``LocalModelServer`` (as ``make run`` does) once per ``LOCAL_CHAT_FORMAT`` in ``--formats``, each with
``inference.local.local_model_params`` for that format (its turn markers as stop sequences), then sends each of the
prompts below as a conversation's first message through ChatLens's own adapter (``TgiGenerator``) to every server,
interleaved, in the same run. The packaged model is a *base* model: under Gemma's own template it never writes
``<end_of_turn>`` and runs to the cap; ``vicuna`` frames the chat as a plain-words dialogue it continues, and stops at
the next ``USER:``.

Counted per format: replies showing a template marker or another special token (target 0), replies stopped by the
token cap (target ≤ 2), TTFT and tokens/s (median). Run from the repo root:
``.venv/bin/python -m benchmarks.bench_first_reply [--formats gemma,vicuna] [--max-tokens 200] [--temperature 0.7]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from inference.local import LocalModelServer, local_model_params, packaged_model_path
from inference.tgi import TgiGenerator
from inference.types import ChatMessage, GenerationParams
from settings import ModelServer

PROMPTS = [
    "Hi!",
    "What is the capital of France?",
    "Write a haiku about autumn.",
    "Explain what a GPU does in two sentences.",
    "List three fruits and their colours.",
    "Translate 'good morning' into Spanish and German.",
    "What is 17 + 25?",
    "Give me a name for a grey cat.",
    "Why is the sky blue? Answer briefly.",
    "Write one sentence that starts with 'Once upon a time'.",
    "What does HTTP stand for?",
    "Suggest a quick breakfast idea.",
    "Is a tomato a fruit or a vegetable?",
    "Tell me a short joke.",
    "How many legs does a spider have?",
    "Summarise the plot of Romeo and Juliet in one sentence.",
    "What is Python used for?",
    "Name two planets bigger than Earth.",
    "Write a two-line poem about the sea.",
    "Thanks, bye!",
]
# Gemma's turn markers and the other special tokens a reply must never show (Gemma's, and ChatML-style ones).
SPECIAL = re.compile(r"<(?:start_of_turn|end_of_turn|bos|eos|pad|unk|mask)>|<\|[a-z_]+\|>|</s>|\b(?:USER|ASSISTANT):")


@dataclass
class Reply:
    text: str
    finish_reason: str | None
    output_tokens: int
    ttft_ms: float
    tokens_per_s: float | None


async def ask(generator: TgiGenerator, prompt: str, params: GenerationParams) -> Reply:
    started = time.monotonic()
    first: float | None = None
    parts: list[str] = []
    finish: str | None = None
    tokens = chunks = 0
    async for chunk in generator.stream([ChatMessage(role="user", content=prompt)], params):
        if chunk.text:
            first = first or time.monotonic()
            parts.append(chunk.text)
            chunks += 1  # llama.cpp's server streams one token a chunk and reports no usage
        finish = chunk.finish_reason or finish
        tokens = chunk.completion_tokens or tokens
    ended = time.monotonic()
    tokens = tokens or chunks
    first = first or ended
    rate = (tokens - 1) / (ended - first) if tokens > 1 and ended > first else None
    return Reply("".join(parts), finish, tokens, (first - started) * 1000, rate)


def summary(name: str, replies: list[Reply], cap: int) -> str:
    marked = [r for r in replies if SPECIAL.search(r.text)]
    capped = [r for r in replies if r.finish_reason == "length" or r.output_tokens >= cap]
    ttft = statistics.median(r.ttft_ms for r in replies)
    rates = [r.tokens_per_s for r in replies if r.tokens_per_s]
    return (
        f"{name:7} replies {len(replies)}  with special tokens {len(marked):2}  at the token cap {len(capped):2}  "
        f"TTFT median {ttft:6.0f} ms  tokens/s median {statistics.median(rates) if rates else 0:5.1f}  "
        f"output tokens median {statistics.median(r.output_tokens for r in replies):.0f}"
    )


async def run(servers: dict[str, tuple[str, GenerationParams]], log_path: Path) -> dict[str, list[Reply]]:
    generators = {
        name: TgiGenerator(base_url=url, request_timeout_s=120, connect_timeout_s=5, max_connections=4)
        for name, (url, _params) in servers.items()
    }
    results: dict[str, list[Reply]] = {name: [] for name in servers}
    with log_path.open("w") as transcript:
        for i, prompt in enumerate(PROMPTS):
            # Interleaved, so drift in the machine's load hits every set alike; the order alternates.
            order = list(servers) if i % 2 == 0 else list(reversed(servers))
            for name in order:
                reply = await ask(generators[name], prompt, servers[name][1])
                results[name].append(reply)
                transcript.write(
                    f"[{name} #{i} {reply.finish_reason} {reply.output_tokens}] {prompt}\n{reply.text!r}\n\n"
                )
    for generator in generators.values():
        await generator.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=200, help="the local mode's cap (LOCAL_MAX_NEW_TOKENS)")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--formats", default="gemma,vicuna", help="LOCAL_CHAT_FORMAT values, one server each")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-bench-first-reply-"))
    servers: dict[str, LocalModelServer] = {}
    sets: dict[str, tuple[str, GenerationParams]] = {}
    try:
        for chat_format in args.formats.split(","):
            server = LocalModelServer(
                model_path=packaged_model_path(), chat_format=chat_format, context_tokens=2048,
                log_path=work / f"server-{chat_format}.log", alias="local",
            )  # fmt: skip
            server.start()
            servers[chat_format] = server
            params = ModelServer(
                name="local", url="http://127.0.0.1", params=local_model_params(chat_format, args.max_tokens)
            ).default_params()
            sets[chat_format] = (server.url, replace(params, temperature=args.temperature, seed=1234))
        results = asyncio.run(run(sets, work / "replies.txt"))
    finally:
        for server in servers.values():
            server.stop()
    for name, (_url, params) in sets.items():
        print(f"{name}: {params.as_record()}")
    for name, replies in results.items():
        print(summary(name, replies, args.max_tokens))
    print(f"every reply: {work / 'replies.txt'}")


if __name__ == "__main__":
    main()
