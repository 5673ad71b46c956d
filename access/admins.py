"""Who ``ADMIN_USERS`` names: matched only on what the provider vouches for.

An entry names an admin by

* the provider's subject: ``sub`` as it is (case-sensitive), or ``issuer|sub`` — what the provider guarantees
  unique and never reassigns;
* an email (case-insensitive), only when the provider says ``email_verified`` is true: anyone can type another
  person's address into an account that has not proven it;
* a username (``preferred_username``, case-insensitive), only on a provider whose usernames are unique. OIDC
  promises nothing about them (Core 5.7: "MUST NOT rely upon this value being unique"), so by default only Hugging
  Face counts (``USERNAME_UNIQUE_ISSUERS``: a Hugging Face username belongs to one account at a time);
  ``OIDC_USERNAMES_UNIQUE`` says it for another provider, or turns it off.

A name that matches on a claim the provider does not vouch for grants nothing; the login is logged so the operator
can list the subject instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

USERNAME_UNIQUE_ISSUERS = frozenset({"https://huggingface.co"})


def usernames_unique(issuer: str, setting: bool | None) -> bool:
    """Whether this provider's ``preferred_username`` names one account: the setting, else the provider's rule."""
    return setting if setting is not None else issuer.rstrip("/").lower() in USERNAME_UNIQUE_ISSUERS


def email_verified(claims: Mapping[str, Any]) -> bool:
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")  # some providers send a string


def admin_rule(claims: Mapping[str, Any], issuer: str, entries: Iterable[str], *, unique_usernames: bool) -> str | None:
    """Which rule makes ``claims`` an admin under ``entries`` (``"subject"``, ``"verified email"``, ``"username"``),
    or None."""
    subject = str(claims["sub"])
    listed = {entry.strip() for entry in entries if entry.strip()}
    folded = {entry.lower() for entry in listed}
    if subject in listed or f"{issuer.rstrip('/')}|{subject}" in listed:
        return "subject"
    email = str(claims.get("email") or "").lower()
    username = str(claims.get("preferred_username") or "").lower()
    if email and email in folded:
        if email_verified(claims):
            return "verified email"
        log.warning("ADMIN_USERS: %s has a listed email the provider has not verified: not an admin", subject)
    if username and username in folded:
        if unique_usernames:
            return "username"
        log.warning(
            "ADMIN_USERS: %s has a listed username, but this provider's usernames are not unique: not an admin "
            "(list the subject, or set OIDC_USERNAMES_UNIQUE=true if the provider guarantees them)",
            subject,
        )
    return None
