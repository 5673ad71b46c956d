"""The Dockerfile read as the image would run it: its instructions, its ENV, its exec-form CMD and HEALTHCHECK.

For tests that run the image's steps without a Docker engine (``tests/test_deploy.py``, ``tests/test_start_paths.py``).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            env.update(token.split("=", 1) for token in shlex.split(rest))  # type: ignore[misc]
    return env


def exec_form(rest: str) -> list[str]:
    """The JSON argv of an exec-form CMD (after HEALTHCHECK's options and ``CMD``, if any)."""
    argv = json.loads(rest[rest.index("[") :])
    assert isinstance(argv, list) and argv, rest
    return [str(arg) for arg in argv]


def on_this_python(argv: list[str], *extra: str) -> list[str]:
    assert argv[0] == "python", f"the image runs its own `python`, not {argv[0]!r}"
    return [sys.executable, *extra, *argv[1:]]
