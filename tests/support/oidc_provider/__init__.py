"""panva's oidc-provider (npm, a certified OpenID Connect implementation) as a second provider for login tests.

``provider.mjs`` beside this file runs it on the system ``node`` with one confidential client and three accounts
(the account id is the ``sub``):

* ``id-4711`` / ``alice-pw``: Alice Example, ``preferred_username`` alice, alice@example.com, ``email_verified`` true;
* ``id-4712`` / ``mallory-pw``: the same email and username, but ``email_verified`` false;
* ``id-4713`` / ``bob-pw``: Bob Example, bob@example.com.

Unlike ``tests.support.fake_oidc`` it follows the specification where we might not: with its default
``conformIdTokenClaims`` the id_token carries only ``sub`` and the protocol claims (name, email, username come from
the userinfo endpoint); it advertises ``end_session_endpoint`` and asks again for the password after a logout.

    with OidcProvider(redirect_uris=[...], post_logout_redirect_uris=[...]) as op:
        op.issuer, op.client_id, op.client_secret

The package is pinned by ``package-lock.json``; ``ensure_installed`` runs ``npm ci`` once when ``node_modules`` is
missing (``make install`` and ``.ci/run`` do it too). ``sign_in`` and ``sign_out`` post the provider's forms as a
browser would, so an ``httpx.Client`` (one cookie jar = one browser) can stand for the browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

HERE = Path(__file__).resolve().parent
CLIENT_ID = "chatlens-test"
CLIENT_SECRET = "test-client-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed() -> None:
    """``npm ci`` into this folder if oidc-provider is not there yet (about 5 s; the lock pins 9.13.3)."""
    if (HERE / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("oidc-provider tests need node (20+) and npm on PATH")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True, timeout=300)


class OidcProvider:
    def __init__(
        self,
        *,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str] | None = None,
        accounts: dict[str, dict[str, Any]] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self._env = {
            **os.environ,
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URIS": " ".join(redirect_uris),
            "POST_LOGOUT_REDIRECT_URIS": " ".join(post_logout_redirect_uris or []),
            **({"ACCOUNTS": json.dumps(accounts)} if accounts else {}),
        }
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="oidc-provider-", suffix=".log")[1])  # its stderr

    def start(self, timeout_s: float = 30.0) -> OidcProvider:
        ensure_installed()
        command = ["node", str(HERE / "provider.mjs"), str(self.port), self.issuer]
        # cwd: node resolves the oidc-provider import from node_modules beside the script
        with self.log_path.open("w") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                command, cwd=HERE, env=self._env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        deadline = time.monotonic() + timeout_s
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("READY "):
                httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5).raise_for_status()
                return self
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self.log_path.read_text()}")
        self.stop()
        raise RuntimeError("oidc-provider did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _form_action(html: str, base: str) -> str:
    found = re.search(r'<form[^>]*\baction="([^"]+)"', html)
    assert found, f"no form in page: {html[:300]}"
    return urljoin(base, str(found.group(1)))


def sign_in(browser: httpx.Client, authorize_url: str, login: str, password: str, *, stop_at: str) -> str:
    """Follow ``authorize_url`` through the provider's login and consent pages; the URL it sends back to ``stop_at``.

    GET /auth → 303 /interaction/<uid> (login form: ``login``, ``password``) → POST …/login → 303 /auth/<uid> →
    303 /interaction/<uid2> (consent form, no fields) → POST …/confirm → 303 /auth/<uid2> →
    303 <redirect_uri>?code=…&state=…&iss=…. A provider session that is still alive skips the forms.
    """
    url = authorize_url
    for _ in range(12):
        if url.startswith(stop_at):
            return url
        response = browser.get(url)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            continue
        response.raise_for_status()
        action = _form_action(response.text, url)
        data = {"login": login, "password": password} if action.endswith("/login") else {}
        posted = browser.post(action, data=data)
        assert posted.is_redirect, f"form post to {action} gave {posted.status_code}: {posted.text[:300]}"
        url = urljoin(action, posted.headers["location"])
    raise AssertionError("sign-in did not finish")


def sign_out(browser: httpx.Client, end_session_url: str) -> str:
    """Open the provider's ``end_session_endpoint`` URL and press "Yes, sign me out"; where it redirects to."""
    page = browser.get(end_session_url)
    page.raise_for_status()
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
    assert xsrf, f"no logout form: {page.text[:300]}"
    done = browser.post(_form_action(page.text, end_session_url), data={"xsrf": xsrf.group(1), "logout": "yes"})
    assert done.status_code == 303, f"logout confirm gave {done.status_code}: {done.text[:300]}"
    return urljoin(end_session_url, done.headers["location"])
