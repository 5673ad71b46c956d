"""The official ``openai`` SDK as the API tests use it: no retries (a test sees each status), a
bounded timeout.

The SDK's request headers describe the platform (``platform.platform()``), which on Linux runs ``uname -p`` once per
process; it is read here, at import, so that no test starts that subprocess (``tests/support/markers.py``).
"""

from __future__ import annotations

import platform
from typing import Any

import openai

platform.platform()  # cached by the platform module from now on


def openai_client(base_url: str, api_key: str = "none", **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=20, **options)
