"""Bearer tokens with scopes, kept only as SHA-256 hashes and compared in constant time.

A token line is ``NAME SCOPES SECRET``: ``ci-pipeline ingest sha256:9f86d08…`` or, for a quick
local setup, the token itself (``oncall read 3q2+7w…``), which is hashed as soon as it is read.
Scopes are comma-separated: ``read`` (queries), ``ingest`` (events, OpenLineage), ``admin``
(everything). ``lineage token create`` prints a new token and its line.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    INGEST = "ingest"
    ADMIN = "admin"


class TokenConfigError(ValueError):
    """A token line that cannot be read; the message names the line and the expected form."""


@dataclass(frozen=True)
class TokenEntry:
    name: str
    scopes: frozenset[Scope]
    digest: bytes  # sha256 of the token

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "lin_" + secrets.token_urlsafe(32)


def parse_tokens(text: str, origin: str = "LINEAGE_TOKENS") -> list[TokenEntry]:
    """Token lines, separated by newlines or ``;``; ``#`` starts a comment."""
    entries = []
    for number, raw in enumerate(text.replace(";", "\n").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise TokenConfigError(f"{origin} entry {number}: expected 'NAME SCOPES TOKEN' "
                                   f"(e.g. 'ci ingest sha256:<hex>'), got {len(parts)} fields")
        name, scope_text, secret = parts
        try:
            scopes = frozenset(Scope(s) for s in scope_text.split(","))
        except ValueError:
            raise TokenConfigError(f"{origin} entry {number} ({name}): unknown scope in {scope_text!r}; "
                                   f"expected read, ingest or admin, comma-separated") from None
        if secret.startswith("sha256:"):
            hexdigest = secret.removeprefix("sha256:")
            if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
                raise TokenConfigError(f"{origin} entry {number} ({name}): expected sha256: and 64 hex characters")
            digest = bytes.fromhex(hexdigest)
        else:
            if len(secret) < 16:
                raise TokenConfigError(f"{origin} entry {number} ({name}): a token needs 16 characters or more")
            digest = hashlib.sha256(secret.encode()).digest()
        entries.append(TokenEntry(name, scopes, digest))
    return entries


def authenticate(entries: list[TokenEntry], presented: str) -> TokenEntry | None:
    """The entry whose token was presented. Every entry is compared, in constant time each."""
    digest = hashlib.sha256(presented.encode()).digest()
    found = None
    for entry in entries:
        if hmac.compare_digest(entry.digest, digest):
            found = entry
    return found
