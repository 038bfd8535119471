"""Collectors contact the hosts they are configured for, and no other.

A process-wide audit hook (``sys.addaudithook``) records every ``socket.getaddrinfo`` and
``socket.connect`` while a collector runs against the local test servers: the GitHub API double,
the Kubernetes API double, the Azure ML double (over TLS) and a real ``docker-registry``. Each run
must resolve and connect to its configured ``127.0.0.1:PORT`` only: no telemetry, no ghcr.io, no
Microsoft login, no metadata service. What the collector's thread does is seen, and what every
thread started from it does (the SDKs' pools, transitively); threads that other fixtures left
running in the process are not, so their traffic cannot fail these tests.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import services
from tests.registry_writes import push_image
from tests.services import Registry

registry = services.registry  # the session's docker-registry: pytest finds fixtures by name

Contact = tuple[str, str, Any]  # (what, host, port)


@dataclass
class _Recording:
    contacts: list[Contact] = field(default_factory=list)
    # The thread that started the recording, and every thread started by one of these meanwhile.
    threads: weakref.WeakSet[threading.Thread] = field(default_factory=weakref.WeakSet)


_recording: list[_Recording] = []
_lock = threading.Lock()
_thread_start = threading.Thread.start


def _start_and_adopt(thread: threading.Thread) -> None:
    # Thread.start in the starting thread, before the new one runs: it belongs to its starter's recordings.
    starter = threading.current_thread()
    with _lock:
        for recording in _recording:
            if starter in recording.threads:
                recording.threads.add(thread)
    _thread_start(thread)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event of the process for the rest of the session (a hook cannot be
    # removed): return at once unless a test is recording.
    if not _recording or event not in ("socket.connect", "socket.getaddrinfo"):
        return
    if event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):  # a unix socket: not a host
            return
        contact: Contact = ("connect", str(address[0]), address[1])
    else:
        host = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        contact = ("resolve", host, args[1])
    current = threading.current_thread()
    with _lock:
        for recording in _recording:
            if current in recording.threads:
                recording.contacts.append(contact)


@contextmanager
def contacts() -> Iterator[list[Contact]]:
    # Installed on first use, not at import: collecting this module must not hook the whole session.
    if not getattr(sys, "_lineage_contact_hook", False):
        sys.addaudithook(_audit)
        sys._lineage_contact_hook = True  # type: ignore[attr-defined]  # once per process
    recording = _Recording()
    recording.threads.add(threading.current_thread())
    with _lock:
        _recording.append(recording)
        threading.Thread.start = _start_and_adopt  # type: ignore[method-assign,assignment]  # only while recording
    try:
        yield recording.contacts
    finally:
        with _lock:
            _recording.remove(recording)
            if not _recording:
                threading.Thread.start = _thread_start  # type: ignore[method-assign]


def assert_only(recorded: list[Contact], url: str) -> None:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    assert any(what == "connect" for what, _, _ in recorded), "the collector contacted nothing: the hook saw nothing"
    strays = [c for c in recorded if c[1] != parts.hostname
              or (c[0] == "connect" and c[2] != parts.port)
              or (c[0] == "resolve" and c[2] not in (parts.port, str(parts.port)))]
    assert not strays, f"contacts beyond {parts.hostname}:{parts.port}: {strays}"


def test_the_github_collector_contacts_only_its_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_collect_github import PACKAGE, REPO, TOKEN, github

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    for server in github():
        # registry=ghcr.io only names the images; it must not be contacted.
        with contacts() as recorded:
            events, collector = server.collect(packages=[f"{PACKAGE}={REPO}"])
        assert events and not collector.report.failures
        assert_only(recorded, server.base)


def test_the_kubernetes_collector_contacts_only_the_kubeconfig_server(tmp_path: Path) -> None:
    from collectors.kubernetes import KubernetesCollector, KubernetesConfig
    from tests.fixture_http import serve
    from tests.kubernetes_api_server import FakeKubernetes, kubeconfig
    from tests.test_collect_kubernetes import TOKEN

    with serve(FakeKubernetes(TOKEN).handle) as base:
        config = KubernetesConfig(kubeconfig=kubeconfig(tmp_path / "kubeconfig", base, TOKEN),
                                  namespaces=["prod", "canary"])
        with contacts() as recorded:
            collector = KubernetesCollector(config)
            events = list(collector.collect(None))
    assert events and not collector.report.failures
    assert_only(recorded, base)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's marshmallow schemas
def test_the_azureml_collector_contacts_only_the_workspace_endpoint(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from collectors.azureml import AzureMLCollector, AzureMLConfig
    from tests import azureml_world as world
    from tests.azureml_server import RG, WS, FixedToken, certificate, local_azureml

    pem = certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pem))
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "AzureCloud")
    with local_azureml(pem) as (state, url):
        monkeypatch.setenv("ARM_CLOUD_METADATA_URL", f"{url}/metadata")
        config = AzureMLConfig(subscription_id=world.SUBSCRIPTION, resource_group=RG, workspace=WS, cloud=state.cloud)
        with contacts() as recorded:
            collector = AzureMLCollector(config, credential=FixedToken())
            events = list(collector.collect(None))
    assert events and not collector.report.failures
    assert_only(recorded, url)


def test_the_registry_collector_contacts_only_its_registry(registry: Registry) -> None:
    from collectors.oci_registry import RegistryCollector, RegistryConfig

    labels = {"org.opencontainers.image.revision": "05ee055698af2171294615a1e423f71f4098628e",
              "org.opencontainers.image.source": "https://github.com/org/api"}
    push_image(registry, "hosts/api", "v1.2.3", labels)
    config = RegistryConfig(registry=registry.url, insecure_http=True, repositories=["hosts/api"])
    with contacts() as recorded:
        collector = RegistryCollector(config)
        events = list(collector.collect(None))
    assert events and not collector.report.failures
    assert_only(recorded, registry.url)


def test_the_hook_sees_a_stray_connection() -> None:
    # The check itself can fail: a connection elsewhere is reported as a stray.
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with contacts() as recorded, socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    with pytest.raises(AssertionError, match="contacts beyond"):
        assert_only(recorded, "http://127.0.0.1:1")
