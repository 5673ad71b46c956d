"""Finished replies as the recorder receives them, for tests that write conversations without a model."""

from __future__ import annotations

import time
import uuid

from inference.types import GenerationMetrics, GenerationParams, ModelInfo, ReplyStatus, TurnRecord

MODEL = ModelInfo(model_id="m", backend="tgi", request_model="tgi", server_url="http://tgi")


def reply(conversation_id: uuid.UUID, user_id: uuid.UUID, content: str, status: ReplyStatus = "complete") -> TurnRecord:
    """A reply of 10 tokens over the last second, asked for with ``max_tokens=10``."""
    now = time.monotonic()
    metrics = GenerationMetrics(
        started_at=now - 1,
        request_sent_at=now - 0.99,
        ended_at=now,
        first_token_at=now - 0.9,
        last_token_at=now,
        output_tokens=10,
        prompt_tokens=4,
        finish_reason="length",
    )
    return TurnRecord(conversation_id, user_id, content, status, metrics, MODEL, GenerationParams(max_tokens=10))
