"""The page in Chromium: Debian's package driven by Playwright (no browser download), and the steps tests share."""

from __future__ import annotations

import re
import shutil
import uuid

from playwright.sync_api import Browser, Page, Playwright, expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium that makes no requests of its own (updates, sync, first-run pages)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")


def send(page: Page, text: str) -> None:
    box = page.locator("#cl-input textarea")
    box.fill(text)
    box.press("Enter")


def conversation_of(page: Page) -> uuid.UUID:
    """The conversation the page shows, from its ``?c=`` link."""
    found = re.search(r"c=([0-9a-f-]{36})", page.url)
    assert found is not None, page.url
    return uuid.UUID(found.group(1))


def finished(page: Page, count: int) -> None:
    """Wait until ``count`` replies show their metrics and the page can send again."""
    expect(page.locator("#cl-chat .cl-metrics")).to_have_count(count, timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()


def open_accordion(page: Page, elem_id: str, label: str) -> None:
    """Open the closed accordion ``#elem_id`` by clicking its label, as a user does, and wait until it is open.

    Once more if the click was lost: right after a reply the sidebar's listing refreshes and can move the label
    from under the pointer between Playwright's aim and its click (seen under load in CI). Fails unless it opens."""
    button = page.locator(f"#{elem_id} button.label-wrap").first
    is_open = re.compile(r"(^|\s)open(\s|$)")
    button.get_by_text(label).click()
    try:
        expect(button).to_have_class(is_open, timeout=5_000)
    except AssertionError:  # the click was lost
        button.get_by_text(label).click()
        expect(button).to_have_class(is_open)
