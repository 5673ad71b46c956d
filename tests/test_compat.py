"""The patch table in ``compat``: each patch does what its row says, a version it was not checked on is refused, and
the real app streams and stores a reply with every patch off (``CHATLENS_COMPAT=off``)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import io
import json
import logging
import math
import timeit
from pathlib import Path

import duckdb
import gradio as gr
import httpx
import orjson
import pytest
from gradio import queueing, state_holder
from gradio_client import Client
from httpx2 import _content as httpx_content
from huggingface_hub.inference import _common as hub_streaming
from hypothesis import given, settings
from hypothesis import strategies as st

import compat
from compat import fast_json_bodies, gradio_patches, gradio_tracebacks
from compat.hub_chunks import LIBRARY_READER
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.processes import AppProcess
from ui.app import QUEUE_POLL_S


def patch(name: str) -> compat.Patch:
    [found] = [p for p in compat.PATCHES if p.name == name]
    return found


def test_the_docstring_shows_the_table() -> None:
    assert compat.__doc__ is not None
    assert compat.render_table() in compat.__doc__
    assert len(compat.PATCHES) == compat.__doc__.count("\n* **")


def test_new_sessions_build_block_configs_only_on_demand() -> None:
    """Gradio's per-session config builds (3.7 ms of event loop per API call on this page) wait until read, and
    what is read then is what Gradio's own session would hold after the same writes."""
    assert compat.apply(patch("lazy session configs"))
    with gr.Blocks() as demo:
        box = gr.Textbox("a")
        number = gr.Number(1)
        gr.Markdown("m")
    lazy = state_holder.SessionState(demo)
    eager = gradio_patches._LazySessionState.__mro__[1](demo)  # Gradio's own class
    assert type(lazy) is gradio_patches._LazySessionState
    assert lazy.config_values == {}
    for session in (lazy, eager):
        session._update_value_in_config(box._id, "typed")
        session[number._id] = gr.Number(7)  # a handler's update: the config is rebuilt from the new block
        session._update_value_in_config(number._id, 8)
    assert lazy.config_values == {}
    assert list(lazy.components) == list(eager.components)
    assert {config.get("type") for config in lazy.components} >= {"textbox", "number", "markdown"}


def test_a_missing_matplotlib_fails_to_import_at_once() -> None:
    """Marked absent in ``sys.modules``: Python refuses the import without searching ``sys.path``."""
    assert compat.apply(patch("matplotlib marked absent"))
    if compat.installed_version("matplotlib") is None:
        with pytest.raises(ModuleNotFoundError, match=r"halted; None in sys\.modules"):
            importlib.import_module("matplotlib")
    else:  # installed: left alone
        assert importlib.import_module("matplotlib").__name__ == "matplotlib"


def test_queue_routes_are_tried_first_and_still_answer(app: RunningApp) -> None:
    """FastAPI tries routes in order: the two routes of every chat turn come first in Gradio's API router."""
    inner = next(r.original_router for r in app.demo.app.router.routes if hasattr(r, "original_router"))
    assert [r.path for r in inner.routes[: len(gradio_patches.HOT_PATHS)]] == list(gradio_patches.HOT_PATHS)
    assert httpx.post(f"{app.url}/gradio_api/queue/join", json={}).status_code == 422  # routed, body refused


@pytest.mark.parametrize("module_name", gradio_tracebacks.SERVING_MODULES)
def test_tracebacks_gradio_prints_while_serving_are_cut_per_line(module_name: str) -> None:
    assert compat.apply(patch("short tracebacks"))
    module = importlib.import_module(module_name)
    printed = io.StringIO()
    try:
        raise ValueError("Received inputs: [" + "secret " * 30_000 + "]")
    except ValueError:
        module.traceback.print_exc(file=printed)
    text = printed.getvalue()
    assert "ValueError: Received inputs: [secret" in text
    assert "characters not logged]" in text
    assert max(len(line) for line in text.splitlines()) < gradio_tracebacks.MAX_LINE_CHARS + 50
    assert text.count("secret") < 60


