"""``NAME:latest`` inputs, resolved to the version the service knows as the latest.

A pipeline that reads ``latest`` (the seed's ``DATASET_VERSION=latest``) trained on one concrete
version; lineage must name that version, and remember it was asked for as ``latest``. The service
answers ``GET /v1/show?kind=dataset&ref=NAME:latest`` with the node, whose key has the version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lineage_service.emit.delivery import GaveUp
from lineage_service.emit.values import LATEST, Versioned


class Unresolved(RuntimeError):
    """A ``latest`` input the service could not resolve; the message says how to give the version."""


def resolve(values: tuple[Versioned, ...], ask: Callable[[str], dict[str, Any]] | None,
            option: str) -> tuple[Versioned, ...]:
    """Each ``NAME:latest`` as ``NAME:<version>`` with ``requested_as`` latest; others unchanged.

    ``ask(reference)`` returns the service's ``show`` answer for a dataset reference; ``None``
    when no service is configured.
    """
    resolved = []
    for value in values:
        if not value.unresolved:
            resolved.append(value)
            continue
        fix = (f"pass the version the pipeline used as {option} {value.name}:latest=<version> (e.g. from "
               f"`az ml data show --name {value.name} --label latest --query version -o tsv`)")
        if ask is None:
            raise Unresolved(f"{option} {value.name}:latest: no lineage service to ask which version is the "
                             f"latest (LINEAGE_URL is not set); {fix}")
        try:
            answer = ask(f"{value.name}:latest")
        except GaveUp as exc:
            reason = exc.error.detail
            if exc.error.status == 403:
                reason += " (the token needs the 'read' scope to resolve latest)"
            raise Unresolved(f"{option} {value.name}:latest: the lineage service could not say which version "
                             f"is the latest: {reason}; {fix}") from None
        try:
            version = str(answer["node"]["key"]["version"])
        except (KeyError, TypeError):
            raise Unresolved(f"{option} {value.name}:latest: the service's answer names no version; {fix}") from None
        resolved.append(Versioned(value.name, version, LATEST))
    return tuple(resolved)
