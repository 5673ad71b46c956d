"""Deque's axe-core (npm, pinned by ``package-lock.json``) run inside a Playwright page: the accessibility check.

``make install`` and ``.ci/run`` run ``npm ci`` here; without ``node_modules`` the check refuses to run rather than
pass. The script is evaluated through the DevTools protocol, so a page's CSP (the share page forbids every script)
does not keep it out, and nothing is fetched: the file is read from this folder.

    found = serious_violations(page)               # [] when the page is clean
    assert found == [], describe(found)

Only ``serious`` and ``critical`` violations count (issue 20); the rules run are axe's WCAG 2.x A and AA tags plus
its best practices. ``EXCLUDED`` lists, with the reason, each rule and selector left out because it lies in
Gradio's own markup and cannot be mended from ChatLens's side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("serious", "critical")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# (rule id, CSS selector of the nodes it is not counted on, why).
EXCLUDED: list[tuple[str, str, str]] = [
    (
        "svg-img-alt",
        '.vega-embed g[role="graphics-symbol"]:empty',
        # Gradio's plots are drawn by Vega, which gives a mark group with no data (an Analytics chart over a range
        # with no votes yet) role="graphics-symbol" and no label. It draws nothing; the plot's own label names it.
        "Vega's empty mark group inside Gradio's plot",
    ),
]


def axe_source() -> str:
    if not SCRIPT.is_file():
        raise RuntimeError(f"axe-core is not installed: run `npm ci` in {HERE} (make install does)")
    return SCRIPT.read_text(encoding="utf-8")


def run_axe(page: Page) -> list[dict[str, Any]]:
    """Every violation axe finds on the page as it is now (each with its impact and the nodes it names)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    options = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}
    found: list[dict[str, Any]] = page.evaluate(
        "async (options) => (await window.axe.run(document, options)).violations", options
    )
    return found


def _excluded(rule: str, node: dict[str, Any], page: Page) -> bool:
    for excluded_rule, selector, _why in EXCLUDED:
        if rule != excluded_rule:
            continue
        target = node.get("target", [])
        if target and page.evaluate(
            "([t, s]) => { const e = document.querySelector(t); return !!e && !!e.closest(s); }",
            [str(target[-1]), selector],
        ):
            return True
    return False


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical violations, less the nodes ``EXCLUDED`` names."""
    kept = []
    for violation in run_axe(page):
        if violation.get("impact") not in IMPACTS:
            continue
        nodes = [n for n in violation["nodes"] if not _excluded(violation["id"], n, page)]
        if nodes:
            kept.append({**violation, "nodes": nodes})
    return kept


def describe(violations: list[dict[str, Any]]) -> str:
    """The violations as lines a failing test prints: rule, impact, help, and each node's selector and HTML."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:8]:
            lines.append(f"    {json.dumps(node.get('target'))}: {str(node.get('html'))[:200]}")
    return "\n".join(lines)
