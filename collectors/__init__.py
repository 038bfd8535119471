"""Pull collectors: one module per source (git, GitHub, Azure ML, Docker and registries, Kubernetes).

The contract every collector follows is written once, in ``collectors.base``. This module is the
**registry**: which collectors exist, and where their classes live. Entries are ``"module:Class"``
strings, so a collector's module (and its SDK) is imported only when that collector is used, and
``lineage --help`` never pays for Azure ML or Kubernetes. Adding a collector is one line in
``COLLECTORS`` (and, when it needs an optional extra, one in ``EXTRAS``)::

    COLLECTORS["github"] = "collectors.github:GitHubCollector"

The API, for the runner and the CLI:

- ``load(name)`` returns the collector class, or raises ``CollectorUnavailable`` with the reason
  and the install hint (unknown name, module missing, SDK missing, a class that is no collector);
- ``status(name)`` / ``statuses()`` say the same without raising, for ``lineage collect --list``;
- ``create(name, config, instance)`` loads the class and validates ``config`` (a mapping, as read
  from ``lineage.yaml``) with its pydantic config class; a ``pydantic.ValidationError`` names
  the bad keys.

Imports nothing heavy: ``importlib`` only, until ``load`` is called.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.base import Collector

# name (as typed in `lineage collect NAME` and in lineage.yaml) -> "module:Class".
COLLECTORS: dict[str, str] = {
    "git": "collectors.git:GitCollector",
    "azureml": "collectors.azureml:AzureMLCollector",  # [azure]: azure-ai-ml, azure-identity
    "github": "collectors.github:GitHubCollector",  # [github]: PyGithub
    "docker": "collectors.docker:DockerCollector",
    "registry": "collectors.oci_registry:RegistryCollector",  # standard library only: no extra
    "kubernetes": "collectors.kubernetes:KubernetesCollector",  # [k8s]: kubernetes
}

# The pyproject extra a collector's SDK comes with, for hints when its module cannot be imported
# (a class that imports carries its own ``install_hint``).
EXTRAS: dict[str, str] = {"github": "github", "azureml": "azure", "docker": "docker", "kubernetes": "k8s"}


class CollectorUnavailable(RuntimeError):
    """A collector that cannot run here; ``reason`` says why, ``hint`` how to fix it (may be empty)."""

    def __init__(self, name: str, reason: str, hint: str = "") -> None:
        super().__init__(f"collector {name!r} is unavailable: {reason}" + (f" ({hint})" if hint else ""))
        self.name, self.reason, self.hint = name, reason, hint


@dataclass(frozen=True)
class CollectorStatus:
    name: str
    target: str  # "module:Class"
    available: bool
    reason: str = ""
    hint: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "available": self.available, "reason": self.reason or None,
                "install_hint": self.hint or None}


def _extra_hint(name: str) -> str:
    extra = EXTRAS.get(name)
    return f"pip install 'lineage-service[{extra}]'" if extra else ""


def load(name: str) -> type[Collector[Any]]:
    """The collector class registered as ``name``; raises ``CollectorUnavailable`` naming the fix."""
    from collectors.base import Collector  # pydantic: only once a collector is actually wanted

    target = COLLECTORS.get(name)
    if target is None:
        raise CollectorUnavailable(name, f"unknown collector; known: {', '.join(sorted(COLLECTORS))}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            # The collector's own module is missing: planned, or left out of this installation.
            raise CollectorUnavailable(name, f"not in this version (no module {module_name})",
                                       _extra_hint(name)) from None
        raise CollectorUnavailable(name, f"needs the module {exc.name}", _extra_hint(name)) from None
    except ImportError as exc:  # an SDK that is installed but broken (a missing shared library)
        raise CollectorUnavailable(name, f"importing {module_name} failed: {exc}", _extra_hint(name)) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Collector)):
        raise CollectorUnavailable(name, f"{target} is not a Collector class")
    reason = cls.unavailable_reason()
    if reason:
        raise CollectorUnavailable(name, reason, cls.install_hint)
    return cls


def status(name: str) -> CollectorStatus:
    try:
        load(name)
    except CollectorUnavailable as exc:
        return CollectorStatus(name, COLLECTORS.get(name, ""), False, exc.reason, exc.hint)
    return CollectorStatus(name, COLLECTORS[name], True)


def statuses() -> list[CollectorStatus]:
    """Every registered collector, in registry order, with whether it can run here."""
    return [status(name) for name in COLLECTORS]


def create(name: str, config: Mapping[str, Any], instance: str | None = None) -> Collector[Any]:
    """A configured collector; raises ``CollectorUnavailable`` or ``pydantic.ValidationError``."""
    cls = load(name)
    return cls(cls.config_class.model_validate(dict(config)), instance)
