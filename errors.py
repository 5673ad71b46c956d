"""The errors ChatLens shows to users. Every message is safe to display: it says what happened and what to do.

The adapter in ``inference.tgi`` is the one place that turns vendor exceptions into these; the UI turns them into
``gr.Error`` in one place. ``kind`` is the short label stored in ``generations.error_type``.
"""

from __future__ import annotations


class ChatLensError(Exception):
    kind = "error"
    default_message = "Something went wrong. Please retry."

    def __init__(self, user_message: str | None = None, *, detail: str | None = None) -> None:
        self.user_message = user_message or self.default_message
        self.detail = detail
        super().__init__(self.user_message)


class NotConfigured(ChatLensError):
    kind = "not_configured"
    default_message = (
        "No model server is configured. Set TGI_URL to the address of a TGI, vLLM or llama.cpp server "
        "(for example TGI_URL=http://127.0.0.1:8080) and restart ChatLens."
    )


class ServerUnreachable(ChatLensError):
    kind = "unreachable"
    default_message = "The model server cannot be reached. Check that it is running, then retry."


class ServerTimeout(ChatLensError):
    kind = "timeout"
    default_message = "The model server took too long to answer. Retry in a moment."


class Overloaded(ChatLensError):
    kind = "overloaded"
    default_message = "The model server is overloaded — retry in a few seconds."


class Unavailable(ChatLensError):
    kind = "unavailable"
    default_message = "The model server is not ready (still loading or unhealthy). Retry in a minute."


class InputTooLong(ChatLensError):
    kind = "input_too_long"
    default_message = "The conversation is too long for this model. Start a new chat or shorten your message."


class InvalidParameters(ChatLensError):
    kind = "validation"
    default_message = "The model server rejected the generation settings."


class GenerationFailed(ChatLensError):
    kind = "generation"
    default_message = "The model server failed while writing the reply. Retry."


class IncompleteReply(ChatLensError):
    kind = "incomplete"
    default_message = "The model server ended the reply early without saying why. Retry."


class ReplyTooLarge(ChatLensError):
    kind = "reply_too_large"
    default_message = "The model server sent an oversized reply; it was cut off and saved up to that point."


class AuthRejected(ChatLensError):
    kind = "auth"
    default_message = "The model server refused ChatLens's credentials. Check TGI_API_KEY."


class MessageRejected(ChatLensError):
    """The user's own input cannot be sent; nothing went upstream."""

    kind = "rejected"
    default_message = "The message could not be sent as it was. Start a new chat or shorten it."


class MessageIdTaken(MessageRejected):
    """A client message id that names another message (or one that can no longer be answered): send with a new id."""


class ShuttingDown(ChatLensError):
    kind = "shutdown"
    default_message = "ChatLens is restarting. Your message was not sent; retry in a moment."


def _kinds(cls: type[ChatLensError]) -> dict[str, type[ChatLensError]]:
    found = {cls.kind: cls}
    for sub in cls.__subclasses__():
        found = _kinds(sub) | found  # the first class to claim a kind keeps it (MessageRejected, not its subclass)
    return found


def message_for_kind(kind: str) -> str:
    """The sentence a stored error (``generations.error_type``) is shown as again, e.g. after a reload: the class's
    own default message (the live one may have said more); an unknown kind reads as the generic sentence."""
    return _kinds(ChatLensError).get(kind, ChatLensError).default_message
