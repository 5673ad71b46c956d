"""``GET /metrics`` through the running app: counters and histograms move once per finished reply."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningApp
from tests.fake_tgi import Behaviour, FakeTgi


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_each_finished_reply_is_counted_once_with_its_timings(app: RunningApp, fake_tgi: FakeTgi) -> None:
    model = (("model", fake_tgi.model_id),)
    before = scrape(app.url)
    client = Client(app.url, verbose=False)
    fake_tgi.next(Behaviour(tokens=40, first_token_delay_s=0.3, token_interval_s=0.01))
    client.predict("count me", api_name="/chat")
    fake_tgi.next(Behaviour(tokens=10, error_after=3))
    with pytest.raises(Exception, match="failed while writing the reply"):
        client.predict("fail me", api_name="/chat")
    after = scrape(app.url)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted({**dict(model), **labels}.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("chatlens_replies_total", status="complete") == 1
    assert delta("chatlens_replies_total", status="error") == 1
    assert delta("chatlens_errors_total", error_type="generation") == 1
    assert delta("chatlens_output_tokens_total") == 40 + 3
    assert delta("chatlens_time_to_first_token_seconds_count") == 2
    # The first token of the complete reply came after 0.3 s: not in the 0.25 s bucket, in the 0.5 s one.
    assert delta("chatlens_time_to_first_token_seconds_bucket", le="0.25") == 1  # the failing one, at once
    assert delta("chatlens_time_to_first_token_seconds_bucket", le="0.5") == 2
    assert delta("chatlens_reply_duration_seconds_count") == 2
    assert delta("chatlens_tokens_per_second_count") == 2
    assert after[("chatlens_streams_active", ())] == 0
    assert after[("chatlens_queue_size", ())] == 0
    assert ("chatlens_db_commit_ms_median", ()) in after
