"""HTTP for the OCI distribution API (v2): auth challenges answered, credentials kept safe, requests counted.

The standard library (``urllib``), not ``requests`` or ``httpx``: neither is a core dependency, the
``registry`` collector then needs no extra at all (a CronJob image with lineage-service alone can run
it), and urllib is typed, where ``requests`` would need stubs for mypy strict. It honours the
``HTTPS_PROXY``/``NO_PROXY`` variables (never for loopback registries). What it costs: one connection
per request (no keep-alive); ``bench/collectors.py`` measures it.

**Auth**, as Docker clients do it: a request without credentials; on ``401`` the ``WWW-Authenticate``
challenge says how. ``Basic`` → the username and password. ``Bearer realm=…,service=…,scope=…`` →
``GET realm?service=…&scope=…`` (with the username and password as Basic, or anonymously, as public
registries allow pulls) returns a token for that scope, cached per repository scope for the run; once
the registry is known to want bearer tokens, the token for a new repository is fetched before its
first request, saving the 401 round trip. A configured ``token`` is sent as ``Bearer`` as is.
Credentials never travel in clear to a host that is not loopback, and the ``Authorization`` header is
added as an *unredirected* header, so a redirect to blob storage (S3, a CDN) never carries it.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import ssl
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlencode, urljoin, urlsplit

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the limit registries themselves apply
MAX_BLOB_BYTES = 8 * 1024 * 1024  # image configs are kilobytes; anything bigger is not one
USER_AGENT = "lineage-service (registry collector)"


class Unreachable(Exception):
    """No HTTP answer at all: DNS, connection refused, TLS, timeout. The message holds no credentials."""


class HTTPProblem(Exception):
    """An HTTP answer that is not what was asked for; ``status`` 0 for an answer that could not be used."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes
    url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError:
            raise HTTPProblem(0, f"{_path(self.url)} answered with something that is not JSON") from None

    def problem(self, what: str) -> HTTPProblem:
        """Why this answer fails ``what``, with the registry's own error codes where it sent them."""
        detail = ""
        try:
            errors = json.loads(self.body).get("errors") or []
            detail = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors[:3]
                               if isinstance(e, dict))
        except (ValueError, AttributeError):
            pass
        hint = {401: " (credentials missing or refused)", 403: " (these credentials may not read it)",
                404: " (not found)", 429: " (rate limited: run less often or authenticate)"}.get(self.status, "")
        return HTTPProblem(self.status, f"{what}: HTTP {self.status}{hint}" + (f": {detail[:300]}" if detail else ""))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def next_link(answer: Answer) -> str | None:
    """The ``Link: <…>; rel="next"`` of a paginated list, as an absolute URL."""
    for link in answer.headers.get_all("Link") or []:
        match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
        if match:
            return urljoin(answer.url, str(match.group(1)))
    return None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {name.lower(): quoted if quoted or not bare else bare
              for name, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', rest)}
    return scheme.lower(), params


class RegistryClient:
    """Requests to one registry; ``counts`` tallies them by kind, ``total``, and ``unauthorized`` (401s)."""

    def __init__(self, base_url: str, *, username: str | None = None, password: str | None = None,
                 token: str | None = None, timeout: float = 30.0, ca_file: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.counts: Counter[str] = Counter()
        self.answered = 0  # requests that got any HTTP answer: 0 means the registry was never reached
        self._user, self._password, self._token, self._timeout = username, password, token, timeout
        self._bearer: dict[str, str] = {}  # scope → token, for this run
        self._scheme: str | None = None  # the auth scheme the registry asked for, once it has
        self._challenge: dict[str, str] = {}
        host = urlsplit(self.base).hostname
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file))]
        if is_loopback(host):
            handlers.append(urllib.request.ProxyHandler({}))  # no proxy can reach our loopback
        self._opener = urllib.request.build_opener(*handlers)

    def get(self, path: str, kind: str, *, scope: str | None = None, accept: str | None = None,
            limit: int = MAX_MANIFEST_BYTES) -> Answer:
        return self.request("GET", path, kind, scope=scope, accept=accept, limit=limit)

    def request(self, method: str, path: str, kind: str, *, scope: str | None = None, accept: str | None = None,
                limit: int = MAX_MANIFEST_BYTES) -> Answer:
        url = path if "://" in path else self.base + path
        answer = self._send(method, url, kind, accept, self._authorization(scope), limit)
        if answer.status != 401:
            return answer
        self.counts["unauthorized"] += 1  # a 401 costs a round trip: counted to keep them rare
        scheme, params = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        if scope:
            self._bearer.pop(scope, None)  # expired, or for another scope: ask again once
        self._scheme, self._challenge = scheme, params
        authorization = self._answer(scheme, params, scope)
        if authorization is None:
            raise answer.problem(f"{method} {_path(url)}")
        return self._send(method, url, kind, accept, authorization, limit)

    def _authorization(self, scope: str | None) -> str | None:
        if self._token:
            return f"Bearer {self._token}"
        if scope and scope in self._bearer:
            return f"Bearer {self._bearer[scope]}"
        if self._scheme == "bearer" and self._challenge.get("realm"):
            # Known flow: skip the 401 round trip. The stored challenge's scope was another request's,
            # so this one asks for its own.
            known = {name: value for name, value in self._challenge.items() if name != "scope"}
            return self._answer("bearer", known, scope)
        if self._scheme == "basic":
            return self._basic()
        return None

    def _answer(self, scheme: str, params: dict[str, str], scope: str | None) -> str | None:
        if self._token:
            raise HTTPProblem(401, "the registry refused the configured token (expired, or not for this registry)")
        if scheme == "basic":
            if self._basic() is None:
                raise HTTPProblem(401, "the registry asks for a username and password; set username and password")
            return self._basic()
        if scheme == "bearer" and params.get("realm"):
            return f"Bearer {self._fetch_token(params, scope)}"
        return None

    def _basic(self) -> str | None:
        if self._user is None or self._password is None:
            return None
        self._check_clear_text(self.base)
        return "Basic " + base64.b64encode(f"{self._user}:{self._password}".encode()).decode()

    def _fetch_token(self, params: dict[str, str], scope: str | None) -> str:
        """The bearer token flow: the realm's token service, for the challenge's (or our) scope."""
        realm = params["realm"]
        if urlsplit(realm).scheme not in {"http", "https"}:
            raise HTTPProblem(0, f"the registry's token realm {realm[:100]!r} is not an HTTP URL")
        query = {"service": params["service"]} if params.get("service") else {}
        wanted = params.get("scope") or scope
        if wanted:
            query["scope"] = wanted
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        authorization = None
        if self._user is not None and self._password is not None:
            self._check_clear_text(realm)
            authorization = "Basic " + base64.b64encode(f"{self._user}:{self._password}".encode()).decode()
        answer = self._send("GET", url, "token", "application/json", authorization, 1024 * 1024)
        service = urlsplit(realm).netloc
        if not answer.ok:
            who = "the credentials" if authorization else "anonymous access; set username and password (or token)"
            raise HTTPProblem(answer.status, f"the token service at {service} refused {who} (HTTP {answer.status})")
        data = answer.json()
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise HTTPProblem(0, f"the token service at {service} answered without a token")
        if scope:
            self._bearer[scope] = token
        return token

    def _check_clear_text(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" and not is_loopback(parts.hostname):
            raise HTTPProblem(0, f"refusing to send credentials over plain HTTP to {parts.netloc}; use https")

    def _send(self, method: str, url: str, kind: str, accept: str | None, authorization: str | None,
              limit: int) -> Answer:
        request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
        if accept:
            request.add_header("Accept", accept)
        if authorization:
            # Unredirected: urllib copies ordinary headers to a redirect's target, credentials included.
            request.add_unredirected_header("Authorization", authorization)
        self.counts[kind] += 1
        self.counts["total"] += 1
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = b"" if method == "HEAD" else response.read(limit + 1)
                answer = Answer(response.status, response.headers, body, response.geturl())
        except urllib.error.HTTPError as exc:
            with exc:
                body = b"" if method == "HEAD" else exc.read(64 * 1024)
                answer = Answer(exc.code, exc.headers, body, url)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise Unreachable(f"cannot reach {urlsplit(url).netloc}: {' '.join(str(reason).split())[:200]}") from None
        self.answered += 1
        if len(answer.body) > limit:
            raise HTTPProblem(0, f"{_path(url)} answered with more than {limit} bytes")
        return answer


def _path(url: str) -> str:
    """A URL's path for messages: no query string (token requests carry scopes, never secrets, but still)."""
    return urlsplit(url).path