def test_chunks_are_read_by_the_fast_reader_with_the_same_fields_and_faster() -> None:
    """Installed in the library's place; the same fields; faster. By how much (72 → 22 µs of CPU per token) is a
    measurement for docs/benchmarks.md, not a ratio a loaded machine could miss."""
    assert compat.apply(patch("fast chunk reading"))
    installed = hub_streaming._format_chat_completion_stream_output
    assert installed is not LIBRARY_READER
    line = (
        'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"3.2.1",'
        '"choices":[{"index":0,"delta":{"role":"assistant","content":" token"},"finish_reason":null}],"usage":null}'
    )
    fast, library = installed(line), LIBRARY_READER(line)
    assert (fast.choices[0].delta.content, fast.choices[0].finish_reason, fast.model) == (
        library.choices[0].delta.content,
        library.choices[0].finish_reason,
        library.model,
    )
    fast_s = min(timeit.repeat(lambda: installed(line), number=500, repeat=5))
    library_s = min(timeit.repeat(lambda: LIBRARY_READER(line), number=500, repeat=5))
    assert fast_s < library_s, (fast_s, library_s)


HTTPX_JSON = {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False}  # httpx2's one call
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


def test_request_bodies_are_encoded_by_orjson_to_the_same_bytes() -> None:
    """Installed where httpx2 encodes ``json=`` bodies; a message with an image, quotes, control characters,
    line separators and non-ASCII text comes out byte for byte as the standard encoder writes it."""
    assert compat.apply(patch("fast request bodies"))
    assert httpx_content.json_dumps is fast_json_bodies.dumps
    payload = {
        "model": "tgi",
        "messages": [
            {"role": "system", "content": 'Quote "this", a \\ path, a tab\t, NUL \u0000, \u2028 and </script>'},
            {"role": "user", "content": [
                {"type": "text", "text": "Qu'y a-t-il sur l'image ? 日本語 🙂"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "iVBORw0KGgo" * 5000}},
            ]},
        ],
        "max_tokens": 512, "temperature": 0.7, "top_p": 0.95, "stream": True, "seed": None,
        "stream_options": {"include_usage": True},
    }  # fmt: skip
    headers, stream = httpx_content.encode_json(payload)
    body = b"".join(stream)
    assert body == json.dumps(payload, **HTTPX_JSON).encode("utf-8")
    assert headers["Content-Length"] == str(len(body))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(JSON_VALUES)
def test_any_json_value_encodes_to_what_the_standard_encoder_means(value: object) -> None:
    """Floats may be spelled differently (``1e+16`` / ``1e16``); what a server parses is the same."""
    assert json.loads(fast_json_bodies.dumps(value, **HTTPX_JSON)) == json.loads(json.dumps(value, **HTTPX_JSON))


@pytest.mark.parametrize("value", [float("nan"), {"t": [float("inf")]}, {1: "a non-string key"}, 2**64])
def test_what_orjson_would_write_differently_goes_to_the_standard_encoder(value: object) -> None:
    try:
        expected: object = json.dumps(value, **HTTPX_JSON)
    except ValueError as refused:  # non-finite floats: refused, as before the patch
        with pytest.raises(ValueError, match=str(refused)):
            fast_json_bodies.dumps(value, **HTTPX_JSON)
        return
    assert fast_json_bodies.dumps(value, **HTTPX_JSON) == expected
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(value)  # why it goes there


def test_another_call_shape_is_the_standard_encoders() -> None:
    value = {"b": 1, "a": [1.5, "é"]}
    assert fast_json_bodies.dumps(value, indent=2, sort_keys=True) == json.dumps(value, indent=2, sort_keys=True)


def test_the_idle_queue_polls_every_5_ms_instead_of_every_1_ms(app: RunningApp) -> None:
    assert app.demo._queue.sleep_when_free == QUEUE_POLL_S == 0.005
    assert gr.Blocks().queue()._queue.sleep_when_free == 0.001  # Gradio's own, on Linux
    assert "asyncio.sleep(self.sleep_when_free)" in inspect.getsource(queueing.Queue)  # what the name still means


