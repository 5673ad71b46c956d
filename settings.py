"""ChatLens configuration: every setting declared once, with its default and help text.

Built once in ``app.main()`` and passed down; nothing reads the environment at import time.
Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` are left to Gradio.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from inference.reasoning import DEFAULT_TAGS
from inference.types import GenerationParams


def _secure_issuer(url: str) -> bool:
    """An https:// issuer, or http:// on loopback (a provider on this machine: nothing crosses a network)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return parts.scheme == "http"
    try:
        return parts.scheme == "http" and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("a model server URL must start with http:// or https://")
    return value.rstrip("/")


# A Space's visitors reach the app through Hugging Face's proxy, whose address is private (seen: 10.x);
# see docs/deploy.md#behind-a-proxy for the evidence and how indirect it is.
SPACE_PROXY_NETWORK = "10.0.0.0/8"


def _words(value: str) -> list[str]:
    return [word for word in value.replace(",", " ").split() if word]


def _as_origin(value: str) -> str | None:
    """``value`` as a web origin (scheme://host[:port], lower-case), or None when it is not one."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower() if "@" not in parts.netloc else None


class ModelServer(BaseModel):
    """One entry of ``MODELS``: a name for the picker, the server's base URL, its token, default parameters."""

    name: str = Field(min_length=1, max_length=80, description="Shown in the model picker; unique within MODELS.")
    url: str = Field(description="Base URL of the model server (http:// or https://).")
    token: SecretStr | None = Field(default=None, description="Bearer token for this server (as TGI_API_KEY).")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Default generation settings: temperature, top_p, max_tokens, frequency_penalty, seed, stop, "
        "thinking (true/false), reasoning_effort (low/medium/high).",
    )
    vision: bool | None = Field(
        default=None,
        description="Whether the model sees images (the attach button, image parts). Unset: as the server says — "
        "TGI's /info does; vLLM's and llama-server's /v1/models do not, so set true for a VLM served by them.",
    )
    context_tokens: int | None = Field(
        default=None,
        ge=16,
        description="The server's context window, for servers that do not report it (TGI's /info and llama-server's "
        "/props do): the context bar and the fitted Max new tokens use it.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    def default_params(self) -> GenerationParams:
        known = {k: v for k, v in self.params.items() if k in GenerationParams.__dataclass_fields__}
        if isinstance(known.get("stop"), list | str):
            stop = known["stop"]
            known["stop"] = tuple([stop] if isinstance(stop, str) else stop)
        return GenerationParams(**known)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    tgi_url: str | None = Field(
        default=None,
        description="Base URL of TGI or any Messages-API server (vLLM, llama.cpp llama-server).",
    )
    models: list[ModelServer] = Field(
        default_factory=list,
        description='Several model servers, as JSON: [{"name":"Llama 8B","url":"http://tgi-a","params":{…}}, …].',
    )
    local_mode: bool = Field(
        default=False,
        description="Without TGI_URL/MODELS: start a small CPU model (llama.cpp) beside ChatLens (`make run` does).",
    )
    local_model: Path | None = Field(default=None, description="GGUF file for local mode (default: Gemma 3 270M).")
    local_chat_format: str = Field(
        default="vicuna",
        description="llama.cpp chat format of the local model. The packaged Gemma 3 270M is a base model: framed as "
        "a plain-words dialogue (vicuna) it answers and stops; with LOCAL_MODEL set to an instruct model, use its "
        "own (gemma, chatml, llama-3, mistral-instruct).",
    )
    local_context_tokens: int = Field(default=2048, ge=256, description="Context window of the local model.")
    local_max_new_tokens: int = Field(default=200, ge=1, description="Cap on one reply of the local model.")
    tgi_api_key: SecretStr | None = Field(
        default=None,
        description="Bearer token sent to the model server (TGI --api-key, vLLM --api-key); the only credential "
        "sent: the host's HF_TOKEN never is.",
    )
    database_url: str = Field(
        default="duckdb:///data/chatlens.duckdb",
        description="SQLAlchemy URL of the store. Default: a DuckDB file under ./data/.",
    )
    data_dir: Path | None = Field(
        default=None,
        description="Folder of every file ChatLens writes besides the database: the session key, the local "
        "model's log, scratch files (under tmp/, removed at exit). Default: the DuckDB file's folder; with "
        "PostgreSQL ./data.",
    )
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest silence from the model server (first token or between tokens)."
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, description="Time allowed to connect to the model server.")
    info_ttl_s: float = Field(default=60.0, ge=0, description="How long /info of the model server is cached.")
    max_concurrent_streams: int = Field(
        default=256, ge=1, description="Replies streamed at once; also the size of the upstream connection pool."
    )
    reply_keep_unwatched_s: float = Field(
        default=300.0,
        ge=0,
        description="How long a reply goes on streaming after its page closed or reloaded (a reload, or the "
        "conversation opened in another tab, shows it live); past that, or with 0, it is stopped and saved.",
    )
    replies_unwatched_per_user: int = Field(
        default=2, ge=0, description="Replies one user may have streaming with no page following them."
    )
    session_state_capacity: int = Field(
        default=2000,
        ge=100,
        description="Sessions whose state Gradio keeps in memory (least recently used dropped first). Every API "
        "call is a session: 10,000 (Gradio's default) cost ~180 MB under load, measured.",
    )
    queue_max_size: int = Field(default=1024, ge=1, description="Requests waiting in Gradio's queue before 'busy'.")
    max_message_chars: int = Field(default=100_000, ge=1, description="Longest message a user may send.")
    max_reply_chars: int = Field(
        default=1_000_000, ge=1, description="Longest reply kept: a server sending more is cut off there (error)."
    )
    max_new_tokens: int = Field(default=1024, ge=1, description="Default cap on the tokens of one reply.")
    system_prompt: str = Field(default="", description="System prompt put before every conversation.")
    auto_title: bool = Field(
        default=True,
        description="Title new conversations with a tiny call to the model server (else: the message's first words).",
    )
    image_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest image a message may attach (PNG, JPEG, WebP or GIF, checked by its bytes). Checked after "
        "the upload, which Gradio caps at IMPORT_MAX_BYTES (at least 10 MB).",
    )
    images_per_message: int = Field(default=4, ge=1, le=16, description="Most images one message may attach.")
    image_tokens: int = Field(
        default=1024,
        ge=1,
        description="Tokens one attached image is counted as when fitting the context window (servers tokenize an "
        "image by its size and the model's vision encoder: Qwen2.5-VL about 1 per 28×28 pixels, Gemma 3 256, "
        "Llava-Next up to 2,880), until a reply's usage shows what an image took on that server. The oldest images "
        "are left out first when the window is full.",
    )
    reasoning_tags: list[tuple[str, str]] = Field(
        default_factory=lambda: list(DEFAULT_TAGS),
        description="Tag pairs around a model's thinking inside the reply text, as JSON: "
        '[["<think>","</think>"], …]; [] reads only the servers\' reasoning fields.',
    )
    frame_min_interval_ms: float = Field(
        default=40.0, ge=0, description="Shortest time between two screen updates of one streaming reply."
    )
    frame_budget_per_s: float = Field(
        default=150.0, gt=0, description="Screen updates per second shared by all streaming replies of the process."
    )

    store_content: bool = Field(
        default=True,
        description="Store message text. false: privacy mode — replies and their metrics are recorded, text is not.",
    )
    temporary_chats: Literal["allow", "always", "never"] = Field(
        default="allow",
        description="Temporary chats (kept in the page only: never listed, searched or stored, gone on reload; "
        "their metrics are stored). allow: each user switches them on per chat; always: every chat is temporary; "
        "never: no switch.",
    )
    import_max_bytes: int = Field(
        default=50_000_000,
        ge=5_000_000,
        description="Largest export file the sidebar imports (ChatGPT's conversations.json, Open WebUI's chat "
        "export); also the cap on any file upload.",
    )
    deleted_keep_days: float = Field(
        default=30.0,
        ge=0,
        description='How long "Recently deleted" keeps a deleted conversation; then it is purged for good, with the '
        "image files nothing else names (its metrics stay). 0: kept until restored or deleted forever by hand.",
    )
    analytics_open: bool = Field(
        default=False, description="Show the analytics tab to everyone (local use only: it bypasses the admin check)."
    )
    analytics_cache_ttl_s: float = Field(
        default=10.0, ge=0, description="How long one view of the analytics tab is reused before it is read again."
    )
    sql_console_max_rows: int = Field(
        default=10_000, ge=1, description="Most rows the analytics tab's read-only SQL console returns."
    )
    sql_console_time_limit_s: float = Field(
        default=10.0, gt=0, description="Longest a query of the SQL console may run before it is stopped."
    )
    slo_ttft_p95_ms: float = Field(
        default=3000.0, gt=0, description="SLO alert: time to first token p95 above this (ms) over the window."
    )
    slo_error_rate: float = Field(
        default=0.05, ge=0, le=1, description="SLO alert: share of failed replies above this over the window."
    )
    slo_window_s: float = Field(
        default=900.0, gt=0, description="SLO alert: the sliding window the SLOs are judged on."
    )
    slo_min_replies: int = Field(default=20, ge=1, description="SLO alert: fewer replies in the window judge nothing.")
    slo_check_interval_s: float = Field(default=30.0, ge=1, description="How often the SLOs are checked.")
    model_metrics_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="How often each model server's Prometheus /metrics is read (queue, running requests, batch, "
        "KV cache; TGI, vLLM, llama-server --metrics) for the Analytics tab's server load; 0: never. A server "
        "answering 404 is not asked again. Its own thread: never on a reply's path.",
    )
    model_metrics_keep_days: float = Field(
        default=30.0, gt=0, description="How long model server load readings are kept (older ones are deleted)."
    )
    model_metrics_full_days: float = Field(
        default=3.0,
        gt=0,
        description="Model server load readings older than this are merged to one per server per 20 s (the means); "
        "each reply's server state at its start is on its own row already. Not less than MODEL_METRICS_KEEP_DAYS: "
        "never merged.",
    )
    browser_metrics: bool = Field(
        default=True,
        description="The chat page measures each reply as the browser saw it (Send to first and last token painted, "
        "frames per second, JS heap) and reports it, and its JavaScript errors, to ChatLens itself (never elsewhere); "
        "false: no measuring script and no report endpoints.",
    )
    analytics_refresh_s: float = Field(
        default=30.0, ge=5, description="Interval of the analytics tab's auto-refresh (when switched on)."
    )

    auth_mode: Literal["anonymous", "oidc"] = Field(
        default="anonymous",
        description="anonymous: each browser gets its own identity (cookie). oidc: log in with an OpenID Connect "
        "provider (default when OPENID_PROVIDER_URL and OAUTH_CLIENT_ID are set, as on a Space with hf_oauth).",
    )
    require_login: bool = Field(
        default=False, description="With AUTH_MODE=oidc: nothing of the app answers a caller who is not logged in."
    )
    api_require_token: bool = Field(
        default=False,
        description="The OpenAI-style API (/v1) answers only callers with a ChatLens API token. Off by default "
        "because without login every visitor is anonymous anyway (the page and /chat answer them); with "
        "REQUIRE_LOGIN=true a token is always required.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key that signs session cookies, the same in every replica. Unset: a random key kept in "
        "SESSION_SECRET_FILE; with PostgreSQL (replicas) one of the two must be set.",
    )
    session_secret_file: Path | None = Field(
        default=None,
        description="Without SESSION_SECRET: a random key kept in this file (mode 600, made on first start). "
        "Default: session-secret in DATA_DIR.",
    )
    session_idle_timeout_s: float = Field(
        default=8 * 3600, gt=0, description="A login session ends after this long without a request."
    )
    session_max_age_s: float = Field(
        default=7 * 86400, gt=0, description="A login session ends this long after login, however active."
    )
    session_cookie_cross_site: bool | None = Field(
        default=None,
        description="Session cookie usable in a cross-site iframe (SameSite=None; Secure; Partitioned). Default: "
        "on for a Hugging Face Space (its page frames the app from huggingface.co), else SameSite=Lax.",
    )
    public_url: str | None = Field(
        default=None,
        description="Address users reach ChatLens at (https://chat.example.com): the OIDC redirect URI is built "
        "from it. Default: from each request (on a Space: https://$SPACE_HOST).",
    )
    allowed_origins: str = Field(
        default="",
        description="Other web origins (https://portal.example.com, space or comma separated) whose pages may call "
        "ChatLens with a user's session cookie. Default: none; the app's own origin and PUBLIC_URL always may.",
    )
    allowed_frame_ancestors: str = Field(
        default="",
        description="Other origins (space or comma separated) whose pages may show ChatLens in a frame. Default: "
        "none (on a Space, https://huggingface.co).",
    )
    space_host: str | None = Field(default=None, description="Set by Hugging Face Spaces: the Space's host name.")
    openid_provider_url: str | None = Field(
        default=None, description="OIDC issuer URL (discovery at /.well-known/openid-configuration). Set by Spaces."
    )
    oauth_client_id: str | None = Field(default=None, description="OIDC client id. Set by Spaces (hf_oauth: true).")
    oauth_client_secret: SecretStr | None = Field(default=None, description="OIDC client secret. Set by Spaces.")
    oauth_scopes: str = Field(default="openid profile email", description="Scopes asked of the OIDC provider.")
    admin_users: str = Field(
        default="",
        description="Comma-separated admins, each the provider's subject (sub, or issuer|sub), an email (counts only "
        "when the provider says email_verified), or a username (counts only where usernames are unique: Hugging Face, "
        "or OIDC_USERNAMES_UNIQUE=true).",
    )
    oidc_usernames_unique: bool | None = Field(
        default=None,
        description="Whether the provider keeps preferred_username unique, so a username in ADMIN_USERS names one "
        "account. Default: true for Hugging Face (https://huggingface.co), false for any other provider.",
    )
    oidc_allow_insecure: bool = Field(
        default=False,
        description="Accept an http:// OPENID_PROVIDER_URL on a host that is not loopback (codes, tokens and the "
        "client secret then cross the network unencrypted). Loopback (127.0.0.1, ::1, localhost) is always allowed.",
    )
    request_max_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest request body the Gradio API accepts (413 beyond)."
    )
    api_request_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Largest body /v1/chat/completions accepts (413 beyond). Images travel in it base64, 4/3 of "
        "their size: 20 MB holds about three 5 MB photos with their conversation.",
    )
    rate_limit_user_per_min: int = Field(default=20, ge=0, description="Messages per minute per user (0: no limit).")
    rate_limit_ip_per_min: int = Field(default=60, ge=0, description="Messages per minute per IP address (0: none).")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs/CIDRs of the proxies in front of ChatLens, whose X-Forwarded-For gives "
        "the client's address (the rightmost entry not in this list). Sets uvicorn's FORWARDED_ALLOW_IPS. "
        "Default: uvicorn's (127.0.0.1,::1, or FORWARDED_ALLOW_IPS); on a Space 10.0.0.0/8, its proxy.",
    )

    browser_state_secret: str = Field(
        default="chatlens-browser-state",
        description="Key for appearance settings kept in the browser. Obfuscation only: nothing sensitive is stored.",
    )
    shutdown_grace_s: float = Field(
        default=20.0, ge=0, description="On SIGTERM, how long streaming replies may finish before they are stopped."
    )

    space_id: str | None = Field(
        default=None, description="Set by Hugging Face Spaces: the database then goes to persistent storage."
    )
    space_storage_dir: Path = Field(default=Path("/data"), description="A Space's persistent storage.")

    @model_validator(mode="after")
    def _database_on_space_storage(self) -> Settings:
        """On a Space, keep history in persistent storage (/data) unless DATABASE_URL says otherwise."""
        if self.space_id and "database_url" not in self.model_fields_set and self.space_has_storage:
            self.database_url = f"duckdb:///{self.space_storage_dir / 'chatlens.duckdb'}"
        return self

    @model_validator(mode="after")
    def _login_mode(self) -> Settings:
        """OIDC by default where a provider and client are given (a Space with hf_oauth); login needs a secret."""
        if "auth_mode" not in self.model_fields_set and self.openid_provider_url and self.oauth_client_id:
            self.auth_mode = "oidc"
        if self.session_cookie_cross_site is None:
            self.session_cookie_cross_site = bool(self.space_id)
        if self.public_url is None and self.space_host:
            # Spaces may list several hosts (a custom domain too): the first is the Space's own, as in gradio/oauth.py.
            self.public_url = f"https://{self.space_host.split(',')[0].strip()}"
        if self.public_url is not None:
            self.public_url = _http_url(self.public_url)
        if self.require_login and self.auth_mode != "oidc":
            raise ValueError("REQUIRE_LOGIN needs AUTH_MODE=oidc (and OPENID_PROVIDER_URL, OAUTH_CLIENT_ID)")
        if self.session_secret is not None and len(self.session_secret.get_secret_value()) < 16:
            raise ValueError("SESSION_SECRET must be 16+ random characters")
        if self.duckdb_path is None and self.session_secret is None and self.session_secret_file is None:
            # Replicas share a PostgreSQL store: a key made by each in its own data folder would make every cookie
            # valid on one replica only (visitors lose their history, logins drop, behind any load balancer).
            raise ValueError(
                "DATABASE_URL is PostgreSQL, which several replicas can share: set SESSION_SECRET (the same 16+ "
                "random characters on every replica, e.g. `openssl rand -hex 32`) or SESSION_SECRET_FILE on storage "
                "they all read"
            )
        if self.auth_mode == "oidc":
            if self.session_secret is None and self.space_id and not self.space_has_storage:
                raise ValueError(
                    "login (hf_oauth) on a Space without persistent storage needs a SESSION_SECRET Space secret "
                    "(16+ random characters)"
                )
            if not (self.openid_provider_url and self.oauth_client_id):
                raise ValueError("AUTH_MODE=oidc needs OPENID_PROVIDER_URL and OAUTH_CLIENT_ID")
            if not (self.oidc_allow_insecure or _secure_issuer(self.openid_provider_url)):
                raise ValueError(
                    f"OPENID_PROVIDER_URL {self.openid_provider_url} is not https:// and not on this machine: the "
                    "login code, tokens and the client secret would cross the network unencrypted. Use the "
                    "provider's https:// address, or set OIDC_ALLOW_INSECURE=true if you accept that"
                )
        return self

    @field_validator("allowed_origins", "allowed_frame_ancestors")
    @classmethod
    def _origin_list(cls, value: str) -> str:
        for origin in _words(value):
            if _as_origin(origin) != origin:
                raise ValueError(
                    f"{origin!r} is not a web origin: write scheme://host[:port] with nothing after it, "
                    "e.g. https://portal.example.com"
                )
        return value

    @property
    def allowed_origin_list(self) -> tuple[str, ...]:
        return tuple(_words(self.allowed_origins))

    @property
    def frame_ancestors(self) -> tuple[str, ...]:
        """Who may frame the page: the app itself, a Space's page (huggingface.co), ALLOWED_FRAME_ANCESTORS."""
        space = ("https://huggingface.co",) if self.space_id else ()
        return ("'self'", *space, *_words(self.allowed_frame_ancestors))

    @property
    def admins(self) -> frozenset[str]:
        """The ``ADMIN_USERS`` entries as written (``access.admins`` decides what each may match)."""
        return frozenset(name.strip() for name in self.admin_users.split(",") if name.strip())

    @property
    def duckdb_path(self) -> Path | None:
        """The DuckDB file of ``DATABASE_URL`` (None for PostgreSQL or an in-memory database)."""
        prefix = "duckdb:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def state_dir(self) -> Path:
        """Where every file but the database is written: DATA_DIR, else the DuckDB file's folder, else ./data."""
        if self.data_dir is not None:
            return self.data_dir
        duckdb_file = self.duckdb_path
        return duckdb_file.parent if duckdb_file is not None else Path("data")

    @property
    def session_secret_path(self) -> Path:
        return self.session_secret_file or self.state_dir / "session-secret"

    @property
    def forwarded_allow_ips(self) -> str | None:
        """uvicorn's FORWARDED_ALLOW_IPS from TRUSTED_PROXIES (on a Space: its proxy's network), or None."""
        if self.trusted_proxies:
            return self.trusted_proxies
        return SPACE_PROXY_NETWORK if self.space_id else None

    @property
    def space_has_storage(self) -> bool:
        return self.space_storage_dir.is_dir() and os.access(self.space_storage_dir, os.W_OK)

    @field_validator("tgi_url")
    @classmethod
    def _blank_url_is_unset(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("TGI_URL must start with http:// or https://")
        return _http_url(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                raise ValueError(
                    "'*' would take the leftmost X-Forwarded-For entry, which any client can set: name the "
                    "proxies' addresses or networks"
                )
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
        return ",".join(entries)

    @field_validator("reasoning_tags")
    @classmethod
    def _tag_pairs(cls, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for opening, closing in pairs:
            if not opening or not closing or opening == closing:
                raise ValueError("REASONING_TAGS: each pair is two different, non-empty tags")
        return pairs

    @model_validator(mode="after")
    def _one_model_list(self) -> Settings:
        """``TGI_URL`` alone is a list of one model server; names in ``MODELS`` must be unique."""
        if not self.models and self.tgi_url:
            self.models = [ModelServer(name="default", url=self.tgi_url, token=self.tgi_api_key)]
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ValueError("MODELS: every model needs its own name")
        return self
