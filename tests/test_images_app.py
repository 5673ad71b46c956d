"""Images through the running app (issue 16): attached on the page in Chromium (button, paste, drop), shown as
thumbnails, sent to the fake TGI as data URLs, kept across a reload; refused with the text kept (not an image, too
large, a text-only model); served only to their owner and through that conversation's share link; a deleted
conversation's image answers 404; ``/chat`` takes ``handle_file`` files and ``/v1`` names a text-only model's
refusal. One app for the module, its image cap small enough to test."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from gradio_client import Client, handle_file
from playwright.sync_api import Page, expect

from errors import MessageRejected
from storage.purge import Purge, Purged
from storage.schema import Generation, MessageImage
from tests.support.apps import Launch, RunningApp, launched_app
from tests.support.browser import conversation_of, finished, open_accordion, open_chat, send
from tests.support.config import make_settings
from tests.support.disks import fill, small_tmpfs
from tests.support.fake_tgi import TEXT_PIPELINE, VISION_PIPELINE, Behaviour, FakeTgi
from tests.support.images import png
from tests.support.openai_sdk import openai_client
from tests.support.rawqueue import call, fn_index
from ui.api import uploaded_paths

HOSTILE_NAME = '"><img src=x onerror=alert(1)>.png'
MAX_BYTES = 8192


@pytest.fixture(scope="module")
def images_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    settings = make_settings(
        tmp_path_factory.mktemp("images"), tgi_url=fake_tgi_server.url, info_ttl_s=0, auto_title=False,
        request_timeout_s=5, connect_timeout_s=2, image_max_bytes=MAX_BYTES,
    )  # fmt: skip
    with launched_app(settings) as running:
        yield running


def attach(page: Page, files: list[tuple[str, str, bytes]]) -> None:
    page.locator("#cl-input input[type=file]").set_input_files(
        [{"name": name, "mimeType": mime, "buffer": data} for name, mime, data in files]
    )


def thumbnails_loaded(page: Page, count: int) -> None:
    thumbs = page.locator("#cl-chat img.cl-thumb")
    expect(thumbs).to_have_count(count, timeout=10_000)
    for i in range(count):  # fetched and decoded: the owner is served the bytes
        expect(thumbs.nth(i)).to_have_js_property("complete", True)
        assert thumbs.nth(i).evaluate("img => img.naturalWidth") > 0


def delete_conversation(app: RunningApp, user_id: object, cid: object) -> None:
    """Through the app's own recorder, on a loop of its own (Playwright's holds this thread)."""
    recorder = app.chatlens.recorder
    done = threading.Thread(target=lambda: asyncio.run(recorder.delete(user_id=user_id, conversation_id=cid)))  # type: ignore[arg-type]
    done.start()
    done.join(10)


def purge_conversation(app: RunningApp, user_id: str, cid: str) -> Purged:
    """Delete for good through the app's own recorder (as "Delete forever" and the expiry do), from a test thread
    that Playwright's loop may hold (no ``asyncio.run`` here)."""
    purging = app.chatlens.recorder.purge_later(Purge(uuid.UUID(user_id), (uuid.UUID(cid),)))
    return purging.result(10)


