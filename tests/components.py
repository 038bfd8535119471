"""Tests that need a real component (podman, a registry, chromium) call ``require``.

Locally a missing component skips the test with the reason; under ``CI=true`` it fails, because
CI installs everything the tests need and a skipped test must never count as passing there.
"""

from __future__ import annotations

import os

import pytest


def require(available: bool, reason: str) -> None:
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required component missing under CI: {reason}")
    pytest.skip(reason)
