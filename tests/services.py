"""Real services for the docker and registry collector tests: a podman engine and distribution registries.

Session-scoped fixtures, imported by the test modules that use them (not conftest, so other tests never
start them):

- ``podman``: ``podman system service`` on a unix socket in a temporary directory, rootful when run as
  root, with its own storage (``vfs``: works inside containers where overlay mounts do not; the test
  images are a few kilobytes) and the ``podman`` command bound to the same storage, to build and push;
- ``registry``: ``docker-registry`` (distribution 2.8) on a free loopback port, filesystem storage in
  the temporary directory, no auth; ``basic_registry`` the same behind htpasswd; ``token_registry``
  behind the bearer-token flow, with ``tests/token_service.py`` as its auth service (our test double
  for an identity provider; the registry that checks its tokens is real).

Each waits for readiness by polling the socket or ``/v2/`` until a bounded deadline, and is stopped
(SIGTERM, then SIGKILL) at the end of the session. A missing ``podman``, ``docker-registry`` or
``htpasswd`` skips the tests locally and fails them under ``CI=true`` (``tests/components.py``);
``make test`` installs them (``tools/test-services/install.sh``). The services are plain context
managers too, so ``bench/collectors.py`` starts the same ones. Writing to a registry through its API
(attachments, hand-made indexes) is in ``tests/registry_writes.py``, the token service in
``tests/token_service.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.components import require
from tests.token_service import PASSWORD, USER, TokenServer, token_service

READY_SECONDS = 30.0


class ServiceFailed(RuntimeError):
    """A service did not start; the message carries the end of its log."""


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes] | None = None,
               log: Path | None = None, seconds: float = READY_SECONDS) -> float:
    """Poll ``ready`` until it holds (readiness, not synchronisation); seconds it took, or ServiceFailed."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if ready():
            return time.monotonic() - started
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.02)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    state = f"exited with {process.returncode}" if process and process.poll() is not None else "not ready"
    raise ServiceFailed(f"{what} {state} after {time.monotonic() - started:.1f}s\n{tail}")