def test_an_attached_image_is_shown_sent_kept_and_served_to_its_owner_only(
    page: Page, images_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    fake_tgi.next(Behaviour(reply="A grey square.", finish_reason="stop"))
    open_chat(page, images_app.url)
    expect(page.locator("#cl-input [data-testid=upload-button]")).to_be_visible()
    picture = png(3, 2)
    attach(page, [(HOSTILE_NAME, "image/png", picture), ("b.png", "image/png", png(2, 2))])
    box = page.locator("#cl-input textarea")
    box.fill("What is in these?")
    expect(page.locator("#cl-input .thumbnail-item, #cl-input .thumbnail-image").first).to_be_visible()
    box.press("Enter")
    finished(page, 1)
    thumbnails_loaded(page, 2)
    assert page.locator("#cl-chat img[onerror]").count() == 0  # the hostile name stayed an attribute

    [sent] = [m for m in fake_tgi.streams[-1].body["messages"] if m["role"] == "user"]
    text, first, second = sent["content"]
    assert text == {"type": "text", "text": "What is in these?"}
    header, _, data = first["image_url"]["url"].partition(",")
    assert header == "data:image/png;base64" and base64.b64decode(data) == picture
    assert second["image_url"]["url"].startswith("data:image/png;base64,")

    cid = conversation_of(page)
    rows = images_app.rows(MessageImage, conversation_id=cid)
    hostile, plain = sorted(rows, key=lambda r: r.position)
    assert "onerror=alert(1)" in hostile.name and plain.name == "b.png"  # Gradio's upload drops < > from the name
    assert page.locator("#cl-chat img.cl-thumb").first.get_attribute("alt") == hostile.name
    page.reload()
    thumbnails_loaded(page, 2)

    src = page.locator("#cl-chat img.cl-thumb").first.get_attribute("src") or ""
    assert re.fullmatch(r"/images/[0-9a-f]{64}", src)
    own = page.context.request.get(images_app.url + src)
    assert own.status == 200 and own.body() == picture and own.headers["content-type"] == "image/png"
    assert own.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(images_app.url + src).status_code == 404  # another caller (a new anonymous user)

    open_accordion(page, "cl-portability", "Export · import · share")
    page.locator("#cl-share").click()
    link = page.locator("#cl-link textarea, #cl-link input").first
    expect(link).to_have_value(re.compile(r"/share/[A-Za-z0-9_-]{43}$"))
    shared_page = httpx.get(link.input_value()).text
    [shared_src] = re.findall(r'src="(/share/[^"]+/images/[0-9a-f]{64})"', shared_page)[:1]
    assert shared_src.endswith(src.rsplit("/", 1)[1]) and "<img src=x" not in shared_page
    assert httpx.get(images_app.url + shared_src).content == picture  # anyone holding the link

    delete_conversation(images_app, rows[0].user_id, cid)
    assert page.context.request.get(images_app.url + src).status == 404
    assert httpx.get(images_app.url + shared_src).status_code == 404


def test_a_file_that_is_not_an_image_or_too_large_is_refused_and_the_text_stays(
    page: Page, images_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    open_chat(page, images_app.url)
    box = page.locator("#cl-input textarea")
    for name, data, reason in [
        ("notes.png", b"%PDF-1.7 not an image", "is not a PNG, JPEG, WebP or GIF image"),
        ("big.png", png() + b"\0" * MAX_BYTES, "images are limited to 8 KB each"),
    ]:
        attach(page, [(name, "image/png", data)])
        box.fill("Keep this text")
        box.press("Enter")
        expect(page.get_by_text(reason)).to_be_visible(timeout=10_000)
        expect(box).to_have_value("Keep this text")
        page.reload()
    assert fake_tgi.streams == []
    assert page.locator("#cl-chat img.cl-thumb").count() == 0


def test_a_text_only_model_shows_no_attach_button(page: Page, images_app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.pipeline_tag = TEXT_PIPELINE
    open_chat(page, images_app.url)
    expect(page.locator("#cl-input textarea")).to_be_visible()
    expect(page.locator("#cl-input [data-testid=upload-button]")).to_have_count(0)


def test_chat_api_takes_files(images_app: RunningApp, fake_tgi: FakeTgi, tmp_path: Path) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    fake_tgi.next(Behaviour(reply="Grey.", finish_reason="stop"))
    image = tmp_path / "grey.png"
    image.write_bytes(png(5, 5))
    client = Client(images_app.url, verbose=False)
    cid = client.predict(api_name="/new_conversation")
    reply = client.predict("Colour?", cid, files=[handle_file(str(image))], api_name="/chat")
    assert reply == "Grey."
    [sent] = [m for m in fake_tgi.streams[-1].body["messages"] if m["role"] == "user"]
    assert base64.b64decode(sent["content"][1]["image_url"]["url"].partition(",")[2]) == png(5, 5)
    [row] = images_app.rows(MessageImage, conversation_id=uuid.UUID(cid))
    assert row.name == "grey.png" and row.mime_type == "image/png"


def test_chat_api_reads_only_files_from_the_upload_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads = tmp_path / "gradio"
    (uploads / "abc").mkdir(parents=True)
    (uploads / "abc" / "cat.png").write_bytes(png())
    (tmp_path / "secret.png").write_bytes(png())
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    assert uploaded_paths([{"path": str(uploads / "abc" / "cat.png")}]) == [str(uploads / "abc" / "cat.png")]
    for outside in (str(tmp_path / "secret.png"), str(uploads / "abc" / ".." / ".." / "secret.png"), "/etc/hostname"):
        with pytest.raises(MessageRejected, match="uploaded with the request"):
            uploaded_paths([{"path": outside}])


def test_v1_refuses_an_image_for_a_text_only_model_by_name(images_app: RunningApp, fake_tgi: FakeTgi) -> None:
    url = "data:image/png;base64," + base64.b64encode(png()).decode()
    body = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": url}}],
            }
        ]
    }
    answer = httpx.post(images_app.url + "/v1/chat/completions", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "model_does_not_take_images" and "does not take images" in error["message"]
    assert fake_tgi.streams == []


DATA_TRANSFER_JS = """([kind, b64]) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], "pasted.png", {type: "image/png"}));
    const box = document.querySelector("#cl-input textarea");
    if (kind === "paste") {
        box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
    } else {
        for (const type of ["dragenter", "dragover", "drop"]) {  // on the box: the drop zone around it hears them
            box.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
        }
    }
}"""


@pytest.mark.parametrize("kind", ["paste", "drop"])
def test_an_image_pasted_or_dropped_is_attached_and_a_text_only_model_refuses_it_keeping_the_text(
    page: Page, images_app: RunningApp, fake_tgi: FakeTgi, kind: str
) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    open_chat(page, images_app.url)
    expect(page.locator("#cl-input [data-testid=upload-button]")).to_be_visible()
    page.evaluate(DATA_TRANSFER_JS, [kind, base64.b64encode(png(4, 4)).decode()])
    expect(page.locator("#cl-input .thumbnail-item, #cl-input .thumbnail-image").first).to_be_visible()
    fake_tgi.pipeline_tag = TEXT_PIPELINE  # the server now says it reads text only (info_ttl_s=0)
    box = page.locator("#cl-input textarea")
    box.fill("Describe it")
    box.press("Enter")
    expect(page.get_by_text("does not take images")).to_be_visible(timeout=10_000)
    expect(box).to_have_value("Describe it")
    assert fake_tgi.streams == []


def test_an_edited_question_keeps_its_images(page: Page, images_app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    fake_tgi.next(Behaviour(reply="Grey.", finish_reason="stop"), Behaviour(reply="Still grey.", finish_reason="stop"))
    open_chat(page, images_app.url)
    attach(page, [("cat.png", "image/png", png(3, 3))])
    send(page, "Colour?")
    finished(page, 1)
    thumbnails_loaded(page, 1)
    page.locator("#cl-chat .message").first.hover()
    page.get_by_role("button", name="Edit").first.click()
    page.locator("#cl-chat textarea").fill("Which colour, exactly?")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#cl-chat")).to_contain_text("Still grey.", timeout=10_000)
    finished(page, 1)
    thumbnails_loaded(page, 1)
    [sent] = [m for m in fake_tgi.streams[-1].body["messages"] if m["role"] == "user"]
    assert sent["content"][0] == {"type": "text", "text": "Which colour, exactly?"}
    assert base64.b64decode(sent["content"][1]["image_url"]["url"].partition(",")[2]) == png(3, 3)


def data_url(data: bytes, mime_type: str = "image/png") -> str:
    return f"data:{mime_type};base64," + base64.b64encode(data).decode()


def with_image(text: str, url: str) -> Any:
    parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]
    return {"role": "user", "content": parts}


def image_files(app: RunningApp) -> list[Path]:
    root = app.chatlens.store.images.root
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_v1_takes_image_parts_in_every_user_message_sends_and_stores_them(
    images_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    fake_tgi.next(Behaviour(reply="Both grey.", finish_reason="stop"))
    first, second = png(2, 2), png(3, 3)
    messages = [
        with_image("This one?", data_url(first)),
        {"role": "assistant", "content": "Grey."},
        with_image("And this?", data_url(second)),
    ]
    reply = openai_client(f"{images_app.url}/v1").chat.completions.create(model="default", messages=messages)
    assert reply.choices[0].message.content == "Both grey."
    sent = [m for m in fake_tgi.streams[-1].body["messages"] if m["role"] == "user"]
    assert [part["type"] for part in sent[0]["content"]] == ["text", "image_url"]
    assert [base64.b64decode(m["content"][1]["image_url"]["url"].partition(",")[2]) for m in sent] == [first, second]
    cid = images_app.last(Generation).conversation_id
    rows = images_app.rows(MessageImage, conversation_id=cid)
    assert sorted(row.sha256 for row in rows) == sorted(hashlib.sha256(d).hexdigest() for d in (first, second))
    assert len({row.message_id for row in rows}) == 2  # each image with its own message
    stored = {p.name: p.read_bytes() for p in image_files(images_app)}
    assert stored[hashlib.sha256(first).hexdigest()] == first and stored[hashlib.sha256(second).hexdigest()] == second


def test_v1_keeps_no_image_with_metrics_only(images_app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    picture = png(6, 6)
    client = openai_client(f"{images_app.url}/v1", default_headers={"X-ChatLens-Store": "metrics-only"})
    client.chat.completions.create(model="default", messages=[with_image("Secret photo", data_url(picture))])
    sent = fake_tgi.streams[-1].body["messages"][-1]
    assert base64.b64decode(sent["content"][1]["image_url"]["url"].partition(",")[2]) == picture
    generation = images_app.last(Generation)
    assert generation.status == "complete"
    assert images_app.rows(MessageImage, conversation_id=generation.conversation_id) == []
    assert hashlib.sha256(picture).hexdigest() not in {p.name for p in image_files(images_app)}


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("https://example.com/cat.png", "invalid_image_url", "fetches no URL"),
        ("data:image/png,rawbytes", "invalid_image_url", "must be base64"),
        ("data:image/png;base64,***", "invalid_image_url", "does not decode"),
        (data_url(b"%PDF-1.7 not a picture"), "rejected", "is not a PNG, JPEG, WebP or GIF image"),
        (data_url(png() + b"\0" * MAX_BYTES), "rejected", "images are limited to 8 KB each"),
    ],
)
def test_v1_refuses_images_it_does_not_take_with_the_reason_and_stores_nothing(
    images_app: RunningApp, fake_tgi: FakeTgi, url: str, code: str, says: str
) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    before = images_app.count(Generation), images_app.count(MessageImage), len(image_files(images_app))
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(f"{images_app.url}/v1").chat.completions.create(
            model="default", messages=[with_image("What is it?", url)]
        )
    error = raised.value.response.json()["error"]
    assert (error["code"], says in error["message"]) == (code, True), error
    assert (images_app.count(Generation), images_app.count(MessageImage), len(image_files(images_app))) == before
    assert fake_tgi.streams == []


def test_v1_in_privacy_mode_sends_images_and_writes_none(launch: Launch, tmp_path: Path, fake_tgi: FakeTgi) -> None:
    app = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, store_content=False, auto_title=False))
    fake_tgi.pipeline_tag = VISION_PIPELINE
    picture = png(7, 7)
    openai_client(f"{app.url}/v1").chat.completions.create(
        model="default", messages=[with_image("Hm?", data_url(picture))]
    )
    sent = fake_tgi.streams[-1].body["messages"][-1]
    assert base64.b64decode(sent["content"][1]["image_url"]["url"].partition(",")[2]) == picture
    assert app.last(Generation).status == "complete"
    assert app.count(MessageImage) == 0 and image_files(app) == []


