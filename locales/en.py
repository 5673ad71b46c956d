"""English: the source language. Every other language has exactly these keys (``tests/test_locales.py``)."""

TEXT: dict[str, str] = {
    # The chat page
    "chat_send": "Send",
    "chat_stop": "Stop",
    "chat_retry": "↻ Retry",
    "chat_continue": "→ Continue",
    "chat_new": "+ New chat",
    "chat_comment": "Comment",
    "chat_comment_placeholder": "Add a comment to your rating (optional) — Enter saves",
    "chat_placeholder_ready": "**Ask anything.** Every reply is timed: time to first token, tokens/s, tokens.",
    "chat_placeholder_unconfigured": (
        "**No model server is configured.** Start ChatLens with `TGI_URL` pointing at a TGI, vLLM or llama.cpp "
        "server, e.g. `TGI_URL=http://127.0.0.1:8080 make run`."
    ),
    "chat_settings": "Settings",
    "chat_tab_model": "Model",
    "chat_tab_theme": "Theme",
    "composer_label": "Message",
    "composer_placeholder": "Message ChatLens — Enter sends, Shift+Enter adds a line",
    # Drawn by the page script (ui/assets.py), not by Gradio
    "page_chats": "Chats",
    "page_settings": "Settings",
    "page_composer_short": "Message ChatLens",
    # The conversations sidebar
    "history_label": "Conversations",
    "history_search": "Search conversations",
    "history_search_placeholder": "Search titles and messages",
    "history_title": "Title of this chat",
    "history_rename": "Rename",
    "history_delete": "Delete",
    "portability_label": "Export · import · share",
    "portability_export": "Export",
    "portability_import": "Import JSON",
    "portability_downloads": "Downloads",
    "portability_share": "Share link",
    "portability_revoke": "Revoke links",
    "portability_link": "Read-only link to this chat as it is now (shown once)",
    # The Model panel
    "model_model": "Model",
    "model_system_prompt": "System prompt",
    "model_preset": "Preset",
    "model_reset": "Reset",
    "model_temperature": "Temperature (0 = greedy)",
    "model_top_p": "Top-p (1 = off)",
    "model_max_tokens": "Max new tokens",
    "model_frequency_penalty": "Frequency penalty (0 = off)",
    "model_seed": "Seed (empty = random)",
    "model_stop_sequences": "Stop sequences (one per line)",
    "model_thinking": "Thinking (models that can turn it on or off)",
    "model_reasoning_effort": "Reasoning effort (gpt-oss)",
    "model_save_as": "Save these settings as",
    "model_preset_name": "Preset name",
    "model_save": "Save",
    # The Theme panel
    "theme_scheme": "Colour scheme",
    "theme_accent": "Accent colour",
    "theme_size": "Text size",
    "theme_font": "Font",
    "theme_code": "Code colours",
    "theme_density": "Density",
    "theme_layout": "Messages",
    "theme_reset": "Reset appearance",
    "theme_shortcuts": (
        "**Keyboard** — Enter sends · Shift+Enter new line · Esc stops a reply · Ctrl+Shift+O (⌘⇧O) new chat"
    ),
    # The Account tab
    "account_tab": "Account",
    "account_token_name": "Name of a new token",
    "account_create": "Create token",
    "account_new_token": "Your new token: copy it now, it is shown only once",
    "account_tokens": "Your tokens",
    "account_revoke": "Revoke",
    # A reply's numbers (web/reply_html.py) and the streaming status (ui/render.py), written by the server
    "number_decimal": ".",
    "metrics_first_token": "{seconds} s to first token",
    "metrics_answer": "{seconds} s to answer",
    "metrics_rate": "{rate} tokens/s",
    "metrics_token": "{count} token",
    "metrics_tokens": "{count} tokens",
    "metrics_thinking": "{tokens} ({count} thinking)",
    "metrics_stopped": "stopped",
    "metrics_error": "error",
    "status_waiting": "Waiting for first token",
    "status_thinking": "Thinking",
    "status_answering": "Answering",
    "status_generating": "Generating",
    # The share page (web/share.py), chosen by Accept-Language
    "share_title": "Shared conversation",
    "share_user": "User",
    "share_assistant": "Assistant",
    "share_thinking": "Thinking",
    "share_footer": "A read-only snapshot shared from ChatLens on {when} UTC.",
    # Errors (errors.py: each kind's default sentence), chosen by Accept-Language
    "error_error": "Something went wrong. Please retry.",
    "error_not_configured": (
        "No model server is configured. Set TGI_URL to the address of a TGI, vLLM or llama.cpp server "
        "(for example TGI_URL=http://127.0.0.1:8080) and restart ChatLens."
    ),
    "error_unreachable": "The model server cannot be reached. Check that it is running, then retry.",
    "error_timeout": "The model server took too long to answer. Retry in a moment.",
    "error_overloaded": "The model server is overloaded — retry in a few seconds.",
    "error_unavailable": "The model server is not ready (still loading or unhealthy). Retry in a minute.",
    "error_input_too_long": "The conversation is too long for this model. Start a new chat or shorten your message.",
    "error_validation": "The model server rejected the generation settings.",
    "error_generation": "The model server failed while writing the reply. Retry.",
    "error_incomplete": "The model server ended the reply early without saying why. Retry.",
    "error_reply_too_large": "The model server sent an oversized reply; it was cut off and saved up to that point.",
    "error_auth": "The model server refused ChatLens's credentials. Check TGI_API_KEY.",
    "error_rejected": "The message could not be sent as it was. Start a new chat or shorten it.",
    "error_storage": "ChatLens could not save this message, so it was not answered; please retry.",
    "error_storage_reply": (
        "ChatLens could not save this reply: the database is not accepting writes. It is shown here but will be "
        "missing when you reopen the chat — copy it now if you need it."
    ),
    "error_shutdown": "ChatLens is restarting. Your message was not sent; retry in a moment.",
}
