"""Personal API tokens: made in the page (shown once, stored hashed), used by gradio_client as that user on /chat,
refused once revoked; a token cannot manage tokens, and bearer values that are not ChatLens tokens are ignored."""

from __future__ import annotations

import uuid

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import Page, expect

from access.api_tokens import token_hash
from storage.schema import ApiToken, Conversation
from tests.support.apps import RunningApp
from tests.support.browser import open_chat, send
from tests.support.fake_tgi import FakeTgi


def create_token_in_page(page: Page, name: str) -> str:
    page.locator("#cl-panels .toggle-button").click()
    page.locator("#cl-tab-account-button").click()
    page.locator("#cl-token-name input").fill(name)
    page.locator("#cl-token-create").click()
    shown = page.locator("#cl-token-new textarea, #cl-token-new input").first
    expect(shown).to_be_visible(timeout=10_000)
    page.wait_for_function(
        "() => (document.querySelector('#cl-token-new textarea, #cl-token-new input')?.value || '')"
        ".startsWith('chatlens_')"
    )
    return str(shown.input_value())


def test_a_token_made_in_the_page_acts_as_that_user_until_revoked(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    open_chat(page, app.url)
    send(page, "made in the browser")
    expect(page.locator("#cl-chat")).to_contain_text("w3", timeout=10_000)
    token = create_token_in_page(page, "laptop script")

    [row] = [r for r in app.rows(ApiToken) if r.name == "laptop script"]
    assert row.token_hash == token_hash(token) and token not in (row.prefix, row.name, row.token_hash)
    browser_user = row.user_id

    client = Client(app.url, verbose=False, headers={"Authorization": f"Bearer {token}"})
    cid = client.predict(api_name="/new_conversation")
    client.predict("sent with my token", cid, api_name="/chat")
    [conversation] = app.rows(Conversation, id=uuid.UUID(cid))
    assert conversation.user_id == browser_user
    page.reload()
    expect(page.locator("#cl-conversations")).to_contain_text("sent with my token", timeout=10_000)

    page.locator("#cl-panels .toggle-button").click()
    page.locator("#cl-tab-account-button").click()
    page.locator("#cl-token-list input").click()
    page.get_by_role("option", name="laptop script").click()
    page.locator("#cl-token-revoke").click()
    expect(page.get_by_text("Token revoked")).to_be_visible(timeout=10_000)

    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{app.url}/config", headers=bearer).status_code == 401
    joined = httpx.post(f"{app.url}/gradio_api/queue/join", headers=bearer, json={"fn_index": 0, "data": []})
    assert joined.status_code == 401
    with pytest.raises(Exception, match="credentials"):
        Client(app.url, verbose=False, headers=bearer)


def test_unknown_tokens_get_401_and_other_bearer_values_are_ignored(app: RunningApp) -> None:
    unknown = httpx.get(f"{app.url}/config", headers={"Authorization": "Bearer chatlens_not-a-real-token"})
    assert unknown.status_code == 401 and "set-cookie" not in unknown.headers
    huggingface = httpx.get(f"{app.url}/config", headers={"Authorization": "Bearer hf_abcdef"})
    assert huggingface.status_code == 200 and "chatlens_session" in huggingface.cookies
