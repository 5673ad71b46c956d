"""Deutsch. Du-Form wie in Chat-Oberflächen üblich; „Unterhaltung“ für conversation, „Antwort“ für reply,
„Modellserver“ für model server, Token bleibt Token."""

TEXT: dict[str, str] = {
    "chat_send": "Senden",
    "chat_stop": "Stopp",
    "chat_retry": "↻ Neu erzeugen",
    "chat_continue": "→ Fortsetzen",
    "chat_new": "+ Neuer Chat",
    "chat_comment": "Kommentar",
    "chat_comment_placeholder": "Kommentar zu deiner Bewertung (optional) — Enter speichert",
    "chat_placeholder_ready": (
        "**Frag einfach.** Jede Antwort wird gemessen: Zeit bis zum ersten Token, Tokens/s, Tokens."
    ),
    "chat_placeholder_unconfigured": (
        "**Kein Modellserver eingerichtet.** Starte ChatLens mit `TGI_URL`, das auf einen TGI-, vLLM- oder "
        "llama.cpp-Server zeigt, z. B. `TGI_URL=http://127.0.0.1:8080 make run`."
    ),
    "chat_settings": "Einstellungen",
    "chat_tab_model": "Modell",
    "chat_tab_theme": "Darstellung",
    "composer_label": "Nachricht",
    "composer_placeholder": "Nachricht an ChatLens — Enter sendet, Umschalt+Enter fügt eine Zeile ein",
    "page_chats": "Chats",
    "page_settings": "Einstellungen",
    "page_composer_short": "Nachricht an ChatLens",
    "history_label": "Unterhaltungen",
    "history_search": "Unterhaltungen durchsuchen",
    "history_search_placeholder": "Titel und Nachrichten durchsuchen",
    "history_title": "Titel dieses Chats",
    "history_rename": "Umbenennen",
    "history_delete": "Löschen",
    "portability_label": "Exportieren · Importieren · Teilen",
    "portability_export": "Exportieren",
    "portability_import": "JSON importieren",
    "portability_downloads": "Downloads",
    "portability_share": "Link teilen",
    "portability_revoke": "Links widerrufen",
    "portability_link": "Schreibgeschützter Link auf diesen Chat in seinem jetzigen Stand (wird nur einmal angezeigt)",
    "model_model": "Modell",
    "model_system_prompt": "Systemprompt",
    "model_preset": "Voreinstellung",
    "model_reset": "Zurücksetzen",
    "model_temperature": "Temperatur (0 = deterministisch)",
    "model_top_p": "Top-p (1 = aus)",
    "model_max_tokens": "Max. neue Tokens",
    "model_frequency_penalty": "Frequenzstrafe (0 = aus)",
    "model_seed": "Seed (leer = zufällig)",
    "model_stop_sequences": "Stoppsequenzen (eine pro Zeile)",
    "model_thinking": "Denken (Modelle, die es ein- oder ausschalten können)",
    "model_reasoning_effort": "Denkaufwand (gpt-oss)",
    "model_save_as": "Diese Einstellungen speichern als",
    "model_preset_name": "Name der Voreinstellung",
    "model_save": "Speichern",
    "theme_scheme": "Farbschema",
    "theme_accent": "Akzentfarbe",
    "theme_size": "Schriftgröße",
    "theme_font": "Schriftart",
    "theme_code": "Code-Farben",
    "theme_density": "Dichte",
    "theme_layout": "Nachrichten",
    "theme_reset": "Darstellung zurücksetzen",
    "theme_shortcuts": (
        "**Tastatur** — Enter sendet · Umschalt+Enter neue Zeile · Esc stoppt eine Antwort · "
        "Strg+Umschalt+O (⌘⇧O) neuer Chat"
    ),
    "account_tab": "Konto",
    "account_token_name": "Name eines neuen Tokens",
    "account_create": "Token erstellen",
    "account_new_token": "Dein neues Token: kopiere es jetzt, es wird nur einmal angezeigt",
    "account_tokens": "Deine Tokens",
    "account_revoke": "Widerrufen",
    "number_decimal": ",",
    "metrics_first_token": "{seconds} s bis zum ersten Token",
    "metrics_answer": "{seconds} s bis zur Antwort",
    "metrics_rate": "{rate} Tokens/s",
    "metrics_token": "{count} Token",
    "metrics_tokens": "{count} Tokens",
    "metrics_thinking": "{tokens} (davon {count} Denken)",
    "metrics_stopped": "gestoppt",
    "metrics_error": "Fehler",
    "status_waiting": "Warte auf das erste Token",
    "status_thinking": "Denkt nach",
    "status_answering": "Antwortet",
    "status_generating": "Schreibt",
    "share_title": "Geteilte Unterhaltung",
    "share_user": "Nutzer",
    "share_assistant": "Assistent",
    "share_thinking": "Gedanken",
    "share_footer": "Ein schreibgeschützter Stand, geteilt aus ChatLens am {when} UTC.",
    "error_error": "Etwas ist schiefgegangen. Bitte versuche es erneut.",
    "error_not_configured": (
        "Kein Modellserver eingerichtet. Setze TGI_URL auf die Adresse eines TGI-, vLLM- oder llama.cpp-Servers "
        "(zum Beispiel TGI_URL=http://127.0.0.1:8080) und starte ChatLens neu."
    ),
    "error_unreachable": "Der Modellserver ist nicht erreichbar. Prüfe, ob er läuft, und versuche es erneut.",
    "error_timeout": "Der Modellserver hat zu lange für eine Antwort gebraucht. Versuche es gleich noch einmal.",
    "error_overloaded": "Der Modellserver ist überlastet — versuche es in ein paar Sekunden erneut.",
    "error_unavailable": (
        "Der Modellserver ist nicht bereit (lädt noch oder ist gestört). Versuche es in einer Minute erneut."
    ),
    "error_input_too_long": (
        "Die Unterhaltung ist für dieses Modell zu lang. Beginne einen neuen Chat oder kürze deine Nachricht."
    ),
    "error_validation": "Der Modellserver hat die Generierungseinstellungen abgelehnt.",
    "error_generation": "Der Modellserver ist beim Schreiben der Antwort gescheitert. Versuche es erneut.",
    "error_incomplete": (
        "Der Modellserver hat die Antwort ohne Angabe von Gründen vorzeitig beendet. Versuche es erneut."
    ),
    "error_reply_too_large": (
        "Der Modellserver hat eine übergroße Antwort gesendet; sie wurde abgeschnitten und bis dahin gespeichert."
    ),
    "error_auth": "Der Modellserver hat die Zugangsdaten von ChatLens abgelehnt. Prüfe TGI_API_KEY.",
    "error_rejected": (
        "Die Nachricht konnte so nicht gesendet werden. Beginne einen neuen Chat oder kürze die Nachricht."
    ),
    "error_storage": (
        "ChatLens konnte diese Nachricht nicht speichern, daher wurde sie nicht beantwortet; versuche es erneut."
    ),
    "error_storage_reply": (
        "ChatLens konnte diese Antwort nicht speichern: Die Datenbank nimmt keine Schreibvorgänge an. Sie wird hier "
        "angezeigt, fehlt aber, wenn du den Chat wieder öffnest — kopiere sie jetzt, falls du sie brauchst."
    ),
    "error_shutdown": "ChatLens startet neu. Deine Nachricht wurde nicht gesendet; versuche es gleich noch einmal.",
}
