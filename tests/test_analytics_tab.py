"""The Analytics tab through the running app: admins get data, everyone else gets nothing — even by raw fn_index.

The session's ``app`` runs without ``ANALYTICS_OPEN`` (the anonymous caller is no admin); ``admin_app`` runs with it
over a DuckDB file seeded with synthetic replies. Calls go through Gradio's raw queue API (``/gradio_api/queue/join``
then the SSE stream), the way a hostile client would send them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from benchmarks.seed_analytics import seed_store
from storage.schema import Generation, ServerLoadSample
from tests.support.apps import Launch, RunningApp, launched_app
from tests.support.browser import finished, open_accordion, open_chat, send
from tests.support.config import make_settings
from tests.support.fake_metrics import VllmLoad
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until
from ui.analytics_tab import REFUSED

ARTIFACTS = Path(__file__).resolve().parents[1] / "tmp" / "artifacts"
REFRESH_ARGS = ["Last 7 days", None, None, "All models", "All users", True, "All sources"]


@pytest.fixture(scope="module")
def admin_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    root = tmp_path_factory.mktemp("analytics")
    seed_store(root / "chatlens.duckdb", generations=20_000, days=10, users=50, seed=6, messages=True)
    with launched_app(make_settings(root, tgi_url=fake_tgi_server.url, analytics_open=True)) as running:
        yield running


def fn_index(url: str, api_name: str) -> int:
    config = httpx.get(f"{url}/config", timeout=10).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def call(
    url: str, api_name: str, data: list[Any], event_data: Any = None, browser: httpx.Client | None = None
) -> dict[str, Any]:
    """Join the queue for ``api_name``'s fn_index and return its ``process_completed`` message.

    Like a browser, the caller keeps the cookie the app sets (``browser``: one jar across calls; by default a
    new one for this call), so its queue session and its downloads stay its own."""
    session = uuid.uuid4().hex
    body = {"fn_index": fn_index(url, api_name), "data": data, "session_hash": session, "event_data": event_data}
    with contextlib.ExitStack() as stack:
        client = browser or stack.enter_context(httpx.Client(timeout=30))
        joined = client.post(f"{url}/gradio_api/queue/join", json=body, timeout=10)
        assert joined.status_code == 200, joined.text
        with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as sse:
            for line in sse.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return message  # type: ignore[no-any-return]
    raise AssertionError("the call never completed")


def test_an_anonymous_caller_gets_no_analytics_by_fn_index(app: RunningApp) -> None:
    for api_name, data, event_data in (
        ("analytics_refresh", REFRESH_ARGS, None),
        ("analytics_custom_range", ["Custom"], None),
        ("analytics_auto_refresh", [True], None),
        ("analytics_sql", ["SELECT * FROM generations"], None),
        ("analytics_speed_ab", ["hi", "default", 0.7, 8, "default", 0.2, 8], None),
        ("analytics_export", ["messages", "csv", *REFRESH_ARGS], None),
        ("analytics_open_slowest", [], {"index": [0, 0], "value": "x", "row_value": [str(uuid.uuid4())] * 2}),
    ):
        done = call(app.url, api_name, data, event_data)
        assert done["success"] is False, (api_name, done)
        assert done["output"].get("error") == REFUSED and "data" not in done["output"], (api_name, done)


def test_the_tab_stays_hidden_for_a_non_admin(app: RunningApp) -> None:
    done = call(app.url, "analytics_visibility", [])
    assert done["success"] and done["output"]["data"][0]["visible"] is False


def test_an_admin_gets_the_dashboard(admin_app: RunningApp) -> None:
    assert call(admin_app.url, "analytics_visibility", [])["output"]["data"][0]["visible"] is True
    done = call(admin_app.url, "analytics_refresh", REFRESH_ARGS)
    assert done["success"], done
    _banner, kpis, summary, ttft, requests, *_ = done["output"]["data"]
    assert 'data-kpi="replies"' in kpis and "vs previous period" in kpis
    assert "replies · one point per 3 h" in summary
    assert ttft["value"]["columns"] == ["time", "stat", "ttft_ms"] and ttft["y_lim"][0] == 0
    requests = requests["value"]
    assert requests["columns"][:3] == ["time", "replies", "errors"]
    # 7 days of 3-hour intervals, every one present, each drawn as a step: a point at its start and one at its end.
    starts = requests["data"][::2]
    assert len(starts) in (56, 57) and sum(row[1] for row in starts) > 1000
    assert [row[1] for row in requests["data"][1::2]] == [row[1] for row in starts]


def test_the_source_filter_narrows_the_dashboard(admin_app: RunningApp) -> None:
    # A fixed window: "Last 7 days" moves between the calls, and seeded rows at its edge fall out of later ones.
    end = time.time()
    moment = "%Y-%m-%d %H:%M:%S"
    fixed = [
        "Custom", time.strftime(moment, time.gmtime(end - 7 * 86_400)), time.strftime(moment, time.gmtime(end)),
        *REFRESH_ARGS[3:-1],
    ]  # fmt: skip

    def replies(source: str) -> int:
        done = call(admin_app.url, "analytics_refresh", [*fixed, source])
        assert done["success"], done
        kpis = str(done["output"]["data"][1]).split('data-kpi="replies"')[1]
        found = re.search(r'value">([\d,]+)<', kpis)
        assert found is not None, kpis[:300]
        return int(found.group(1).replace(",", ""))

    by_source = {source: replies(source) for source in ("chat", "gradio_api", "openai_api")}
    assert by_source["chat"] > 1000  # the seed's rows are the page's
    assert replies("All sources") == sum(by_source.values())
    done = call(admin_app.url, "analytics_refresh", [*REFRESH_ARGS[:-1], "smoke signals"])
    assert done["success"] is False  # refused by Gradio's choice check before the handler


def test_a_bad_filter_is_refused_with_a_reason(admin_app: RunningApp) -> None:
    done = call(
        admin_app.url, "analytics_refresh", ["Last 7 days", None, None, "All models", "not-a-user", True, "All sources"]
    )
    assert done["success"] is False and "'not-a-user' is not a user id" in done["output"]["error"]
    done = call(
        admin_app.url,
        "analytics_refresh",
        ["Custom", "2026-01-02 00:00:00", "2026-01-01 00:00:00", None, None, True, None],
    )
    assert done["success"] is False and "start of the range must be before its end" in done["output"]["error"]


def test_the_tab_in_chromium_with_seeded_data(page: Page, admin_app: RunningApp) -> None:
    page.goto(admin_app.url)
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")
    expect(page.locator("#cl-new")).to_be_in_viewport(ratio=1)  # the tab switch costs the chat no height
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "analytics-admin-chat.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("tab", name="Analytics").click()
    expect(page.locator("#cl-kpis [data-kpi=replies] .cl-kpi-value")).not_to_have_text("", timeout=20_000)
    expect(page.locator("#cl-analytics-summary")).to_contain_text("replies · one point per")
    expect(page.locator("#cl-slowest")).to_contain_text("meta-llama", timeout=10_000)
    expect(page.locator("#cl-thinking")).to_contain_text("answer TTFT p50 s")  # thinking beside answer TTFT
    expect(page.locator("#cl-dist-model")).to_contain_text("Llama")  # p50 / p95 / p99 per model
    page.locator("#cl-slowest [data-testid=cell-0-1]").click()
    expect(page.locator("#cl-analytics-viewer")).to_contain_text("Synthetic reply", timeout=10_000)
    page.wait_for_timeout(1000)  # let the plots finish drawing
    page.screenshot(path=str(ARTIFACTS / "analytics-tab.png"), full_page=True)

    open_accordion(page, "cl-ab", "Speed A/B")
    page.locator("#cl-ab-prompt textarea").fill("Race!")
    page.locator("#cl-ab-run").click()
    for side in ("A", "B"):
        expect(page.locator(f"#cl-ab-stats-{side}")).to_contain_text("tokens/s", timeout=15_000)
        expect(page.locator(f"#cl-ab-stats-{side}")).to_contain_text("complete", timeout=15_000)
        expect(page.locator(f"#cl-ab-reply-{side}")).to_contain_text("w3")
    page.locator("#cl-ab").screenshot(path=str(ARTIFACTS / "speed-ab.png"))


def test_the_chat_page_shows_no_analytics_tab_to_a_non_admin(page: Page, app: RunningApp) -> None:
    page.goto(app.url)
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")
    expect(page.locator("#cl-chat")).to_be_visible()
    expect(page.get_by_role("tab", name="Analytics")).to_have_count(0)
    expect(page.locator("#cl-tabs > .tab-wrapper")).to_be_hidden()  # a lone Chat tab draws no tab bar


def test_an_admin_runs_sql_and_downloads_the_result(admin_app: RunningApp) -> None:
    seeded = "SELECT status, count(*) AS n FROM generations WHERE server_url = 'http://tgi:80' GROUP BY 1 ORDER BY 1"
    browser = httpx.Client(timeout=30)
    done = call(admin_app.url, "analytics_sql", [seeded], browser=browser)
    assert done["success"], done
    note, table, csv_file = done["output"]["data"]
    assert "3 rows" in note and table["headers"] == ["status", "n"]
    assert [row[0] for row in table["data"]] == ["complete", "error", "stopped"]
    assert sum(row[1] for row in table["data"]) == 20_000
    downloaded = browser.get(csv_file["url"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.text.startswith("status,n\r\ncomplete,")
    assert httpx.get(csv_file["url"], timeout=10).status_code == 404  # served to whoever ran the query only
    refused = call(admin_app.url, "analytics_sql", ["DELETE FROM generations"])
    assert refused["success"] is False and "read-only" in refused["output"]["error"]
    refused = call(admin_app.url, "analytics_sql", ["SELECT * FROM read_csv('/etc/passwd')"])
    assert refused["success"] is False and "cannot reach files" in refused["output"]["error"]


def test_an_admin_exports_the_filtered_range(admin_app: RunningApp) -> None:
    browser = httpx.Client(timeout=30)
    done = call(admin_app.url, "analytics_export", ["generations", "parquet", *REFRESH_ARGS], browser=browser)
    assert done["success"], done
    exported = done["output"]["data"][0]
    assert exported["orig_name"].endswith(".parquet")
    assert httpx.get(exported["url"], timeout=10).status_code == 404  # served to whoever exported it only
    body = browser.get(exported["url"], timeout=10).content
    assert body[:4] == b"PAR1" and len(body) > 10_000


def test_speed_ab_streams_two_parameter_sets_side_by_side_and_records_both(
    admin_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.default = Behaviour(tokens=12, first_token_delay_s=0.1, token_interval_s=0.01)
    done = call(admin_app.url, "analytics_speed_ab", ["Which is faster?", "default", 0.7, 8, "default", 0.2, 12])
    assert done["success"], done
    reply_a, stats_a, reply_b, stats_b = done["output"]["data"]
    assert reply_a == " ".join(f"w{i}" for i in range(8)) and reply_b == " ".join(f"w{i}" for i in range(12))
    for stats, tokens in ((stats_a, 8), (stats_b, 12)):
        assert "TTFT" in stats and "tokens/s" in stats and f"{tokens} tokens" in stats and "complete" in stats
    asked = [s for s in fake_tgi.streams if s.body["messages"][-1]["content"] == "Which is faster?"]  # not titles
    sent = sorted((s.body["temperature"], s.body["max_tokens"]) for s in asked)
    assert sent == [(0.2, 12), (0.7, 8)]
    recorded = [g for g in admin_app.rows(Generation) if g.params.get("max_tokens") in (8, 12)]  # seeds ask 1024
    assert sorted((g.params["temperature"], g.output_tokens) for g in recorded) == [(0.2, 12), (0.7, 8)]


# The charts that have something to draw once a reply has come back with no failure, stop or vote.
DRAWN_BY_A_REPLY = (
    "requests", "ttft", "tokens-per-s", "ttft-by-prompt", "ttft-by-in-flight", "ttft-cdf", "tokens-per-s-cdf",
)  # fmt: skip
MARKS_JS = """(id) => {
    const root = document.getElementById(id);
    if (!root) return -1;
    const lines = [...root.querySelectorAll('g.mark-line path')].filter(m => {
        const box = m.getBBox(); return box.width > 0 || box.height > 0; });
    const bars = [...root.querySelectorAll('g.mark-rect path')].filter(m => m.getBBox().height > 0);
    return lines.length + bars.length;
}"""


def has_marks(page: Page, chart: str) -> bool:
    return bool(page.evaluate(MARKS_JS, f"cl-chart-{chart}") > 0)


def test_the_charts_draw_from_the_first_real_reply(
    page: Page, fake_tgi: FakeTgi, launch: Launch, tmp_path: Path
) -> None:
    running = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, analytics_open=True, analytics_cache_ttl_s=0))
    page.set_viewport_size({"width": 1400, "height": 1000})
    open_chat(page, running.url)
    for replies in (1, 2, 3):
        page.get_by_role("tab", name="Chat").click()
        send(page, f"Question {replies}?")
        finished(page, replies)
        page.get_by_role("tab", name="Analytics").click()
        expect(page.locator("#cl-kpis [data-kpi=replies] .cl-kpi-value")).to_have_text(str(replies), timeout=20_000)
        for chart in DRAWN_BY_A_REPLY:
            assert wait_until(partial(has_marks, page, chart), timeout_s=10), f"{chart}: no marks after {replies}"
        # No failure yet: the errors chart still draws its axes (a value axis with ticks), not a collapsed strip.
        ticks = page.locator("#cl-chart-errors g.mark-text.role-axis-label text")
        assert ticks.count() > 3
    # The page reported what it saw of each reply: felt TTFT beside ChatLens's, for a browser on this machine.
    felt = page.locator("#cl-felt-ttft")
    expect(felt).to_contain_text("felt_ttft_p50_ms")
    expect(felt.locator("tbody")).to_contain_text("local", timeout=10_000)
    expect(page.locator("#cl-dist-model")).to_contain_text("ttft_p99_ms")
    page.screenshot(path=str(ARTIFACTS / "analytics-after-3-replies.png"), full_page=True)


def test_the_model_servers_load_is_charted_under_the_replies(page: Page, launch: Launch, tmp_path: Path) -> None:
    """A vLLM-style server reporting 3 waiting, 5 running, 40 % KV cache and its own TTFT: the load lines, TTFT by
    its queue and both TTFTs draw after real replies, and the slowest replies show the server's state."""
    server = FakeTgi().start()
    try:
        server.metrics = vllm = VllmLoad()
        vllm.set(waiting=3, running=5, kv_cache=0.4)
        running = launch(
            make_settings(
                tmp_path, tgi_url=server.url, analytics_open=True, analytics_cache_ttl_s=0, model_metrics_interval_s=0.2
            )
        )
        assert wait_until(lambda: len(running.rows(ServerLoadSample)) > 0, timeout_s=10)
        page.set_viewport_size({"width": 1400, "height": 1000})
        open_chat(page, running.url)
        for replies in (1, 2):
            vllm.observe(ttft_s=0.02)  # the server's own measure of the reply below
            send(page, f"Busy server {replies}?")
            finished(page, replies)
        assert wait_until(lambda: any(r.server_ttft_ms for r in running.rows(ServerLoadSample)), timeout_s=10)
        page.get_by_role("tab", name="Analytics").click()
        expect(page.locator("#cl-kpis [data-kpi=replies] .cl-kpi-value")).to_have_text("2", timeout=20_000)
        for chart in ("server-queue", "server-kv-cache", "ttft-by-server-queue", "client-vs-server-ttft"):
            assert wait_until(partial(has_marks, page, chart), timeout_s=10), f"{chart}: no marks"
        slowest = page.locator("#cl-slowest")
        expect(slowest).to_contain_text("server_waiting")
        expect(slowest).to_contain_text("server_kv_cache_%")
        page.locator("#cl-chart-server-queue").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "analytics-server-load.png"), full_page=True)
    finally:
        server.stop()
