"""The kill -9 benchmark, short (issue #21): three trials that each tested something, under the default rate limits.

``benchmarks/crash_durability.py`` is run as it is run by hand, with the production limits in its environment
(20 messages a minute per user, 60 per address): it must lift them itself, kill each app while streams are in
flight, and fail when too few trials counted. The full 20-trial run is in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support.processes import ROOT


@pytest.mark.process
def test_kill_9_mid_stream_keeps_every_promise_in_three_counted_trials() -> None:
    env = {**os.environ, "RATE_LIMIT_USER_PER_MIN": "20", "RATE_LIMIT_IP_PER_MIN": "60"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.crash_durability", "--trials", "3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert re.search(r"^3 of [3-6] trials counted", done.stdout, re.M), done.stdout
    trials = re.findall(r"killed after (\d+) first tokens, +(\d+) completed, +(\d+) still streaming", done.stdout)
    counted = [t for t in trials if int(t[0]) >= 20 and int(t[2]) > 0]
    assert len(counted) == 3, done.stdout
