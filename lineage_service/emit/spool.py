"""The spool: undelivered events, one JSON object per line, until ``lineage emit flush`` sends them.

Each line is a complete lineage event, so a spool is also input for ``lineage ingest``. Appending
writes one line in one ``write`` and fsyncs before returning: a crash can tear only the line being
written, never an earlier one, and the next append first ends a torn line so that its own event
stays a line of its own. Flushing removes exactly the lines the service acknowledged (or that can
never be delivered, which move to ``<spool>.rejected`` with the reason), by rewriting the file
atomically (temporary file, fsync, rename); events appended while a flush was sending stay.

Appends and rewrites hold an exclusive lock on ``<spool>.lock`` (``flock``; on Windows, where
there is none, concurrent appenders are not serialised).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineage_service.emit.delivery import DeliveryError, GaveUp, is_rejection, problem_lines

ENCODING, ERRORS = "utf-8", "surrogateescape"  # a torn line may end inside a UTF-8 sequence


def default_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("lineage", appauthor=False) / "spool.jsonl"


def rejected_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejected")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        yield
        return
    import fcntl

    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(directory: Path) -> None:
    """Make a created or renamed file's directory entry durable (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _append_bytes(path: Path, data: bytes) -> None:
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data  # a line torn by a crash: end it, so ours stays whole
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def append(path: Path, event: dict[str, Any]) -> None:
    """Add one event durably; when this returns, it survives a crash."""
    line = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(ENCODING) + b"\n"
    with _locked(path):
        _append_bytes(path, line)


@dataclass(frozen=True)
class Entry:
    line: str  # the raw line, without its newline
    problem: str | None = None  # why it cannot be sent (not JSON, torn by a crash)


def _entries(data: bytes) -> list[Entry]:
    *complete, tail = data.split(b"\n")
    found = []
    for index, raw in enumerate([*complete, tail]):
        line = raw.decode(ENCODING, ERRORS)
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:
            torn = index == len(complete)  # no newline after it: the write was cut short
            found.append(Entry(line, "torn by a crash while being written" if torn
                               else "not JSON (a line cut short by a crash, or edited by hand)"))
            continue
        found.append(Entry(line))
    return found


def read(path: Path) -> list[Entry]:
    """The spool's lines; a complete JSON object before a crash cut its newline still counts."""
    with _locked(path):
        return _entries(path.read_bytes()) if path.exists() else []


def _rewrite(path: Path, lines: list[str]) -> None:
    if not lines:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        _write_all(fd, "".join(line + "\n" for line in lines).encode(ENCODING, ERRORS))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove(path: Path, delivered: list[str], rejected: list[tuple[str, str]]) -> int:
    """Drop the delivered and the rejected lines (one occurrence each); returns how many remain.

    Rejected lines are written to ``<spool>.rejected`` first, so a crash in between can repeat a
    line there but never lose one.
    """
    with _locked(path):
        if rejected:
            record = "".join(json.dumps({"reason": reason, "line": line}) + "\n" for line, reason in rejected)
            _append_bytes(rejected_path(path), record.encode(ENCODING, ERRORS))
        current = [entry.line for entry in _entries(path.read_bytes())] if path.exists() else []
        for line in [*delivered, *(line for line, _ in rejected)]:
            if line in current:
                current.remove(line)
        _rewrite(path, current)
        return len(current)


@dataclass
class FlushReport:
    answers: list[dict[str, Any]] = field(default_factory=list)  # the service's answer per delivered event
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (line, reason)
    stopped: GaveUp | None = None  # why sending stopped early
    remaining: int = 0


def flush(path: Path, send: Callable[[str], dict[str, Any]]) -> FlushReport:
    """Send each spooled event with ``send`` (which retries), then remove what was acknowledged.

    Sending stops at the first event the service cannot take for a reason that is not the event's
    own (unreachable, unauthorised): the rest would fail the same way and stay for the next flush.
    """
    report = FlushReport()
    delivered: list[str] = []
    for entry in read(path):
        if entry.problem:
            report.rejected.append((entry.line, entry.problem))
            continue
        try:
            report.answers.append(send(entry.line))
        except GaveUp as exc:
            if is_rejection(exc.error):
                report.rejected.append((entry.line, _problem_text(exc.error)))
                continue
            report.stopped = exc
            break
        delivered.append(entry.line)
    report.remaining = remove(path, delivered, report.rejected) if delivered or report.rejected else len(read(path))
    return report


def _problem_text(error: DeliveryError) -> str:
    details = problem_lines(error)
    return f"{error.status}: {error.detail}" + (f" ({' | '.join(details)})" if details else "")
