"""A real token-authenticated registry for tests: a token server on loopback and Debian's ``docker-registry``.

The token server follows the distribution token spec: ``GET /token?service=&scope=&account=`` with Basic
credentials (or none, for anonymous) and the OAuth2 ``POST /token`` (``grant_type=password`` or
``refresh_token``). It answers with JWTs signed RS256 carrying iss, sub, aud, exp, nbf, iat, jti and
``access: [{type, name, actions}]``; the header's ``kid`` is the libtrust fingerprint of the signing key, which
the registry finds among the keys of the certificates in its ``rootcertbundle``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from acnbuild.registry import local
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SERVICE = "acn-test-registry"
ISSUER = "acn-test-token-issuer"
ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """An RSA key and a self-signed certificate for it (the registry's ``rootcertbundle``)."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @classmethod
    def generate(cls) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def key_id(self) -> str:
        """libtrust's fingerprint: SHA-256 of the DER public key, first 240 bits, base32, in 12 groups of 4."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
        return ":".join(text[i : i + 4] for i in range(0, len(text), 4))

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.key_id}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


@dataclass(frozen=True)
class TokenRequest:
    """What the token server was asked: how the client authenticated, as whom, for which scopes."""

    method: str
    grant: str  # "basic", "anonymous", "password" or "refresh_token"
    subject: str
    scopes: tuple[str, ...]


@dataclass
class TokenServer:
    """The token server's state; ``start()`` serves it on 127.0.0.1 from a thread until ``stop()``.

    ``users``: {name: password}. ``allowed``: {name: actions} (default: every action). Anonymous requests get
    tokens without access. ``answer_fields``: which of "token"/"access_token" a GET answer carries.
    """

    users: dict[str, str]
    allowed: dict[str, frozenset[str]] = field(default_factory=dict)
    lifetime: int = 300
    answer_fields: tuple[str, ...] = ("token", "access_token")
    service: str = SERVICE
    issuer: str = ISSUER
    key: SigningKey = field(default_factory=SigningKey.generate)
    requests: list[TokenRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list, repr=False)  # every token and refresh token handed out
    refresh_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # token -> user
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def realm(self) -> str:
        assert self._httpd is not None, "the token server is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/token"

    def start(self) -> TokenServer:
        server = self

        class Handler(_TokenHandler):
            token_server = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.05)
        threading.Thread(target=serve, name="token-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_root_bundle(self, path: Path) -> Path:
        path.write_bytes(self.key.certificate_pem())
        return path

    def issue_refresh_token(self, user: str) -> str:
        """A refresh token (what ``docker login`` keeps as an identity token) for ``user``."""
        token = secrets.token_urlsafe(24)
        self.refresh_tokens[token] = user
        self.issued.append(token)
        return token

    def access_token(self, subject: str, scopes: tuple[str, ...]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.lifetime,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": [access for scope in scopes if (access := self._grant(subject, scope)) is not None],
        }
        token = self.key.sign(claims)
        self.issued.append(token)
        return token

    def _grant(self, subject: str, scope: str) -> dict[str, Any] | None:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if not subject or not kind or not name:
            return None
        allowed = self.allowed.get(subject, ALL_ACTIONS)
        granted = [action for action in actions.split(",") if action in allowed]
        return {"type": kind, "name": name, "actions": granted}


class _TokenHandler(BaseHTTPRequestHandler):
    token_server: TokenServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _reply(self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _unauthorized(self) -> None:
        error = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        self._reply(401, error, {"WWW-Authenticate": 'Basic realm="acn-test-token"'})

    def _check_password(self, user: str, password: str) -> bool:
        expected = self.token_server.users.get(user)
        return expected is not None and secrets.compare_digest(expected, password)

    def do_GET(self) -> None:
        server = self.token_server
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/token" or query.get("service", [""])[0] != server.service:
            self._reply(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service or path"}]})
            return
        scopes = tuple(query.get("scope", []))
        subject, grant = "", "anonymous"
        header = self.headers.get("Authorization", "")
        if header:
            scheme, _, encoded = header.partition(" ")
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if scheme.lower() != "basic" or not self._check_password(user, password):
                server.requests.append(TokenRequest("GET", "basic", "", scopes))
                self._unauthorized()
                return
            subject, grant = user, "basic"
        server.requests.append(TokenRequest("GET", grant, subject, scopes))
        token = server.access_token(subject, scopes)
        answer: dict[str, Any] = {name: token for name in server.answer_fields}
        answer |= {"expires_in": server.lifetime, "issued_at": datetime.datetime.now(datetime.UTC).isoformat()}
        self._reply(200, answer)

    def do_POST(self) -> None:
        server = self.token_server
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
        scopes = tuple(form.get("scope", "").split())
        grant = form.get("grant_type", "")
        if urllib.parse.urlsplit(self.path).path != "/token" or form.get("service") != server.service:
            self._reply(400, {"error": "invalid_request"})
            return
        if not form.get("client_id"):
            self._reply(400, {"error": "invalid_request", "error_description": "client_id is required"})
            return
        subject = ""
        if grant == "password" and self._check_password(form.get("username", ""), form.get("password", "")):
            subject = form["username"]
        elif grant == "refresh_token":
            subject = server.refresh_tokens.get(form.get("refresh_token", ""), "")
        server.requests.append(TokenRequest("POST", grant, subject, scopes))
        if not subject:
            self._reply(400, {"error": "invalid_grant"})
            return
        answer: dict[str, Any] = {
            "access_token": server.access_token(subject, scopes),
            "expires_in": server.lifetime,
            "scope": " ".join(scopes),
        }
        if grant == "password" and form.get("access_type") == "offline":
            answer["refresh_token"] = server.issue_refresh_token(subject)
        self._reply(200, answer)


@dataclass
class TokenRegistry:
    """A running ``docker-registry`` that trusts ``token_server``'s tokens."""

    registry: local.LocalRegistry
    token_server: TokenServer

    @property
    def host(self) -> str:
        return self.registry.host

    @property
    def log(self) -> Path:
        return self.registry.log

    def stop(self) -> None:
        self.registry.stop()


def start_registry(directory: Path, token_server: TokenServer) -> TokenRegistry:
    """Start ``docker-registry serve`` with token auth on a free loopback port; returns once it challenges."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = token_server.write_root_bundle(directory / "token-root.pem")
    auth = local.token_auth(token_server.realm, token_server.service, token_server.issuer, bundle)
    registry = TokenRegistry(local.start(directory, auth=auth, log_level="info"), token_server)
    if not _challenges(registry.host):
        registry.stop()
        raise RuntimeError(f"docker-registry on {registry.host} does not ask for a bearer token")
    return registry


def _challenges(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
            return False  # answering without a challenge: not token auth
    except urllib.error.HTTPError as error:
        return error.code == 401 and error.headers.get("WWW-Authenticate", "").startswith("Bearer ")
    except OSError:
        return False


@contextlib.contextmanager
def token_registry(directory: Path, users: Mapping[str, str], **server_options: Any) -> Iterator[TokenRegistry]:
    """A token server and a registry trusting it, both stopped on exit."""
    with TokenServer(dict(users), **server_options) as server:
        registry = start_registry(directory, server)
        try:
            yield registry
        finally:
            registry.stop()
