"""The login's transport: an OIDC issuer reached over plain http only on this machine (or when the operator says
so), and a login flow cookie sealed so the browser can neither read its PKCE verifier and nonce nor alter them."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from access.sessions import Sealer, Signer
from settings import Settings
from tests.support.config import settings_without_env_file
from tests.support.processes import run_app_to_exit

OIDC = {"auth_mode": "oidc", "oauth_client_id": "c", "session_secret": "s" * 32}


def settings(**values: object) -> Settings:
    return settings_without_env_file(**OIDC, **values)


@pytest.mark.parametrize(
    "issuer",
    [
        "http://accounts.example.com",
        "http://10.0.0.5:8080/realms/x",
        "http://[2001:db8::1]/",
        "http://127.0.0.1.nip.io",
    ],
)
def test_an_http_issuer_elsewhere_is_refused_at_start(issuer: str) -> None:
    with pytest.raises(ValidationError, match="OIDC_ALLOW_INSECURE=true"):
        settings(openid_provider_url=issuer)
    assert settings(openid_provider_url=issuer, oidc_allow_insecure=True).openid_provider_url == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "https://accounts.example.com",
        "http://127.0.0.1:9400",
        "http://127.8.0.1",
        "http://[::1]:9400",
        "http://localhost:1",
    ],
)
def test_https_and_loopback_issuers_are_accepted(issuer: str) -> None:
    assert settings(openid_provider_url=issuer).openid_provider_url == issuer


@pytest.mark.process
def test_the_app_refuses_to_start_with_an_http_issuer_and_says_what_to_do() -> None:
    env = {"AUTH_MODE": "oidc", "OPENID_PROVIDER_URL": "http://login.example.com", "OAUTH_CLIENT_ID": "c"}
    result = run_app_to_exit({**env, "SESSION_SECRET": "s" * 32, "TGI_URL": ""})
    assert result.returncode != 0, result.stdout[-500:]
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("ChatLens cannot start: bad configuration") and "OIDC_ALLOW_INSECURE" in last, last


FLOW = {"_state_oidc_abc": {"data": {"code_verifier": "v" * 48, "nonce": "n0nce"}, "exp": 1}, "next": "/"}


def test_a_sealed_flow_shows_nothing_and_opens_only_with_its_key_purpose_and_age() -> None:
    sealer = Sealer("k" * 32, "login-flow", max_age_s=600)
    value = sealer.seal(FLOW, now=1000)
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    assert b"code_verifier" not in raw and b"vvvv" not in raw and b"n0nce" not in raw
    assert sealer.open(value, now=1500) == FLOW
    assert sealer.open(value, now=1601) is None  # past its ten minutes
    assert Sealer("k" * 32, "session", max_age_s=600).open(value, now=1000) is None
    assert Sealer("x" * 32, "login-flow", max_age_s=600).open(value, now=1000) is None
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    assert sealer.open(flipped, now=1000) is None
    for junk in ("", "not base64 !", "AAAA", Signer("k" * 32, "login-flow").sign(FLOW)):
        assert sealer.open(junk, now=1000) is None  # an old signed (readable) cookie is not accepted either
    assert len(value) < 4096  # a cookie browsers keep