def test_a_purged_conversations_images_leave_the_disk_and_answer_404_while_a_shared_one_stays(
    images_app: RunningApp, fake_tgi: FakeTgi, tmp_path: Path
) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    fake_tgi.next(Behaviour(reply="Grey.", finish_reason="stop"), Behaviour(reply="Greyer.", finish_reason="stop"))
    only, shared, both = png(11, 3), png(12, 3), png(13, 3)
    for name, data in (("only", only), ("shared", shared), ("both", both)):
        (tmp_path / f"{name}.png").write_bytes(data)
    client = Client(images_app.url, verbose=False)
    purged = client.predict(api_name="/new_conversation")
    client.predict(
        "These?", purged, files=[handle_file(str(tmp_path / n)) for n in ("only.png", "both.png")], api_name="/chat"
    )
    kept = client.predict(api_name="/new_conversation")
    client.predict(
        "And these?", kept, files=[handle_file(str(tmp_path / n)) for n in ("shared.png", "both.png")], api_name="/chat"
    )
    sha = {
        name: hashlib.sha256(data).hexdigest() for name, data in (("only", only), ("shared", shared), ("both", both))
    }
    owner_folder = images_app.chatlens.store.images.root / str(
        images_app.rows(MessageImage, conversation_id=uuid.UUID(purged))[0].user_id
    )
    demo = images_app.demo
    with httpx.Client(base_url=images_app.url, cookies=client.cookies) as owner:
        assert owner.get(f"/images/{sha['only']}").content == only  # the owner's session, as /chat was called
        link = call(owner, fn_index(demo, "share"), [kept])["output"]["data"][0]["value"]
        token = link.rsplit("/", 1)[1]
        call(owner, fn_index(demo, "delete"), [purged])
        assert (owner_folder / sha["only"]).is_file()  # deleted, not purged: restorable with its images
        done = purge_conversation(images_app, owner_folder.name, purged)  # "Delete forever": tests/test_undo.py
        assert done.files == 1

        assert not (owner_folder / sha["only"]).exists()
        assert owner.get(f"/images/{sha['only']}").status_code == 404
        assert images_app.count(MessageImage, conversation_id=uuid.UUID(purged)) == 0
        assert owner.get(f"/images/{sha['both']}").content == both  # the kept conversation names it too
        for name in ("shared", "both"):
            assert (
                httpx.get(f"{images_app.url}/share/{token}/images/{sha[name]}").content
                == {"shared": shared, "both": both}[name]
            )
    assert sorted(p.name for p in owner_folder.iterdir()) == sorted([sha["shared"], sha["both"]])


