"""GitHub's documented webhook payloads: where the tests find them, and loading one.

The shared examples sit beside the checkout (``../shared/testdata/github-webhooks``, here and in
CI; ``LINEAGE_TEST_GITHUB_WEBHOOKS`` points elsewhere); ``tests/fixtures/github`` holds our own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

SHARED_PAYLOADS = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "github-webhooks"
PAYLOADS = Path(os.environ.get("LINEAGE_TEST_GITHUB_WEBHOOKS", SHARED_PAYLOADS))
FIXTURES = Path(__file__).parent / "fixtures" / "github"


def raw(name: str) -> bytes:
    path = FIXTURES / name if (FIXTURES / name).exists() else PAYLOADS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the GitHub payload examples live in ../shared/testdata/github-webhooks "
                    f"(set LINEAGE_TEST_GITHUB_WEBHOOKS to their directory)")
    return path.read_bytes()


def loaded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data
