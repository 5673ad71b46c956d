"""Request bodies to the model server encoded by orjson instead of the standard library's ``json``.

``AsyncInferenceClient`` posts its payload as ``json=``, which httpx2 encodes with ``json.dumps(…, ensure_ascii=False,
separators=(",", ":"), allow_nan=False)``. For a message with images that payload holds megabytes of base64 inside
JSON strings, and the standard encoder walks them character by character. orjson writes the same compact UTF-8 JSON
many times faster. What it cannot encode the same way (a non-finite float, which the standard call refuses and orjson
would write as ``null``; keys that are not strings; integers over 64 bits) goes to the standard call, unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from httpx2 import _content as httpx_content

LIBRARY_DUMPS = json.dumps  # what httpx2 imports as ``json_dumps``; the guard checks it is still that


def _finite(value: Any) -> bool:
    """Every float inside ``value`` is finite (the standard call with ``allow_nan=False`` refuses the others)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, **kwargs)`` for httpx2's one call shape, by orjson; any other shape by ``json.dumps``."""
    if kwargs == {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False} and _finite(obj):
        try:
            return orjson.dumps(obj).decode("utf-8")
        except orjson.JSONEncodeError:
            pass
    return LIBRARY_DUMPS(obj, **kwargs)


def install_fast_json_bodies() -> None:
    """Idempotent; only where httpx2 still encodes with the standard library's ``json.dumps`` (else a warning)."""
    current = getattr(httpx_content, "json_dumps", None)
    if current is dumps:
        return
    if current is not LIBRARY_DUMPS:
        import logging

        logging.getLogger(__name__).warning(
            "patch 'fast request bodies' not applied: httpx2 no longer encodes request bodies with json.dumps"
        )
        return
    httpx_content.json_dumps = dumps  # type: ignore[attr-defined]
