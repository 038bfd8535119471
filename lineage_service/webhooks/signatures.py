"""Who sent a webhook: GitHub's HMAC signature, Azure DevOps' basic auth or shared-secret header.

A secret setting may hold several secrets separated by commas or newlines, so that a secret can be
rotated without losing deliveries: add the new one, change it at the sender, then drop the old
one. Every comparison is constant-time and every configured secret is tried (no early exit), so
neither timing nor the order of the secrets says anything about them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from pydantic import SecretStr

_SEPARATORS = re.compile(r"[,\r\n]")


def webhook_secrets(setting: SecretStr | None) -> tuple[bytes, ...]:
    """The secrets of one setting; empty when it is unset or holds only separators and spaces."""
    if setting is None:
        return ()
    return tuple(part.strip().encode() for part in _SEPARATORS.split(setting.get_secret_value()) if part.strip())


def github_signature_valid(body: bytes, header: str | None, secrets: tuple[bytes, ...]) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`` under any of the secrets."""
    if not header or not secrets:
        return False
    scheme, _, presented = header.strip().partition("=")
    if scheme.strip().lower() != "sha256" or not presented:
        return False
    # Headers reach us decoded as latin-1; as bytes, a non-ASCII value simply does not match
    # (compare_digest refuses non-ASCII str).
    presented_bytes = presented.strip().lower().encode("latin-1", "replace")
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, presented_bytes)
    return matched


def shared_secret_valid(presented: bytes | None, secrets: tuple[bytes, ...]) -> bool:
    """A secret sent as is (a header, or the basic-auth password) equals any of the secrets."""
    if presented is None or not secrets:
        return False
    # Digests of equal length: comparing them hides the secrets' lengths as well.
    digest = hashlib.sha256(presented).digest()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(digest, hashlib.sha256(secret).digest())
    return matched


def header_bytes(value: str | None) -> bytes | None:
    """A header value as the sender's bytes (ASGI servers decode headers as latin-1)."""
    return None if value is None else value.strip().encode("latin-1", "replace")


def basic_auth_password(header: str | None) -> bytes | None:
    """The password of ``Authorization: Basic base64(user:password)``; the user name is not checked."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    _user, separator, password = decoded.partition(b":")
    return password if separator else None
