"""Who is calling: every handler asks ``Identities.of(request)`` and passes the user id down to the store.

Until login lands this is one anonymous identity for everyone; the analytics tab is admin-only, which before login
means "only when ``ANALYTICS_OPEN=true``" (local use).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import gradio as gr

from settings import Settings

ANONYMOUS_USER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "chatlens:anonymous")


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: uuid.UUID
    display_name: str
    is_admin: bool


class Identities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def of(self, request: gr.Request | None) -> Identity:
        return Identity(ANONYMOUS_USER_ID, "anonymous", is_admin=self._settings.analytics_open)