def test_the_queue_length_is_read_from_gradios_queue(app: RunningApp) -> None:
    assert compat.queue_length(app.demo) == len(app.demo._queue) == 0
    assert math.isnan(compat.queue_length(object()))  # no queue: unknown, not an error


@pytest.mark.parametrize("name", [p.name for p in compat.PATCHES if p.exact])
def test_a_version_it_was_not_checked_on_is_refused_with_one_warning(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    installs: list[str] = []
    real = patch(name)
    library, _ = real.checked_on[0]
    elsewhere = dataclasses.replace(
        real, checked_on=((library, "0.0.1"), *real.checked_on[1:]), install=lambda: installs.append("installed")
    )
    with caplog.at_level(logging.WARNING, logger="compat"):
        assert compat.apply(elsewhere) is False
    assert installs == []
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert name in warning and f"{library} {compat.installed_version(library)}" in warning and "0.0.1" in warning

    on_the_checked_version = dataclasses.replace(real, install=lambda: installs.append("installed"))
    assert compat.apply(on_the_checked_version) is True
    assert installs == ["installed"]


def test_apply_all_applies_every_installable_patch_once() -> None:
    first = compat.apply_all()
    assert first == [p.name for p in compat.PATCHES if p.install is not None]  # all checked on what is installed
    assert compat.apply_all() == first
    assert state_holder.SessionState is gradio_patches._LazySessionState


def test_the_switch_turns_every_entry_off(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(compat.SWITCH, "off")
    with caplog.at_level(logging.WARNING, logger="compat"):
        assert compat.apply_all() == []
    assert "CHATLENS_COMPAT=off" in caplog.text
    assert compat.apply(patch("lazy session configs")) is False
    demo = gr.Blocks().queue()
    compat.set_queue_poll_interval(demo, QUEUE_POLL_S)
    assert demo._queue.sleep_when_free == 0.001
    assert math.isnan(compat.queue_length(demo))


@pytest.mark.process
def test_the_app_streams_and_stores_a_reply_with_every_patch_off(tmp_path: Path) -> None:
    """``python app.py`` with ``CHATLENS_COMPAT=off``: nothing patched, and a reply still streams and is stored."""
    fake = FakeTgi().start()
    db_path = tmp_path / "db.duckdb"
    app = AppProcess(
        {"TGI_URL": fake.url, "DATABASE_URL": f"duckdb:///{db_path}", compat.SWITCH: "off"}, tmp_path / "app.log"
    )
    try:
        client = Client(app.wait_ready().url, verbose=False)
        fake.next(Behaviour(tokens=30, token_interval_s=0.01))
        job = client.submit("hello without patches", api_name="/chat")
        expected = "".join(Behaviour(tokens=30).reply_tokens())
        assert job.result(timeout=30) == expected
        assert len(job.outputs()) >= 2  # streamed, not one final answer
        # huggingface_hub's own chunk objects keep a field they do not declare (reasoning_content) as an attribute.
        fake.next(Behaviour(reply="Paris.", thinking="Capital of France.", reasoning_shape="reasoning_content",
                            flavour="llama", finish_reason="stop", usage_reasoning_tokens=4))  # fmt: skip
        assert client.predict("capital?", thinking=True, api_name="/chat") == (
            "<think>\nCapital of France.\n</think>\n\nParis."
        )
        assert app.terminate() == 0, app.log()
    finally:
        app.kill()
        fake.stop()
    log = app.log()
    assert "CHATLENS_COMPAT=off: no third-party patch applied" in log
    assert "not applied:" not in log  # no guard was asked: nothing was tried
    with duckdb.connect(str(db_path)) as db:
        rows = db.execute("SELECT role, content, status FROM messages ORDER BY created_at, seq").fetchall()
        thought = db.execute("SELECT reasoning FROM messages WHERE content = 'Paris.'").fetchall()
        reasoning_tokens = db.execute("SELECT reasoning_tokens FROM generations WHERE reasoning_tokens IS NOT NULL")
        assert reasoning_tokens.fetchall() == [(4,)]
    assert rows[:2] == [("user", "hello without patches", "complete"), ("assistant", expected, "complete")]
    assert thought == [("Capital of France.",)]