def stop(process: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Terminate ``process`` and reap it; kill it if it does not end within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- podman ----------------------------------------------------------------------------------------


@dataclass
class Podman:
    """The podman command and its API socket, sharing one storage in ``directory``."""

    directory: Path
    socket: Path
    started_in: float = 0.0

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    def flags(self) -> list[str]:
        return ["--root", str(self.directory / "root"), "--runroot", str(self.directory / "run"),
                "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def env(self) -> dict[str, str]:
        # Keep the host's registries.conf and credentials out: the tests name full references and pass
        # --creds, so nothing is looked up or saved elsewhere.
        return {**os.environ, "TMPDIR": str(self.directory / "tmp"),
                "CONTAINERS_REGISTRIES_CONF": str(self.directory / "registries.conf"),
                "REGISTRY_AUTH_FILE": str(self.directory / "auth.json")}

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["podman", *self.flags(), *args], env=self.env(), capture_output=True, text=True,
                              timeout=300, check=False)
        if check and done.returncode != 0:
            shown = " ".join("***" if index and args[index - 1] == "--creds" else arg for index, arg in enumerate(args))
            raise AssertionError(f"podman {shown} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout.strip()

    def trust(self, registry: str) -> None:
        """Let this podman speak plain HTTP to a loopback registry for every command (``pull --all-tags``
        of podman 4.3 ignores ``--tls-verify=false`` when it lists the tags)."""
        with (self.directory / "registries.conf").open("a", encoding="utf-8") as conf:
            conf.write(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')

    def build(self, reference: str, labels: dict[str, str], content: str = "", platform: str | None = None) -> str:
        """A ``FROM scratch`` image with one file and ``labels``; returns its image id (config digest).

        ``--timestamp 0`` pins every time in the config and the layer, ``--identity-label=false`` drops
        the ``io.buildah.version`` label, and ``--no-cache`` stops podman 4.3 from reusing a cached
        ``FROM scratch`` step of another platform: the same inputs give the same digests on every run.
        """
        context = self.directory / "contexts" / hashlib.sha256(f"{reference}{platform}".encode()).hexdigest()[:16]
        context.mkdir(parents=True, exist_ok=True)
        (context / "payload.txt").write_text(content or reference, encoding="utf-8")
        (context / "Containerfile").write_text("FROM scratch\nCOPY payload.txt /payload.txt\n", encoding="utf-8")
        args = ["build", "--quiet", "--no-cache", "--identity-label=false", "--timestamp", "0",
                "--iidfile", str(context / "iid"), "-t", reference]
        for name, value in labels.items():
            args += ["--label", f"{name}={value}"]
        if platform:
            args += ["--platform", platform]
        self.run(*args, str(context))
        return (context / "iid").read_text(encoding="utf-8").strip()

    def push(self, reference: str, creds: str | None = None, destination: str | None = None) -> str:
        """Push to a loopback registry; returns the digest the registry stored (``--digestfile``)."""
        digest_file = self.directory / "tmp" / "digest"
        args = ["push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file)]
        self.run(*args, *(["--creds", creds] if creds else []), reference, *([destination] if destination else []))
        return digest_file.read_text(encoding="utf-8").strip()

    def push_index(self, reference: str) -> str:
        """Push a manifest list made with ``podman manifest create/add``, all its images with it."""
        digest_file = self.directory / "tmp" / "digest"
        self.run("manifest", "push", "--quiet", "--all", "--tls-verify=false", "--digestfile", str(digest_file),
                 reference, f"docker://{reference}")
        return digest_file.read_text(encoding="utf-8").strip()

    def publish(self, *references: str) -> str:
        """Push, then hold what the registry holds, as a host that pulled the image does; the digest.

        Docker records the registry's digest in RepoDigests on push. Podman 4 keeps the digest of its
        local manifest, which differs when the push compressed the layers (it always does for a local
        build); removing the image and pulling it back makes the engine report the registry's digest,
        which is what a deployment host sees.
        """
        digests = {self.push(reference) for reference in references}
        assert len(digests) == 1, f"{references} are not one image: {digests}"
        self.run("rmi", "--force", *references)
        for reference in references:
            self.run("pull", "--quiet", "--tls-verify=false", reference)
        return digests.pop()


@contextmanager
def podman_service(directory: Path) -> Iterator[Podman]:
    """``podman system service`` on ``directory/podman.sock``; stopped on exit."""
    if not shutil.which("podman"):
        raise ServiceFailed("podman is not installed (make test-services, or apt-get install -y podman)")
    for sub in ("tmp", "contexts"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    (directory / "registries.conf").write_text("unqualified-search-registries = []\n", encoding="utf-8")
    (directory / "auth.json").write_text('{"auths": {}}\n', encoding="utf-8")
    podman = Podman(directory, directory / "podman.sock")
    log = directory / "service.log"
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(["podman", *podman.flags(), "system", "service", "--time=0", podman.base_url],
                                   env=podman.env(), stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _ping_unix(podman.socket), "podman system service", process, log)
        podman.started_in = time.monotonic() - started
        yield podman
    finally:
        stop(process)


def _ping_unix(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
            return sock.recv(64).split(b"\r\n", 1)[0].endswith(b" 200 OK")
    except OSError:
        return False


# --- registries ------------------------------------------------------------------------------------


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT, as image references name it
    storage: Path
    started_in: float = 0.0
    credentials: tuple[str, str] | None = None  # what pushes need

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@contextmanager
def registry_service(directory: Path, auth: dict[str, Any] | None = None,
                     credentials: tuple[str, str] | None = None) -> Iterator[Registry]:
    """``docker-registry serve`` on a free loopback port with filesystem storage in ``directory``."""
    if not shutil.which("docker-registry"):
        raise ServiceFailed("docker-registry is not installed (make test-services, or apt-get install -y "
                            "docker-registry)")
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # the port is free when picked; another process may take it before the bind
        port = free_port()
        config = {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
                  "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
                  "http": {"addr": f"127.0.0.1:{port}", "secret": "lineage-tests-only"}}
        if auth:
            config["auth"] = auth
        (directory / "config.yml").write_text(json.dumps(config), encoding="utf-8")  # YAML reads JSON
        log = directory / f"registry-{attempt}.log"
        started = time.monotonic()
        with log.open("wb") as output:
            process = subprocess.Popen(["docker-registry", "serve", str(directory / "config.yml")],
                                       stdout=output, stderr=subprocess.STDOUT)
        registry = Registry(f"127.0.0.1:{port}", directory / "data", credentials=credentials)
        try:
            wait_until(lambda url=registry.url + "/v2/": _answers(url), "docker-registry", process, log)
        except ServiceFailed:
            stop(process)
            if attempt == 2 or b"address already in use" not in log.read_bytes():
                raise
            continue
        registry.started_in = time.monotonic() - started
        try:
            yield registry
        finally:
            stop(process)
        return


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 401  # up, and asking for credentials
    except OSError:
        return False


def htpasswd_auth(directory: Path, user: str = USER, password: str = PASSWORD) -> dict[str, Any]:
    """The registry's ``auth.htpasswd`` section, with a bcrypt line made by ``htpasswd -B``."""
    if not shutil.which("htpasswd"):
        raise ServiceFailed("htpasswd is not installed (make test-services, or apt-get install -y apache2-utils)")
    directory.mkdir(parents=True, exist_ok=True)
    line = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()
    (directory / "htpasswd").write_text(line + "\n", encoding="utf-8")
    return {"htpasswd": {"realm": "lineage-tests", "path": str(directory / "htpasswd")}}


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    with _entered(lambda: podman_service(tmp_path_factory.mktemp("podman"))) as service:
        yield service


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with _entered(lambda: registry_service(tmp_path_factory.mktemp("registry"))) as service:
        yield service


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    directory = tmp_path_factory.mktemp("basic-registry")

    def start() -> Any:
        return registry_service(directory, htpasswd_auth(directory), (USER, PASSWORD))

    with _entered(start) as service:
        yield service


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, TokenServer]]:
    import importlib.util

    # cryptography signs the test tokens; the test extra brings it (azure-identity depends on it).
    require(importlib.util.find_spec("cryptography") is not None, "the token service double needs cryptography")
    directory = tmp_path_factory.mktemp("token-registry")
    with token_service(directory) as tokens, _entered(
            lambda: registry_service(directory, tokens.registry_auth(), (USER, PASSWORD))) as service:
        yield service, tokens


@contextmanager
def _entered(make: Callable[[], Any]) -> Iterator[Any]:
    """Enter a service's context manager; a service that cannot start is ``require``d."""
    manager = None
    try:
        manager = make()
        service = manager.__enter__()
    except ServiceFailed as exc:
        require(False, str(exc))
    try:
        yield service
    finally:
        manager.__exit__(None, None, None)