@pytest.mark.process  # mount, umount
def test_when_the_message_cannot_be_saved_the_text_and_the_images_go_back_in_the_box(
    page: Page, launch: Launch, fake_tgi: FakeTgi, tmp_path: Path
) -> None:
    """A full disk: the send fails before its reply starts (StorageFailed), and the box holds what was in it."""
    with small_tmpfs(tmp_path / "data", size_mb=16) as data:
        settings = make_settings(
            tmp_path, database_url=f"duckdb:///{data / 'chatlens.duckdb'}", data_dir=data,
            tgi_url=fake_tgi.url, auto_title=False, info_ttl_s=0,
        )  # fmt: skip
        app = launch(settings)
        fake_tgi.pipeline_tag = VISION_PIPELINE
        open_chat(page, app.url)
        picture = png(9, 4)
        attach(page, [("kept.png", "image/png", picture)])
        box = page.locator("#cl-input textarea")
        box.fill("Look again")
        filler = fill(data)
        box.press("Enter")
        expect(page.get_by_text("could not save this message")).to_be_visible(timeout=10_000)
        expect(box).to_have_value("Look again")
        expect(page.locator("#cl-input .thumbnail-item")).to_have_count(1)
        assert fake_tgi.streams == []

        filler.unlink()
        fake_tgi.next(Behaviour(reply="Grey, still.", finish_reason="stop"))
        box.press("Enter")  # sent again as it was: the same text and the same image
        expect(page.locator("#cl-chat")).to_contain_text("Grey, still.", timeout=10_000)
        [sent] = [m for m in fake_tgi.streams[-1].body["messages"] if m["role"] == "user"]
        assert sent["content"][0] == {"type": "text", "text": "Look again"}
        assert base64.b64decode(sent["content"][1]["image_url"]["url"].partition(",")[2]) == picture
        thumbnails_loaded(page, 1)
