"""docs/prometheus-alerts.yml, the PromQL twins of the in-app SLO alerts: every metric a rule reads is in ChatLens's
own ``/metrics`` (after a reply, so histograms and counters have samples), and the rules' numbers are the SLO
settings' defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from gradio_client import Client
from prometheus_client.parser import text_string_to_metric_families

from settings import Settings
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi

RULES = Path(__file__).resolve().parents[1] / "docs" / "prometheus-alerts.yml"
KEYWORDS = {"and", "or", "unless", "by", "on", "without", "ignoring", "group_left", "group_right", "bool", "offset"}


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The series an expression selects: its identifiers, less functions, keywords, grouping labels, label
    matchers, ranges and strings."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
        name, after = found.group(0), bare[found.end() :].lstrip()
        if name in KEYWORDS or after.startswith("("):
            continue
        names.add(name)
    return names


def test_the_metric_name_reader_finds_series_and_only_series() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="y"}[5m]))) > 3 and on () sum(b_total) >= 2'
    assert metric_names(expr) == {"a_bucket", "b_total"}
    assert metric_names("max by (slo) (c) == 1") == {"c"}


def test_every_rule_reads_metrics_that_chatlens_exposes(app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=5))
    Client(app.url, verbose=False).predict("for the alert rules", api_name="/chat")
    page = httpx.get(f"{app.url}/metrics", timeout=10).text
    exposed = {sample.name for family in text_string_to_metric_families(page) for sample in family.samples}
    read = {rule["alert"]: metric_names(rule["expr"]) for rule in rules()}
    assert set(read) == {"ChatLensTtftP95High", "ChatLensErrorRateHigh", "ChatLensSloBreached"}
    for alert, names in read.items():
        assert names, alert
        assert names <= exposed, (alert, sorted(names - exposed))


def test_the_rules_use_the_slo_settings_defaults() -> None:
    defaults = Settings.model_fields
    window_min = defaults["slo_window_s"].default / 60
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    ttft, errors = by_name["ChatLensTtftP95High"], by_name["ChatLensErrorRateHigh"]
    for expr in (ttft, errors):
        assert set(re.findall(r"\[(\d+)m\]", expr)) == {f"{window_min:g}"}
        least = re.search(r">= (\d+)$", expr.strip())
        assert least is not None and least.group(1) == str(defaults["slo_min_replies"].default)
    assert f"> {defaults['slo_ttft_p95_ms'].default / 1000:g}\n" in ttft
    assert f"> {defaults['slo_error_rate'].default:g}\n" in errors
