"""The configuration reference, generated from ``settings.Settings``: ``docs/configuration.md`` and ``.env.example``.

``python -m tools.settings_docs`` (``make docs``) writes both; ``--check`` writes nothing and exits 1 when either
differs from what ``Settings`` declares (``tests/test_settings_docs.py`` runs the same check). Each setting's name,
type, default and help text are read from its ``Field``; the only things written here are the groups, a sentence
per group, and a few example values. Every setting must belong to exactly one group, so a new field cannot be left
out of the reference. Secrets never show a default, and every line of ``.env.example`` is a comment: copied to
``.env`` as it is, it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from settings import ModelServer, Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION_MD = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"
WIDTH = 118


@dataclass(frozen=True)
class Group:
    title: str
    intro: str
    fields: tuple[str, ...]


GROUPS: tuple[Group, ...] = (
    Group(
        "Model server",
        "Where replies come from: TGI, or any server speaking the Messages API (vLLM, llama.cpp `llama-server`). "
        "ChatLens calls its `/v1/chat/completions` (streamed), `/info` and `/health`.",
        ("tgi_url", "tgi_api_key", "models", "request_timeout_s", "connect_timeout_s", "info_ttl_s"),
    ),
    Group(
        "Local demo model",
        "With neither `TGI_URL` nor `MODELS`, local mode starts a small CPU model under llama.cpp's server as a "
        "child process on a loopback port (`make run` sets `LOCAL_MODE=true`).",
        ("local_mode", "local_model", "local_chat_format", "local_context_tokens", "local_max_new_tokens"),
    ),
    Group(
        "Messages and replies",
        "What a turn may hold and how a reply is asked for.",
        (
            "max_message_chars",
            "max_reply_chars",
            "max_new_tokens",
            "system_prompt",
            "auto_title",
            "reasoning_tags",
            "image_max_bytes",
            "images_per_message",
            "image_tokens",
        ),
    ),
    Group(
        "Serving",
        "How many replies one process streams, how often their frames are sent, and how it stops.",
        (
            "max_concurrent_streams",
            "reply_keep_unwatched_s",
            "replies_unwatched_per_user",
            "queue_max_size",
            "session_state_capacity",
            "frame_min_interval_ms",
            "frame_budget_per_s",
            "shutdown_grace_s",
        ),
    ),
    Group(
        "Storage and privacy",
        "One SQLAlchemy URL: a DuckDB file (one ChatLens process per file) or PostgreSQL (several replicas). "
        "See [deploy.md](deploy.md) and [security.md](security.md#privacy-mode).",
        ("database_url", "data_dir", "store_content", "temporary_chats", "import_max_bytes", "deleted_keep_days"),
    ),
    Group(
        "Analytics",
        "The admins' Analytics tab and its read-only SQL console ([features.md](features.md#analytics-admins)).",
        (
            "analytics_open",
            "analytics_cache_ttl_s",
            "analytics_refresh_s",
            "sql_console_max_rows",
            "sql_console_time_limit_s",
            "model_metrics_interval_s",
            "model_metrics_keep_days",
            "model_metrics_full_days",
            "browser_metrics",
        ),
    ),
    Group(
        "SLO alerts",
        "Judged over a sliding window; a breach heads the Analytics tab and sets `chatlens_slo_breached` in "
        "`/metrics`.",
        ("slo_ttft_p95_ms", "slo_error_rate", "slo_window_s", "slo_min_replies", "slo_check_interval_s"),
    ),
    Group(
        "Login",
        "Who is who: anonymous per-browser users, or OpenID Connect login "
        "([security.md](security.md#identity-and-login)).",
        (
            "auth_mode",
            "require_login",
            "api_require_token",
            "admin_users",
            "openid_provider_url",
            "oauth_client_id",
            "oauth_client_secret",
            "oauth_scopes",
            "oidc_usernames_unique",
            "oidc_allow_insecure",
            "public_url",
        ),
    ),
    Group(
        "Browser security",
        "Which other web pages may call ChatLens with a user's cookie, or frame it "
        "([security.md](security.md#foreign-pages-origin-check)).",
        ("allowed_origins", "allowed_frame_ancestors"),
    ),
    Group(
        "Sessions and cookies",
        "Signed session cookies: no server-side session storage ([security.md](security.md#sessions)).",
        (
            "session_secret",
            "session_secret_file",
            "session_idle_timeout_s",
            "session_max_age_s",
            "session_cookie_cross_site",
            "browser_state_secret",
        ),
    ),
    Group(
        "Request limits",
        "Checked before any handler runs or any model call is made "
        "([security.md](security.md#rate-limits-and-request-size)).",
        (
            "request_max_bytes",
            "api_request_max_bytes",
            "rate_limit_user_per_min",
            "rate_limit_ip_per_min",
            "trusted_proxies",
        ),
    ),
    Group(
        "Set by Hugging Face Spaces",
        "A Space sets these itself; they are read to choose the defaults above (storage, login, cookies).",
        ("space_id", "space_host", "space_storage_dir"),
    ),
)

# Values worth showing for settings whose default is unset or empty (never secrets).
EXAMPLES: dict[str, str] = {
    "tgi_url": "http://127.0.0.1:8080",
    "models": '[{"name": "Llama 3.1 8B", "url": "http://tgi-llama:80"}, {"name": "Qwen 72B", "url": "http://vllm:8000"}]',
    "local_model": "/models/model.gguf",
    "data_dir": "/data",
    "trusted_proxies": "10.0.0.5,192.168.1.0/24",
    "allowed_origins": "https://portal.example.com",
    "allowed_frame_ancestors": "https://intranet.example.com",
    "system_prompt": "You are a concise assistant.",
    "public_url": "https://chat.example.com",
    "openid_provider_url": "https://accounts.example.com/realms/main",
    "admin_users": "alice@example.com,248289761001",
}
# Values other than the default worth showing beside it.
EXAMPLES_OF_ENV: dict[str, str] = {"database_url": "postgresql+psycopg://chatlens:password@db:5432/chatlens"}

# Read from the process environment by the libraries ChatLens runs on, not by Settings (so not from .env).
OUTSIDE = (
    ("GRADIO_SERVER_NAME", "`127.0.0.1` (`0.0.0.0` in the Docker image)", "Gradio's own: the address it listens on."),
    ("GRADIO_SERVER_PORT", "`7860`", "Gradio's own: the port it listens on."),
    (
        "FORWARDED_ALLOW_IPS",
        "`127.0.0.1,::1`",
        "uvicorn's own: proxies whose `X-Forwarded-For` is trusted, so rate limits see the client's address "
        "behind them.",
    ),
)

MD_HEADER = """\
# Configuration

