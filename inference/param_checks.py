"""What the model server accepts, checked before anything is sent.

TGI refuses ``top_p`` outside (0, 1), a negative temperature, more stop sequences than its ``max_stop_sequences``,
``frequency_penalty`` outside [-2, 2] and ``max_tokens`` that cannot fit ``max_total_tokens`` — as an error *inside*
the stream, after the user's message is stored. These rules say the same thing first, per field, in words a person
can act on. Values that mean "off" (top-p 1, frequency penalty 0, no seed) are sent as absent.

``problems`` serves the settings panel (a reason next to each control), ``checked`` the chat (refuse, send nothing),
``clamped`` the API (bring numbers into range, refuse only what has no sensible nearest value).
"""

from __future__ import annotations

from dataclasses import replace

from errors import InvalidParameters
from inference.types import GenerationParams, ModelInfo

DEFAULT_STOP_SEQUENCES = 4
PENALTY_RANGE = (-2.0, 2.0)


def _max_tokens_limit(info: ModelInfo | None) -> int | None:
    return info.max_total_tokens - 1 if info is not None and info.max_total_tokens else None


def _stop_limit(info: ModelInfo | None) -> int:
    return info.max_stop_sequences if info is not None and info.max_stop_sequences else DEFAULT_STOP_SEQUENCES


def problems(params: GenerationParams, info: ModelInfo | None) -> dict[str, str]:
    """Field name → why the model server would refuse it. Empty when everything can be sent."""
    found: dict[str, str] = {}
    if params.temperature is not None and params.temperature < 0:
        found["temperature"] = "Temperature can't be negative (0 means greedy: always the likeliest token)."
    if params.top_p is not None and not 0 < params.top_p <= 1:
        found["top_p"] = "Top-p must be above 0 and at most 1 (1 turns it off)."
    if params.frequency_penalty is not None and not PENALTY_RANGE[0] <= params.frequency_penalty <= PENALTY_RANGE[1]:
        found["frequency_penalty"] = "Frequency penalty must be between -2 and 2 (0 turns it off)."
    if params.max_tokens is not None:
        limit = _max_tokens_limit(info)
        if params.max_tokens < 1:
            found["max_tokens"] = "Max new tokens must be at least 1."
        elif limit is not None and params.max_tokens > limit:
            found["max_tokens"] = f"This model fits at most {limit:,} tokens in total; ask for fewer new tokens."
    if params.reasoning_effort is not None and params.reasoning_effort not in REASONING_EFFORTS:
        found["reasoning_effort"] = "Reasoning effort is low, medium or high (or unset: the server's default)."
    if len(params.stop) > _stop_limit(info):
        found["stop"] = f"This model server takes at most {_stop_limit(info)} stop sequences."
    if params.seed is not None and params.seed < 0:
        found["seed"] = "The seed must be a whole number of 0 or more (empty: random)."
    return found


REASONING_EFFORTS = ("low", "medium", "high")


def _without_off_values(params: GenerationParams) -> GenerationParams:
    return replace(
        params,
        reasoning_effort=params.reasoning_effort or None,
        top_p=None if params.top_p == 1 else params.top_p,
        frequency_penalty=None if params.frequency_penalty == 0 else params.frequency_penalty,
        stop=tuple(s for s in params.stop if s),
    )


def checked(params: GenerationParams, info: ModelInfo | None) -> GenerationParams:
    """The parameters to send, or ``InvalidParameters`` naming what to change."""
    params = _without_off_values(params)
    found = problems(params, info)
    if found:
        raise InvalidParameters(" ".join(found.values()))
    return params


def clamped(params: GenerationParams, info: ModelInfo | None) -> GenerationParams:
    """For API callers: numbers brought into range; what has no nearest sensible value is still refused."""
    limit = _max_tokens_limit(info)
    low, high = PENALTY_RANGE
    params = replace(
        params,
        top_p=None if params.top_p is not None and params.top_p >= 1 else params.top_p,
        frequency_penalty=None if params.frequency_penalty is None else min(max(params.frequency_penalty, low), high),
        max_tokens=None
        if params.max_tokens is None
        else max(1, min(params.max_tokens, limit) if limit else params.max_tokens),
    )
    return checked(params, info)
