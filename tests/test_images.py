"""Images (issue 16) below the page: checked by their bytes, sent as ``image_url`` parts with data URLs to a model that
sees (its ``/info`` says so, or ``MODELS[].vision``), refused with a reason otherwise; counted in the context window;
stored as owner-scoped files and rows that come back with the history. The fake TGI is a real HTTP server, the store
a real database (DuckDB, PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

import errors
from inference import context
from inference.images import ImageRef, checked_images, content_parts, image_type
from inference.pacing import FrameBudget
from inference.ports import ReplyFrame
from inference.service import ChatService
from inference.tgi import TgiGenerator
from inference.turns import Edit, NewMessage
from inference.types import ChatMessage, GenerationParams, ModelInfo, TokenChunk
from storage import portability
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.config import make_settings
from tests.support.fake_model import FakeModel
from tests.support.fake_tgi import VISION_PIPELINE, FakeTgi
from tests.support.images import png
from tests.support.records import reply
from ui import attachments, render

SIGNATURES = {
    "image/png": png(),
    "image/jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 16,
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 16,
    "image/gif": b"GIF89a" + b"\x00" * 16,
}


@pytest.mark.parametrize(("mime_type", "data"), SIGNATURES.items())
def test_an_image_is_known_by_its_bytes(mime_type: str, data: bytes) -> None:
    assert image_type(data) == mime_type
    [image] = checked_images([("whatever.txt", data)])  # the name says nothing
    assert image.mime_type == mime_type
    assert image.data_url == f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([("notes.png", b"%PDF-1.7 not an image")], "'notes.png' is not a PNG, JPEG, WebP or GIF image"),
        ([("<img src=x onerror=alert(1)>\n.png", b"<svg onload=alert(1)>")], r"'<img src=x onerror=alert\(1\)> .png'"),
        ([("big.png", png() + b"\x00" * 2048)], "'big.png' is 3 KB; images are limited to 1 KB each"),
        ([(f"{i}.png", png()) for i in range(5)], "at most 4 images; this one has 5"),
    ],
)
def test_what_is_not_an_acceptable_image_is_refused_with_the_reason(
    files: list[tuple[str, bytes]], reason: str
) -> None:
    with pytest.raises(errors.MessageRejected, match=reason):
        checked_images(files, max_bytes=1024)


def test_a_message_with_images_is_sent_as_text_and_image_url_parts() -> None:
    [image] = checked_images([("a.png", png())])
    assert content_parts("What is this?", ()) == "What is this?"
    assert content_parts("What is this?", [image]) == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": image.data_url}},
    ]
    assert content_parts("", [image]) == [{"type": "image_url", "image_url": {"url": image.data_url}}]


def generator_for(fake: FakeTgi) -> TgiGenerator:
    return TgiGenerator(base_url=fake.url, request_timeout_s=5, connect_timeout_s=2, max_connections=4, info_ttl_s=0)


async def reply_to(generator: TgiGenerator, messages: list[ChatMessage]) -> str:
    try:
        return "".join([chunk.text async for chunk in generator.stream(messages, GenerationParams(max_tokens=5))])
    finally:
        await generator.aclose()


def test_a_model_that_sees_gets_the_image_as_a_data_url_and_says_it_sees(fake_tgi: FakeTgi) -> None:
    fake_tgi.pipeline_tag = VISION_PIPELINE
    [image] = checked_images([("cat.png", png(4, 3))])
    generator = generator_for(fake_tgi)
    assert asyncio.run(generator.info()).vision is True
    generator = generator_for(fake_tgi)
    reply = asyncio.run(reply_to(generator, [ChatMessage("user", "What is this?", (image,))]))
    assert reply.startswith("w0")
    [sent] = fake_tgi.streams[-1].body["messages"]
    text, picture = sent["content"]
    assert text == {"type": "text", "text": "What is this?"}
    header, _, data = picture["image_url"]["url"].partition(",")
    assert header == "data:image/png;base64" and base64.b64decode(data) == png(4, 3)


def test_a_text_only_model_says_so_and_refuses_an_image_with_a_reason(fake_tgi: FakeTgi) -> None:
    generator = generator_for(fake_tgi)
    assert asyncio.run(generator.info()).vision is False  # TGI's /info: model_pipeline_tag text-generation
    [image] = checked_images([("cat.png", png())])
    generator = generator_for(fake_tgi)
    with pytest.raises(errors.InvalidParameters, match="does not take images"):
        asyncio.run(reply_to(generator, [ChatMessage("user", "What is this?", (image,))]))


def test_context_fit_counts_images_and_leaves_out_the_oldest_images_first() -> None:
    [image] = checked_images([("a.png", png())])
    old = ChatMessage("user", "an old picture", (image, image))
    prompt = [
        ChatMessage("system", "sys"),
        old,
        ChatMessage("assistant", "grey"),
        ChatMessage("user", "and this?", (image,)),
    ]
    full = context.estimate_tokens(prompt, 3.0, image_tokens=500)
    assert full == context.estimate_tokens(prompt, 3.0) + 3 * 500
    # Room for everything but the old message's two images: they go, its text and every turn stay.
    fitted, use = context.fit(prompt, full - 1, 3.0, image_tokens=500)
    assert [m.content for m in fitted] == ["sys", "an old picture", "grey", "and this?"]
    assert [len(m.images) for m in fitted] == [0, 0, 0, 1] and use.used_tokens == full - 1000
    with pytest.raises(errors.MessageRejected, match="about 5"):  # the new message's own image counts
        context.check_fits([], "hi", 100, None, 3.0, image_tokens=500, images=1)


def test_a_configured_vision_flag_overrides_what_the_server_says(fake_tgi: FakeTgi) -> None:
    """``MODELS[].vision``: vLLM's and llama-server's /v1/models do not say whether the model sees."""
    seeing = TgiGenerator(
        base_url=fake_tgi.url, request_timeout_s=5, connect_timeout_s=2, max_connections=4, info_ttl_s=0, vision=True
    )

    async def vision() -> bool | None:
        try:
            return (await seeing.info()).vision
        finally:
            await seeing.aclose()

    assert asyncio.run(vision()) is True  # the fake's /info says text-generation


def test_stored_images_come_back_with_the_history_survive_an_edit_and_are_served_to_their_owner_only(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    [image] = checked_images([("cat.png", png(6, 6))])

    async def turns() -> None:
        first = await recorder.begin(NewMessage("What is this?", images=(image,)), user_id=owner)
        cid = first.conversation_id
        assert first.history[-1].images == (image,)
        await recorder.finish_turn(reply(cid, owner, "A grey square."))
        later = await recorder.begin(NewMessage("And now?", cid), user_id=owner)
        assert [m.images for m in later.history] == [(image,), (), ()]  # read back from its file
        assert later.history[0].images[0].data == png(6, 6)
        question = store.load_conversation(cid, owner).messages[0]  # type: ignore[union-attr]
        edited = await recorder.begin(Edit(cid, question.id, "What is this, really?"), user_id=owner)
        assert [m.images for m in edited.history] == [(image,)]
        [shown] = store.load_conversation(cid, owner).messages  # type: ignore[union-attr]
        assert shown.content == "What is this, really?" and shown.images == (image.ref,)
        view = store.load_conversation(cid, owner)
        assert view is not None and "*(1 image: `cat.png`)*" in portability.export_markdown(view)
        [kept] = json.loads(portability.export_json(view, exported_at=datetime.now(UTC)))["messages"]
        assert kept["images"] == [{"sha256": image.sha256, "mime_type": "image/png", "name": "cat.png"}]

        assert store.image_for_owner(owner, image.sha256) == ("image/png", png(6, 6))
        assert store.image_for_owner(stranger, image.sha256) is None
        assert store.image_for_owner(owner, "../" + image.sha256[3:]) is None
        await recorder.delete(user_id=owner, conversation_id=cid)
        assert store.image_for_owner(owner, image.sha256) is None

    asyncio.run(turns())
    assert (store.images.root / str(owner) / image.sha256).read_bytes() == png(6, 6)  # content-addressed


def test_a_hostile_file_name_is_only_ever_an_escaped_attribute_of_its_thumbnail() -> None:
    ref = ImageRef("a" * 64, "image/png", '"><img src=x onerror=alert(1)>')
    shown = render.user_content("look", [ref])
    assert shown.startswith("look\n\n") and "<img src=x" not in shown and 'alt="&quot;&gt;&lt;img' in shown
    assert render.without_thumbnails(shown) == "look"  # what an edit of the message keeps


def test_privacy_mode_takes_no_images(tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png())
    private = make_settings(tmp_path, store_content=False)
    assert not attachments.sees(ModelInfo("m", "tgi", "tgi", "http://tgi", vision=True), private)
    with pytest.raises(errors.MessageRejected, match="Privacy mode"):
        asyncio.run(attachments.read_images([str(image)], private))
    assert asyncio.run(attachments.read_images([str(image)], make_settings(tmp_path)))[0].data == png()


def test_what_an_image_takes_is_learned_from_usage_and_counted_in_the_next_turns_window(
    recorder: WriteBehindRecorder,
) -> None:
    [image] = checked_images([("cat.png", png())])
    model = FakeModel(max_total_tokens=32_768)
    service = ChatService(
        {"m": model}, recorder, budget=FrameBudget(min_interval_s=0.0, frames_per_s=1000), max_message_chars=1000,
        max_new_tokens=10, image_tokens=5000,
    )  # fmt: skip
    question = ChatMessage("user", "What is this?")
    text_tokens = context.estimate_tokens([question], context.DEFAULT_CHARS_PER_TOKEN)
    model.queue(TokenChunk(text="Grey.", finish_reason="stop", prompt_tokens=text_tokens + 270, completion_tokens=2))

    async def turn(message: NewMessage) -> list[ReplyFrame]:
        return [f async for f in service.stream_reply(message, user_id=owner, params=GenerationParams())]

    owner = uuid.uuid4()
    first = asyncio.run(turn(NewMessage(question.content, images=(image,))))
    assert first[0].context is not None and first[0].context.used_tokens == text_tokens + 5000  # the estimate
    assert first[-1].context is not None and first[-1].context.measured
    later = asyncio.run(turn(NewMessage("And now?", first[-1].conversation_id)))
    [sent] = [m for m in model.calls[-1].messages if m.images]
    assert sent.images == (image,)  # earlier images go again
    prompt = model.calls[-1].messages
    estimate = context.estimate_tokens(prompt, context.DEFAULT_CHARS_PER_TOKEN) + 300  # ⌈270 / 0.9⌉ per image
    assert later[0].context is not None and later[0].context.used_tokens == estimate