<!-- Generated from settings.py by `make docs` (python -m tools.settings_docs): do not edit by hand. Change the
     setting's Field(description=...) and regenerate; tests/test_settings_docs.py fails while this file drifts. -->

ChatLens reads environment variables, or a `.env` file in the directory it starts in
([`.env.example`](../.env.example) lists every setting, commented out). Names are case-insensitive; a variable in
the process environment wins over `.env`. A bad value stops start-up with one line naming the variable.
`python app.py --share` also makes a temporary public Gradio link ([deploy.md](deploy.md#share-link)).
"""

ENV_HEADER = """\
# ChatLens settings, every one commented out: copied to .env as it is, this file changes nothing.
# Uncomment a line to set it. Generated from settings.py by `make docs` (python -m tools.settings_docs): do not
# edit by hand. Reference: docs/configuration.md. The process environment wins over .env.
"""


def env_name(name: str) -> str:
    return name.upper()


def _plain_annotation(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None``, and whether ``None`` was part of it."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def is_secret(name: str, field: FieldInfo) -> bool:
    return _plain_annotation(field.annotation)[0] is SecretStr or name.endswith("_secret")


def type_of(field: FieldInfo) -> str:
    annotation, _ = _plain_annotation(field.annotation)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        kind = " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    elif origin is list:
        kind = "JSON list"
    elif origin is dict:
        kind = "JSON object"
    else:
        names = {str: "text", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret"}
        kind = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = []
    shortest = next((rule.min_length for rule in field.metadata if isinstance(rule, annotated_types.MinLen)), None)
    longest = next((rule.max_length for rule in field.metadata if isinstance(rule, annotated_types.MaxLen)), None)
    if shortest is not None and longest is not None:
        bounds.append(f"{shortest}–{longest} characters")
    elif shortest is not None:
        bounds.append(f"{shortest}+ characters")
    elif longest is not None:
        bounds.append(f"≤ {longest} characters")
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds.append(f"≥ {_number(rule.ge)}")
        elif isinstance(rule, annotated_types.Gt):
            bounds.append(f"> {_number(rule.gt)}")
        elif isinstance(rule, annotated_types.Le):
            bounds.append(f"≤ {_number(rule.le)}")
        elif isinstance(rule, annotated_types.Lt):
            bounds.append(f"< {_number(rule.lt)}")
    return ", ".join([kind, *bounds])


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def default_value(field: FieldInfo) -> str | None:
    """The default as it would be written in ``.env``; ``None`` when unset."""
    if field.default_factory is not None:
        made = field.default_factory()  # type: ignore[call-arg]
        if made in ([], {}):
            return None
        return json.dumps(made, ensure_ascii=False) if isinstance(made, list) else str(made)
    value = field.default
    if value is None or value is PydanticUndefined:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    return str(value)


def _duration(name: str, value: str) -> str:
    if not name.endswith("_s"):
        return ""
    seconds = float(value)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f" ({count} {'day' if unit == 'days' and count == 1 else unit})"
    return ""


def default_cell(name: str, field: FieldInfo) -> str:
    value = default_value(field)
    if is_secret(name, field):
        return "built in, not shown" if value is not None else "unset"
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    return f"`{value}`{_duration(name, value)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: Sequence[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {kind} | {_cell(default)} | {_cell(meaning)} |" for name, kind, default, meaning in rows]
    return lines


def _model_fields(settings_class: type[BaseModel]) -> dict[str, FieldInfo]:
    return dict(settings_class.model_fields)


def check_groups(settings_class: type[BaseModel]) -> None:
    """Every setting in exactly one group, and every grouped name a setting: else the reference would lie."""
    grouped = [name for group in GROUPS for name in group.fields]
    fields = _model_fields(settings_class)
    twice = sorted({name for name in grouped if grouped.count(name) > 1})
    missing = [name for name in fields if name not in grouped]
    unknown = [name for name in grouped if name not in fields]
    problems = []
    if missing:
        problems.append(f"settings in no group of tools/settings_docs.py GROUPS: {', '.join(missing)}")
    if unknown:
        problems.append(f"GROUPS names what Settings does not declare: {', '.join(unknown)}")
    if twice:
        problems.append(f"GROUPS names these twice: {', '.join(twice)}")
    if problems:
        raise ValueError("; ".join(problems))


def configuration_md(settings_class: type[BaseModel] = Settings) -> str:
    check_groups(settings_class)
    fields = _model_fields(settings_class)
    lines = [MD_HEADER.rstrip("\n"), ""]
    lines += [f"- [{group.title}](#{_anchor(group.title)})" for group in GROUPS]
    lines.append("- [Read by Gradio and uvicorn](#read-by-gradio-and-uvicorn)")
    for group in GROUPS:
        lines += ["", f"## {group.title}", "", group.intro, ""]
        rows = [
            (env_name(name), type_of(fields[name]), default_cell(name, fields[name]), fields[name].description or "")
            for name in group.fields
        ]
        lines += _table(rows)
        examples = [
            f"`{env_name(name)}={EXAMPLES.get(name) or EXAMPLES_OF_ENV[name]}`"
            for name in group.fields
            if (name in EXAMPLES and name != "models") or name in EXAMPLES_OF_ENV
        ]
        if examples:
            lines += ["", ("Example: " if len(examples) == 1 else "Examples: ") + "; ".join(examples)]
        if "models" in group.fields:
            lines += ["", *_models_section()]
    lines += [
        "",
        "## Read by Gradio and uvicorn",
        "",
        "Not settings of ChatLens: the libraries read these from the process environment themselves, so they take "
        "effect when exported (or set by Docker, compose or the Space), not from `.env`.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {default} | {meaning} |" for name, default, meaning in OUTSIDE]
    return "\n".join(lines) + "\n"


def _models_section() -> list[str]:
    lines = [
        "### `MODELS` entries",
        "",
        "`MODELS` replaces `TGI_URL` and gives the Model tab a picker (the choice is remembered per conversation). "
        "Each entry:",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in ModelServer.model_fields.items():
        default = "required" if field.is_required() else default_cell(name, field)
        lines.append(f"| `{name}` | {type_of(field)} | {default} | {_cell(field.description or '')} |")
    lines += [
        "",
        "```bash",
        'MODELS=\'[{"name": "Llama 3.1 8B", "url": "http://tgi-llama:80"},',
        '         {"name": "Qwen 72B", "url": "http://vllm-qwen:8000", "token": "…",',
        '          "params": {"temperature": 0.3, "max_tokens": 2048}}]\'',
        "```",
    ]
    return lines


def _anchor(title: str) -> str:
    kept = "".join(char for char in title.lower() if char.isalnum() or char in " -")
    return kept.replace(" ", "-")


def env_example(settings_class: type[BaseModel] = Settings) -> str:
    check_groups(settings_class)
    fields = _model_fields(settings_class)
    lines = [ENV_HEADER.rstrip("\n")]
    for group in GROUPS:
        lines += ["", _rule(group.title)]
        for name in group.fields:
            field = fields[name]
            lines += _comment(field.description or "")
            if name in EXAMPLES_OF_ENV:
                lines += _comment(f"e.g. {env_name(name)}={EXAMPLES_OF_ENV[name]}")
            value = "" if is_secret(name, field) else (default_value(field) or "")
            if not value and name in EXAMPLES:
                lines += _comment(f"{'Unset' if default_value(field) is None else 'Empty'} by default; for example:")
                value = _quoted(EXAMPLES[name])
            lines.append(f"# {env_name(name)}={value}")
    lines += ["", _rule("Read by Gradio and uvicorn from the process environment, not from .env")]
    for name, default, meaning in OUTSIDE:
        lines += _comment(f"{name}: {meaning} Default: {default}.".replace("`", ""))
    return "\n".join(lines) + "\n"


def _rule(title: str) -> str:
    return f"# ── {title} " + "─" * max(3, WIDTH - len(title) - 6)


def _quoted(value: str) -> str:
    return f"'{value}'" if any(char in value for char in " \"'#") else value


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, WIDTH - 2, break_on_hyphens=False)]


def generated(settings_class: type[BaseModel] = Settings) -> dict[Path, str]:
    return {CONFIGURATION_MD: configuration_md(settings_class), ENV_EXAMPLE: env_example(settings_class)}


def stale(files: dict[Path, str]) -> list[Path]:
    """The files whose text on disk is not what ``Settings`` generates."""
    return [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/configuration.md and .env.example from Settings.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if either file is out of date")
    args = parser.parse_args(argv)
    files = generated()
    out_of_date = stale(files)
    if args.check:
        for path in out_of_date:
            print(f"{path.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
        return 1 if out_of_date else 0
    for path in out_of_date:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
