"""Session cookies: signed, expiring after idle time and absolute lifetime, renewed while used."""

from __future__ import annotations

import uuid
from pathlib import Path

from access.sessions import Sessions, Signer, read_cookie, secret_from_file

T0 = 1_800_000_000.0


def sessions() -> Sessions:
    return Sessions("a" * 32, idle_s=600, max_age_s=3600)


def test_a_login_session_ends_after_idle_time_or_lifetime_and_is_renewed_while_used() -> None:
    s = sessions()
    session = s.login(uuid.uuid4(), "alice", is_admin=True, now=T0)
    value = s.encode(session)
    assert s.decode(value, now=T0 + 599) == session
    assert s.decode(value, now=T0 + 601) is None  # idle
    assert s.renewed(session, now=T0 + 30) is None  # not worth a new cookie yet
    renewed = s.renewed(session, now=T0 + 300)
    assert renewed is not None and s.decode(s.encode(renewed), now=T0 + 850) == renewed
    late = s.renewed(renewed, now=T0 + 3500)
    assert late is not None and s.decode(s.encode(late), now=T0 + 3601) is None  # absolute lifetime
    assert "Max-Age=100" in s.set_cookie(late, secure=True, now=T0 + 3500)
    assert s.set_cookie(late, secure=True, now=T0 + 3500).endswith("HttpOnly; SameSite=Lax; Secure")


def test_anonymous_sessions_last_long() -> None:
    s = sessions()
    session = s.anonymous(now=T0)
    assert s.decode(s.encode(session), now=T0 + 30 * 86400) == session


def test_a_value_signed_with_another_key_or_purpose_is_refused() -> None:
    s = sessions()
    value = s.encode(s.anonymous(now=T0))
    assert Sessions("b" * 32, idle_s=600, max_age_s=3600).decode(value, now=T0) is None
    assert s.decode(Signer("a" * 32, "login-flow").sign({"u": "x"}), now=T0) is None
    assert s.decode("garbage", now=T0) is None and s.decode(value + "x", now=T0) is None


def test_the_injected_cookie_wins_over_an_earlier_one() -> None:
    assert read_cookie("a=1; chatlens_session=old; b=2; chatlens_session=new", "chatlens_session") == "new"


def test_the_anonymous_secret_file_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "session-secret"
    first = secret_from_file(path)
    assert len(first) >= 32 and secret_from_file(path) == first
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_cookie_for_a_cross_site_iframe_is_none_secure_and_partitioned() -> None:
    framed = Sessions("a" * 32, idle_s=600, max_age_s=3600, cross_site=True)
    header = framed.set_cookie(framed.anonymous(now=T0), secure=False, now=T0)
    assert header.endswith("HttpOnly; SameSite=None; Secure; Partitioned")
    assert framed.clear_cookie(secure=False).startswith("chatlens_session=; Path=/; Max-Age=0")


def test_a_space_gets_cross_site_cookies_by_default() -> None:
    from tests.support.config import settings_without_env_file

    on_space = settings_without_env_file(space_id="me/chat")
    assert on_space.session_cookie_cross_site is True
    assert settings_without_env_file().session_cookie_cross_site is False
