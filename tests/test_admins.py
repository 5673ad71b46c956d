"""ADMIN_USERS matched on what the provider vouches for: the subject, a verified email, a username only where the
provider keeps usernames unique (Hugging Face by default). Through ``account_from_claims``, as the login callback
uses it."""

from __future__ import annotations

from typing import Any

import pytest

from access.admins import usernames_unique
from access.login import account_from_claims
from tests.support.config import settings_without_env_file

ISSUER = "https://id.example.com"
HF = "https://huggingface.co"


def admin(claims: dict[str, Any], admins: str, issuer: str = ISSUER, unique: bool | None = None) -> bool:
    entries = settings_without_env_file(admin_users=admins).admins
    rule = usernames_unique(issuer, unique)
    return account_from_claims(claims, issuer, entries, unique_usernames=rule).is_admin


ALICE = {"sub": "id-4711", "preferred_username": "alice", "email": "alice@example.com", "email_verified": True}
MALLORY = {"sub": "id-4712", "preferred_username": "alice", "email": "Alice@Example.com", "email_verified": False}


@pytest.mark.parametrize(
    ("claims", "admins", "expected"),
    [
        (ALICE, "id-4711", True),  # the subject
        (ALICE, f"{ISSUER}|id-4711", True),  # issuer|subject
        (ALICE, f"{ISSUER}/|id-4711", False),  # another issuer's subject with that id: not this one
        (ALICE, "https://other.example|id-4711", False),
        (ALICE, "ID-4711", False),  # subjects are case-sensitive
        (ALICE, "ALICE@example.com", True),  # a verified email, in any case
        (MALLORY, "alice@example.com", False),  # the same email, not verified
        ({**MALLORY, "email_verified": "false"}, "alice@example.com", False),
        ({**MALLORY, "email_verified": "true"}, "alice@example.com", True),  # a provider that sends a string
        ({"sub": "x", "email": "alice@example.com"}, "alice@example.com", False),  # no email_verified at all
        (ALICE, "alice", False),  # a username on a generic provider: anyone can pick it
        (MALLORY, "alice", False),
        (MALLORY, "id-4711, alice, alice@example.com", False),
    ],
)
def test_admin_users_match_the_subject_or_a_verified_email_only(
    claims: dict[str, Any], admins: str, expected: bool
) -> None:
    assert admin(claims, admins) is expected


def test_two_subjects_with_one_username_are_not_both_admins_on_a_generic_provider() -> None:
    assert [admin(c, "alice") for c in (ALICE, MALLORY)] == [False, False]


def test_on_hugging_face_the_username_names_one_account() -> None:
    hf_user = {"sub": "64f0c0ffee", "preferred_username": "alice", "name": "Alice"}
    assert admin(hf_user, "alice", issuer=HF) and admin(hf_user, "Alice", issuer=f"{HF}/")
    assert not admin({**hf_user, "preferred_username": "bob"}, "alice", issuer=HF)
    assert not admin(hf_user, "alice", issuer=HF, unique=False)  # the operator turned the rule off


def test_an_operator_can_vouch_for_a_providers_usernames() -> None:
    assert admin(ALICE, "alice", unique=True)
    assert usernames_unique(ISSUER, None) is False and usernames_unique(HF, None) is True
