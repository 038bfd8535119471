"""The ``git`` command, as the git collector uses it: a few plumbing calls and a streamed log.

The git CLI rather than a library: it is on every machine that has a checkout (CI runners,
CronJob images with the repository mounted), reads every repository format git itself reads
(packs, alternates, shallow clones, worktrees), and ``git log -z`` with NUL-separated fields
needs no parsing heuristics. Nothing here knows about lineage events.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.base import CollectorError

# `git rev-parse --local-env-vars`: variables that point git at another repository. A collector
# started from inside a git hook (a pre-commit test run) inherits GIT_DIR and would read the
# wrong repository, so they are dropped.
_REPOSITORY_ENV = frozenset({
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
})
# Settings that would change what `git log` prints (signature checks add lines to the output).
_CONFIG = ("-c", "log.showSignature=false", "-c", "i18n.logOutputEncoding=UTF-8", "-c", "color.ui=false")
_LOG_FIELDS = ("%H", "%P", "%aN", "%aE", "%aI", "%cI", "%B")
_TIMEOUT_SECONDS = 120  # for the small calls; the log itself streams without a limit


@dataclass(frozen=True)
class RawCommit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored_at: str  # strict ISO 8601 with the author's offset, as git prints it
    committed_at: str
    message: str


@dataclass(frozen=True)
class TagRef:
    name: str
    commit: str  # the commit the tag points at, annotated tags peeled


class Git:
    """One repository, addressed by a path to a working copy or a bare repository."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_ENV}
        # Never wait for a password or an editor: a CronJob has no one to answer.
        self.env.update(GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", LC_ALL="C")

    def _command(self, args: Sequence[str]) -> list[str]:
        return ["git", *_CONFIG, "-C", str(self.path), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(self._command(args), capture_output=True, text=True, errors="replace",
                                  env=self.env, timeout=_TIMEOUT_SECONDS, check=False)
        except FileNotFoundError:
            raise CollectorError("the git command is not installed or not on PATH; install git") from None
        except subprocess.TimeoutExpired:
            raise CollectorError(f"git {args[0]} in {self.path} did not finish in {_TIMEOUT_SECONDS}s") from None

    def output(self, *args: str) -> str:
        """Stdout of a call that must succeed; a failure is a ``CollectorError`` quoting git."""
        done = self.run(*args)
        if done.returncode != 0:
            raise CollectorError(f"git {args[0]} failed in {self.path}: {_first_line(done.stderr)}")
        return done.stdout

    def succeeds(self, *args: str) -> bool:
        return self.run(*args).returncode == 0

    def config(self, name: str) -> str | None:
        done = self.run("config", "--get", name)
        return (done.stdout.strip() or None) if done.returncode == 0 else None

    def resolve(self, revision: str) -> str | None:
        """The commit SHA a branch, tag or SHA names, or None."""
        done = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
        return (done.stdout.strip() or None) if done.returncode == 0 else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether ``older`` is in the history of ``newer`` (False when ``older`` no longer exists)."""
        return self.succeeds("merge-base", "--is-ancestor", older, newer)

    def committed_since(self, shas: Sequence[str], since: str) -> set[str]:
        """Those of ``shas`` committed after ``since``."""
        if not shas:
            return set()
        return set(self.output("rev-list", "--no-walk", f"--since={since}", *shas, "--").split())

    def branches(self) -> dict[str, str]:
        """Local branches and their tips."""
        text = self.output("for-each-ref", "--format=%(refname:strip=2)%00%(objectname)", "refs/heads")
        return dict(line.split("\0", 1) for line in text.splitlines() if "\0" in line)

    def tags(self, reachable_from: Sequence[str]) -> list[TagRef]:
        """Tags on commits in the history of any of ``reachable_from``, annotated tags peeled."""
        if not reachable_from:
            return []
        text = self.output("for-each-ref", *(f"--merged={tip}" for tip in reachable_from),
                           "--format=%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objecttype)"
                           "%00%(*objectname)", "refs/tags")
        found = []
        for line in text.splitlines():
            name, kind, target, peeled_kind, peeled = (line.split("\0") + [""] * 4)[:5]
            commit = target if kind == "commit" else peeled if peeled_kind == "commit" else ""
            if peeled_kind == "tag":  # a tag of a tag (rare): let git peel it all the way
                commit = self.resolve(f"refs/tags/{name}") or ""
            if commit:
                found.append(TagRef(name, commit))
        return found

    def log(self, tips: Sequence[str], exclude: Sequence[str], since: str | None = None) -> Iterator[RawCommit]:
        """Commits reachable from ``tips`` and not from ``exclude``, oldest first, streamed."""
        args = ["log", "-z", "--topo-order", "--reverse", "--format=" + "%x00".join(_LOG_FIELDS)]
        if since:
            args.append(f"--since={since}")
        args += [*tips, *(["--not", *exclude] if exclude else []), "--"]
        with tempfile.TemporaryFile() as errors:
            # stderr to a file: a pipe nobody reads while stdout streams could fill up and block git.
            process = subprocess.Popen(self._command(args), stdout=subprocess.PIPE, stderr=errors, env=self.env)
            assert process.stdout is not None
            try:
                yield from _parse_log(iter(lambda: process.stdout.read(1 << 16), b""))  # type: ignore[union-attr]
                if process.wait() != 0:
                    errors.seek(0)
                    message = _first_line(errors.read().decode(errors="replace"))
                    raise CollectorError(f"git log failed in {self.path}: {message}")
            finally:
                if process.poll() is None:  # the consumer stopped early: do not leave git running
                    process.kill()
                process.wait()
                process.stdout.close()


def _parse_log(chunks: Iterator[bytes]) -> Iterator[RawCommit]:
    """``git log -z`` output: fields separated by NUL, and each commit ended by one more NUL.

    So the stream is simply len(_LOG_FIELDS) NUL-ended fields per commit.
    """
    pending = b""
    fields: list[str] = []
    for chunk in chunks:
        pieces = (pending + chunk).split(b"\0")
        pending = pieces.pop()  # the last piece may continue in the next chunk
        for piece in pieces:
            fields.append(piece.decode("utf-8", errors="replace"))
            if len(fields) == len(_LOG_FIELDS):
                sha, parents, name, email, authored, committed, message = fields
                yield RawCommit(sha.strip(), tuple(parents.split()), name, email, authored, committed, message)
                fields = []


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no error message"
