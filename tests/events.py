"""Lineage events the tests build: shared by many test modules (and by writer subprocesses)."""

from __future__ import annotations


def commit_event(number: int, source: str = "git") -> dict[str, object]:
    """Event ``{source}-{number}``: one commit (sha = number in hex) authored by one of seven people."""
    sha = f"{number:040x}"
    return {
        "id": f"{source}-{number}",
        "time": "2026-11-10T13:27:00Z",
        "source": source,
        "nodes": [
            {"kind": "commit", "key": {"repo": "https://github.com/nathansegers/mlops-2.0", "sha": sha},
             "props": {"message": f"change {number}"}},
            {"kind": "person", "key": {"id": f"dev{number % 7}@example.com"}},
        ],
        "edges": [{"source": {"kind": "commit", "key": {"repo": "https://github.com/nathansegers/mlops-2.0",
                                                       "sha": sha}},
                   "target": {"kind": "person", "key": {"id": f"dev{number % 7}@example.com"}}}],
    }
