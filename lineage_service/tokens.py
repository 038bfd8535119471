"""Bearer tokens with scopes, kept only as SHA-256 hashes and compared in constant time.

A token line is ``NAME SCOPES SECRET [expires=WHEN] [revoked]``: ``ci-pipeline ingest sha256:9f86d08…``
or, for a quick local setup, the token itself (``oncall read 3q2+7w…``), which is hashed as soon as
it is read. Scopes are comma-separated: ``read`` (queries), ``ingest`` (events, OpenLineage),
``admin`` (everything). ``lineage token create`` prints a new token and its line.

Optional fields after the secret (lines without them stay valid and never expire):

- ``expires=2026-12-31`` (valid through that day, UTC) or ``expires=2026-12-31T18:00:00Z`` (an ISO
  time; without a zone, UTC): from then on the token is refused with a 401 that says it expired.
- ``revoked``: the token is refused with a 401 that says it was revoked. Deleting the line works
  too, but the caller then only learns that the token is unknown.

The service re-reads ``LINEAGE_TOKENS_FILE`` when the file changes (``TokenTable``), so adding,
expiring or revoking a token needs no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)


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
    expires: datetime | None = None  # aware, UTC; refused from this moment on
    revoked: bool = False

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def refusal(self, now: datetime) -> str | None:
        """Why this (authentic) token is no longer accepted, or None while it is."""
        if self.revoked:
            return f"the bearer token {self.name!r} was revoked; ask for a new one (lineage token create)"
        if self.expires is not None and now >= self.expires:
            return (f"the bearer token {self.name!r} expired at {self.expires.isoformat()}; "
                    f"ask for a new one (lineage token create --expires …)")
        return None


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "lin_" + secrets.token_urlsafe(32)


def parse_tokens(text: str, origin: str = "LINEAGE_TOKENS") -> list[TokenEntry]:
    """Token lines, separated by newlines or ``;``; ``#`` starts a comment."""
    entries = []
    # Comments go first: a ';' inside one must not start a new entry.
    uncommented = "\n".join(raw.split("#", 1)[0] for raw in text.splitlines())
    for number, raw in enumerate(uncommented.replace(";", "\n").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 3:
            raise TokenConfigError(f"{origin} entry {number}: expected 'NAME SCOPES TOKEN [expires=YYYY-MM-DD] "
                                   f"[revoked]' (e.g. 'ci ingest sha256:<hex>'), got {len(parts)} fields")
        name, scope_text, secret = parts[:3]
        expires, revoked = _options(parts[3:], f"{origin} entry {number}")
        try:
            scopes = frozenset(Scope(s) for s in scope_text.split(","))
        except ValueError:
            # Never echo a field (here or in any message): on a line with its fields swapped it is the
            # plaintext token, and these messages go to the log. The entry number says where.
            raise TokenConfigError(f"{origin} entry {number}: unknown scope in field 2; "
                                   f"expected read, ingest or admin, comma-separated") from None
        if secret.startswith("sha256:"):
            hexdigest = secret.removeprefix("sha256:")
            if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
                raise TokenConfigError(f"{origin} entry {number}: expected sha256: and 64 hex characters")
            digest = bytes.fromhex(hexdigest)
        else:
            if len(secret) < 16:
                raise TokenConfigError(f"{origin} entry {number}: a token needs 16 characters or more")
            digest = hashlib.sha256(secret.encode()).digest()
        entries.append(TokenEntry(name, scopes, digest, expires, revoked))
    return entries


def parse_expiry(text: str) -> datetime:
    """``2026-12-31`` (through the end of that day, UTC) or an ISO time (UTC when it names no zone)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected a date (2026-12-31) or an ISO time (2026-12-31T18:00:00Z), "
                         f"got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _options(fields: list[str], where: str) -> tuple[datetime | None, bool]:
    expires, revoked = None, False
    for field in fields:
        key, _, value = field.partition("=")
        if key == "expires" and not value:
            raise TokenConfigError(f"{where}: expires: empty; expected a date (2026-12-31) or an ISO time "
                                   f"(2026-12-31T18:00:00Z)")
        if key == "expires":
            try:
                expires = parse_expiry(value)
            except ValueError:
                # Not parse_expiry's message: it quotes the value, and these messages are logged.
                raise TokenConfigError(f"{where}: expires: expected a date (2026-12-31) or an ISO time "
                                       f"(2026-12-31T18:00:00Z)") from None
        elif field == "revoked":
            revoked = True
        else:
            # Never echo the field: a token pasted on the wrong line must not end up in a log.
            raise TokenConfigError(f"{where}: unexpected field after the token; expected expires=YYYY-MM-DD "
                                   f"or revoked")
    return expires, revoked


def authenticate(entries: list[TokenEntry], presented: str) -> TokenEntry | None:
    """The entry whose token was presented. Every entry is compared, in constant time each."""
    digest = hashlib.sha256(presented.encode()).digest()
    found = None
    for entry in entries:
        if hmac.compare_digest(entry.digest, digest):
            found = entry
    return found


class TokenTable:
    """The tokens a running service accepts: fixed ones plus a file re-read whenever it changes.

    Each lookup stats the file (about a microsecond) and re-reads it only when its modification
    time, size or inode differ from the last read, so an edit (or an atomic replace, as a
    Kubernetes secret update does) revokes a token for the very next request, with no restart.
    A file that cannot be read or fails to parse keeps the last good tokens and logs why, once per
    change. A file read while half-written may parse (empty, or cut at a line's end): then it holds
    fewer tokens and the missing ones get 401s until the next change. That fails closed, never open,
    but locks those callers out meanwhile, so replace the file atomically (write a new one, rename
    it over the old), as a Kubernetes secret update does.
    """

    def __init__(self, fixed: list[TokenEntry] | None, path: Path | None = None) -> None:
        # fixed is None when LINEAGE_TOKENS is unset; an empty list when it is set but lists nothing.
        self._configured = fixed is not None or path is not None
        self._fixed, self._path = fixed or [], path
        self._signature: tuple[int, int, int] | None = None
        self._from_file: list[TokenEntry] = []
        self._entries = list(self._fixed)
        if path is not None:
            self._reload(self._stat(), strict=True)

    @property
    def configured(self) -> bool:
        """Whether tokens are configured at all; a configured table with no entry lets no one in."""
        return self._configured

    def entries(self) -> list[TokenEntry]:
        if self._path is not None:
            signature = self._stat()
            if signature != self._signature:
                self._reload(signature, strict=False)
        return self._entries

    def _stat(self) -> tuple[int, int, int] | None:
        assert self._path is not None
        try:
            status = os.stat(self._path)
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size, status.st_ino

    def _reload(self, signature: tuple[int, int, int] | None, *, strict: bool) -> None:
        assert self._path is not None
        self._signature = signature
        try:
            from_file = parse_tokens(self._path.read_text(encoding="utf-8"), str(self._path))
        except (OSError, TokenConfigError) as exc:
            if strict:
                raise
            # The messages name the file and the line, never a token.
            log.error("tokens file not reloaded, keeping the %d tokens read before: %s", len(self._from_file), exc)
            return
        if signature is not None and self._from_file != from_file:
            log.info("tokens file %s reloaded: %d tokens", self._path, len(from_file))
        self._from_file = from_file
        self._entries = self._fixed + from_file
