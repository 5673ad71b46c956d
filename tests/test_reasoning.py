"""The reasoning splitter: every shape of thinking gives the same (thinking, answer), however the text is chunked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference.reasoning import DEFAULT_TAGS, ReasoningSplitter, split_reasoning
from tests.test_properties import examples


def split_chunked(chunks: list[str], tags: tuple[tuple[str, str], ...] = DEFAULT_TAGS) -> tuple[str, str]:
    splitter = ReasoningSplitter(tags)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.finish()
    return splitter.thinking_text, splitter.answer_text


@pytest.mark.parametrize(
    ("text", "thinking", "answer"),
    [
        ("Paris.", "", "Paris."),
        ("    indented code\n", "", "    indented code\n"),  # an answer without thinking is kept exactly
        ("<think>\nThe capital.\n</think>\n\nParis.", "\nThe capital.\n", "Paris."),
        ("The capital.\n</think>\n\nParis.", "The capital.\n", "Paris."),  # the template opened <think>
        ("<think>still thinking when the stream ended", "still thinking when the stream ended", ""),
        ("<think></think>\n\nParis.", "", "Paris."),  # Qwen3 with thinking turned off
        ("<thinking>a</thinking>b", "a", "b"),
        ("◁think▷a◁/think▷b", "a", "b"),
        ("<|begin_of_thought|>a<|end_of_thought|>b", "a", "b"),
        ("<think>a</think>b<think>c</think>d", "a\n\nc", "bd"),
        ("Use </think> to close.", "Use ", "to close."),  # documented: a first tag that closes means "inside"
        ("<think>a</think>b</think>c", "a", "b</think>c"),  # later stray closings are text
        ("x < y and <b>bold</b>", "", "x < y and <b>bold</b>"),
        ("<thin", "", "<thin"),  # a held possible tag that never completes is text
        ("<think>a</thi", "a</thi", ""),
    ],
)
def test_each_shape_of_inline_thinking_is_split(text: str, thinking: str, answer: str) -> None:
    assert split_reasoning(text) == (thinking, answer)
    assert split_chunked(list(text)) == (thinking, answer), "one character a chunk"


def test_a_tag_split_across_chunks_is_recognised() -> None:
    assert split_chunked(["<th", "ink>", "hmm", "</th", "ink>", "\n\n", "Hi"]) == ("hmm", "Hi")


def test_thinking_from_a_field_comes_before_an_answer_that_loses_its_leading_newlines() -> None:
    splitter = ReasoningSplitter()
    splitter.feed_thinking("Let me see.")
    assert splitter.in_thinking
    splitter.feed("\n\n")
    splitter.feed("Paris.")
    splitter.finish()
    assert (splitter.thinking_text, splitter.answer_text) == ("Let me see.", "Paris.")
    assert not splitter.in_thinking


def test_a_reply_that_started_inside_its_thinking_moves_its_early_text_once() -> None:
    splitter = ReasoningSplitter()
    splitter.feed("Okay, ")
    assert (splitter.answer_text, splitter.revision) == ("Okay, ", 0)
    splitter.feed("so.</think>")
    assert (splitter.thinking_text, splitter.answer_text, splitter.revision) == ("Okay, so.", "", 1)


def test_configured_tags_replace_the_defaults() -> None:
    assert split_reasoning("<think>a</think>b", [("[[", "]]")]) == ("", "<think>a</think>b")
    assert split_reasoning("[[a]]b", [("[[", "]]")]) == ("a", "b")
    assert split_reasoning("<think>a</think>b", []) == ("", "<think>a</think>b")


# Texts made of tag pieces, whitespace and words: every boundary a chunking can cut through.
PIECES = st.sampled_from(
    ["<think>", "</think>", "<th", "ink>", "</th", "<", ">", "/", "<thinking>", "</thinking>", "◁think▷",
     "◁/think▷", "<|begin_of_thought|>", "<|end_of_thought|>", "\n", "\n\n", " ", "a", "Paris", "x<y"]
)  # fmt: skip
TEXTS = st.lists(PIECES, max_size=40).map("".join)


@settings(max_examples=examples(500), deadline=None, derandomize=True)
@given(text=TEXTS, data=st.data())
def test_any_chunking_of_the_same_text_gives_the_same_thinking_and_answer(text: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=12)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert split_chunked(chunks) == split_reasoning(text)


WORDS = st.text(st.sampled_from("ab <>/\n"), max_size=30).filter(lambda t: "think" not in t)


@settings(max_examples=examples(300), deadline=None, derandomize=True)
@given(thinking=WORDS, answer=WORDS, opened=st.booleans(), data=st.data())
def test_a_thought_and_an_answer_come_back_as_they_were_sent(
    thinking: str, answer: str, opened: bool, data: st.DataObject
) -> None:
    text = ("<think>" if opened else "") + thinking + "</think>" + answer
    chunk_size = data.draw(st.integers(1, 9))
    chunks = [text[i : i + chunk_size] for i in range(0, len(text), chunk_size)]
    assert split_chunked(chunks) == (thinking, answer.lstrip())
