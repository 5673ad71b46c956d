"""The public Spaces chat template, as a newcomer writes it: ``gr.ChatInterface`` over ``InferenceClient``.

Our own copy of the Hugging Face "Chatbot" Space template (``respond`` streams ``client.chat_completion``), for the
side-by-side benchmark (``benchmarks.bench_turns``) only; never part of the app. Two changes, so that it can serve
the benchmark's load at all: its concurrency limit is lifted (the template serves one user at a time) and it
yields at most every 40 ms (the template yields every token), as ChatLens paces its frames.

``python -m benchmarks.spaces_template`` with ``TGI_URL``, ``GRADIO_SERVER_PORT`` and ``GRADIO_SERVER_NAME`` set.
"""

from __future__ import annotations

import os
import time

import gradio as gr
from huggingface_hub import InferenceClient

FRAME_S = 0.040
client = InferenceClient(base_url=os.environ["TGI_URL"])


def respond(message, history, system_message, max_tokens, temperature, top_p):  # type: ignore[no-untyped-def]
    messages = [{"role": "system", "content": system_message}]
    messages.extend(history)
    messages.append({"role": "user", "content": message})

    response = ""
    shown_at = 0.0
    for chunk in client.chat_completion(
        messages, max_tokens=max_tokens, stream=True, temperature=temperature, top_p=top_p
    ):
        choices = chunk.choices
        token = ""
        if len(choices) and choices[0].delta.content:
            token = choices[0].delta.content
        response += token
        now = time.monotonic()
        if response and now - shown_at >= FRAME_S:  # 40 ms frames (the template yields every token)
            shown_at = now
            yield response
    yield response


demo = gr.ChatInterface(
    respond,
    additional_inputs=[
        gr.Textbox(value="You are a friendly Chatbot.", label="System message"),
        gr.Slider(minimum=1, maximum=2048, value=512, step=1, label="Max new tokens"),
        gr.Slider(minimum=0.1, maximum=4.0, value=0.7, step=0.1, label="Temperature"),
        gr.Slider(minimum=0.1, maximum=1.0, value=0.95, step=0.05, label="Top-p (nucleus sampling)"),
    ],
    concurrency_limit=None,  # lifted: the template's default serves one user at a time
)


if __name__ == "__main__":
    demo.queue(default_concurrency_limit=None).launch(max_threads=512)
