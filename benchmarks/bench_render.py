"""What stripping form controls costs a streamed reply: ``without_form_controls`` on each frame, against a copy.

The chat renders the whole reply so far on each frame, so the cleaner runs over the whole text each time. Per reply
size and kind — prose without ``<`` (the common case: one ``in`` test), Markdown with HTML tags and a fenced code
block full of ``<`` (the worst case: every regex runs over all of it) — this prints the microseconds per call (median
and min–max of ``--runs`` timeit repeats) next to the same text merely copied (the baseline, ``str(text)``), and what
that adds to a 2,000-token reply streamed in frames of ~4 tokens (500 frames, each over the text so far).

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_render [--runs 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from inference.model_output import without_form_controls

PROSE = "The lighthouse keeper wrote down the weather every hour, and the ships answered with their lights. "
HTML = (
    "Here is the page:\n\n```html\n<form action='/x'><input name=a><button>go</button></form>\n```\n\n"
    "and <b>bold</b> text with <a href='https://example.org'>a link</a> and `<input>` inline. "
)


def per_call_us(function: object, text: str, runs: int) -> list[float]:
    timer = timeit.Timer(lambda: function(text))  # type: ignore[operator]
    number, _ = timer.autorange()
    return [seconds / number * 1e6 for seconds in timer.repeat(runs, number)]


def stream_cost_ms(unit: str, chars: int, frames: int) -> float:
    """The cleaner's total time over a reply streamed in ``frames`` frames, each over the text so far."""
    text = (unit * (chars // len(unit) + 1))[:chars]
    started = timeit.default_timer()
    for frame in range(1, frames + 1):
        without_form_controls(text[: chars * frame // frames])
    return (timeit.default_timer() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'text':<10} {'chars':>7} {'cleaner µs (median, min-max)':>30} {'copy µs':>9}")
    for kind, unit in (("prose", PROSE), ("html+code", HTML)):
        for chars in (1_000, 8_000, 32_000):
            text = (unit * (chars // len(unit) + 1))[:chars]
            cleaner = per_call_us(without_form_controls, text, args.runs)
            copy = per_call_us(str, text, args.runs)
            spread = f"{statistics.median(cleaner):.1f} ({min(cleaner):.1f}-{max(cleaner):.1f})"
            print(f"{kind:<10} {chars:>7} {spread:>30} {statistics.median(copy):>9.2f}")
    for kind, unit in (("prose", PROSE), ("html+code", HTML)):
        totals = [stream_cost_ms(unit, 8_000, 500) for _ in range(args.runs)]
        print(
            f"a 2,000-token reply ({kind}, 8,000 chars, 500 frames): cleaner total "
            f"{statistics.median(totals):.1f} ms ({min(totals):.1f}-{max(totals):.1f})"
        )


if __name__ == "__main__":
    main()
