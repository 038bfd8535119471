"""A minimal Docker token service: the test double of an identity provider for the bearer-token flow.

Basic credentials in, a signed JWT for the asked scope out. It signs RS256 JWTs with a self-signed
certificate sent in the ``x5c`` header; the registry (real, ``tests/services.py``) trusts that
certificate (``rootcertbundle``) and checks the signature, issuer, audience, expiry and granted actions,
as it would with a real identity provider.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

USER, PASSWORD = "ci-reader", "s3cret-registry-password"  # the tests check it never shows


@dataclass
class TokenServer:
    """Where the token service answers, what it issued and refused, and the registry's auth section."""

    realm: str
    certificate: Path
    issued: list[str] = field(default_factory=list)  # the scopes tokens were issued for
    refused: int = 0
    service: str = "lineage-test-registry"
    issuer: str = "lineage-test-token-service"

    def registry_auth(self) -> dict[str, Any]:
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.certificate)}}


@contextmanager
def token_service(directory: Path, user: str = USER, password: str = PASSWORD) -> Iterator[TokenServer]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lineage test token service")])
    now = time.time()
    from datetime import UTC, datetime, timedelta

    issued_at = datetime.fromtimestamp(now, UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(issued_at - timedelta(minutes=5))
            .not_valid_after(issued_at + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certificate = directory / "token-service.crt"
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    chain = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    server_state: dict[str, TokenServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test output stays readable
            pass

        def do_GET(self) -> None:
            from urllib.parse import parse_qs, urlsplit

            state = server_state["server"]
            query = parse_qs(urlsplit(self.path).query)
            if self.headers.get("Authorization") != expected:
                state.refused += 1
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
                return
            access = []
            for scope in " ".join(query.get("scope", [])).split():
                kind, _, rest = scope.partition(":")
                repository, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": repository, "actions": actions.split(",")})
                state.issued.append(scope)
            moment = int(time.time())
            claims = {"iss": state.issuer, "sub": user, "aud": query.get("service", [""])[0], "exp": moment + 300,
                      "nbf": moment - 30, "iat": moment, "jti": os.urandom(8).hex(), "access": access}
            header = {"typ": "JWT", "alg": "RS256", "x5c": [chain]}
            signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
            signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            token = f"{signing_input}.{b64(signature)}"
            self._answer(200, {"token": token, "access_token": token, "expires_in": 300})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server = TokenServer(f"http://127.0.0.1:{httpd.server_address[1]}/token", certificate)
    server_state["server"] = server
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


