"""Real git repositories for the collector tests, made with the git command in a temporary directory.

Authors, committers and dates come from the environment of each call, so SHAs are the same on
every machine (a commit's SHA hashes its author, committer, dates and tree). The user's own git
configuration is kept out (``GIT_CONFIG_GLOBAL``, ``GIT_CONFIG_NOSYSTEM``), and so is a
``GIT_DIR`` inherited from a hook that runs the tests.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPOSITORY_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
                  "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_PREFIX", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
                  "GIT_CONFIG_COUNT")
AVA = ("Ava Peeters", "Ava.Peeters@example.com")
TOM = ("Tom De Wulf", "tom.dewulf@example.com")
ZOE = ("Zoë Janssens", "zoe@example.com")


class Repo:
    def __init__(self, path: Path, remote: str | None = "git@github.com:NathanSegers/mlops-2.0.git") -> None:
        self.path = path
        self.clock = 0  # minutes after the first commit; every commit and tag gets the next minute
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        if remote:
            self.git("remote", "add", "origin", remote)

    def git(self, *args: str, author: tuple[str, str] = AVA, offset: str = "+0000", check: bool = True) -> str:
        self.clock += 1
        when = f"2026-11-0{1 + self.clock // 600}T{8 + self.clock // 60 % 10:02d}:{self.clock % 60:02d}:00{offset}"
        env = {k: v for k, v in os.environ.items() if k not in REPOSITORY_ENV}
        env.update(GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1], GIT_AUTHOR_DATE=when,
                   GIT_COMMITTER_NAME=author[0], GIT_COMMITTER_EMAIL=author[1], GIT_COMMITTER_DATE=when,
                   GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
        done = subprocess.run(["git", "-C", str(self.path), *args], env=env, capture_output=True, text=True,
                              check=False, timeout=60)
        assert done.returncode == 0 or not check, f"git {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    def commit(self, message: str, author: tuple[str, str] = AVA, offset: str = "+0000") -> str:
        """A commit that adds a file (so that no two commits are alike, and branches merge cleanly)."""
        name = f"change-{self.clock}.txt"
        (self.path / name).write_text(message + "\n", encoding="utf-8")
        self.git("add", name)
        self.git("commit", "--quiet", "-m", message, author=author, offset=offset)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def fast_import(self, count: int) -> str:
        """``count`` linear commits on main, written by one ``git fast-import`` (a process per commit
        would take minutes for thousands); each changes one of 50 files. The head's SHA."""
        stream = []
        for number in range(count):
            message, content = f"change {number}\n".encode(), f"{number}\n".encode()
            stream.append(b"commit refs/heads/main\n")
            stream.append(f"committer Dev {number % 5} <dev{number % 5}@example.com> {1_762_000_000 + number * 60} "
                          f"+0000\n".encode())
            stream.append(f"data {len(message)}\n".encode() + message)
            stream.append(f"M 644 inline file-{number % 50}.txt\ndata {len(content)}\n".encode() + content + b"\n")
        env = {k: v for k, v in os.environ.items() if k not in REPOSITORY_ENV}
        env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
        done = subprocess.run(["git", "-C", str(self.path), "fast-import", "--quiet"], input=b"".join(stream),
                              env=env, capture_output=True, check=False, timeout=300)
        assert done.returncode == 0, f"git fast-import: {done.stderr.decode(errors='replace')}"
        return self.head()


def release_history(path: Path) -> tuple[Repo, dict[str, str]]:
    """main with a feature branch merged back, a lightweight and an annotated release tag.

    ::

        initial (v0.1.0) ── prep ── api change ───── merge (v1.2.3, release-candidate)
                              └── feature: model ──┘
    """
    repo = Repo(path)
    shas = {"initial": repo.commit("initial commit", AVA)}
    repo.git("tag", "v0.1.0")
    shas["prep"] = repo.commit("prep: drop zero-distance trips\n\nFares above 250 are capped too.", ZOE,
                               offset="+0200")
    repo.git("checkout", "--quiet", "-b", "feature")
    shas["model"] = repo.commit("train: retrain on green-taxi-data", AVA)
    repo.git("checkout", "--quiet", "main")
    shas["api"] = repo.commit("api: return a fare interval from /predict", TOM)
    repo.git("merge", "--quiet", "--no-ff", "-m", "Merge branch 'feature'", "feature", author=TOM)
    shas["merge"] = repo.head()
    repo.git("tag", "-a", "v1.2.3", "-m", "release 1.2.3", author=TOM)
    repo.git("tag", "release-candidate")
    return repo, shas
