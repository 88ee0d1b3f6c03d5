"""Answer a registry's ``WWW-Authenticate`` challenge with an ``Authorization`` header.

Basic challenges get the user's password. Bearer challenges go through the distribution token flow: a GET to the
realm (with Basic auth when there is a password), or, for an identity token, the OAuth2 POST with
``grant_type=refresh_token``. Tokens are cached per (realm, service, scope) until they expire.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .. import retry
from ..errors import BuildFailed, UserError
from . import credentials
from .credentials import Credential

MINIMUM_TOKEN_LIFETIME = 60  # seconds: the token spec's default, and the least a client should assume
EXPIRY_MARGIN = 5  # seconds before expiry at which a cached token is no longer handed out
_PARAM = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*=")  # an auth-param starts with `token =`, a challenge does not
_TOKEN68 = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")  # RFC 7235 token68 (``Negotiate abc==``), not an auth-param


class Response(Protocol):
    def read(self) -> bytes: ...

    def close(self) -> None: ...


Transport = Callable[[urllib.request.Request], Response]
"""Sends a request like ``urllib.request.urlopen``: returns the response, raises HTTPError for 4xx/5xx."""


def urlopen(request: urllib.request.Request) -> Response:
    response: Response = urllib.request.urlopen(request, timeout=retry.registry_timeout())
    return response


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header: its scheme (lower case) and auth-params (names lower case)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes asked for (``repository:name:pull,push``); a challenge may name several, space-separated."""
        return tuple(self.params.get("scope", "").split())


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge in a ``WWW-Authenticate`` value, e.g. ``Bearer realm="https://a/token",scope="r:x:pull,push"``.

    Commas inside quoted values are kept, backslash escapes are undone, and several challenges in one header
    (``Basic realm="x", Bearer realm="y"``) come back in order. A token68 (``Negotiate abc==``) is kept as ``token68``.
    """
    challenges: list[tuple[str, dict[str, str]]] = []
    for part in urllib.request.parse_http_list(header):
        if not part:
            continue
        if _PARAM.match(part):
            if challenges:  # an auth-param continuing the current challenge; one before any scheme is ignored
                _add_param(challenges[-1][1], part)
            continue
        scheme, *rest_of_part = part.split(None, 1)
        rest = rest_of_part[0] if rest_of_part else ""
        params: dict[str, str] = {}
        if _TOKEN68.match(rest):
            params["token68"] = rest
        elif rest:
            _add_param(params, rest)
        challenges.append((scheme.lower(), params))
    return [Challenge(scheme, params) for scheme, params in challenges]


def _add_param(params: dict[str, str], text: str) -> None:
    name, _, value = text.partition("=")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    params[name.strip().lower()] = value


def basic_header(credential: Credential) -> str:
    pair = f"{credential.username}:{credential.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass
class _Token:
    header: str = field(repr=False)
    expires: float


class Authenticator:
    """Authorization headers for one registry, from its challenges.

    ``credential`` is used when given; otherwise ``resolver(registry)`` (the user's login, see
    ``credentials.resolve``) is called once, when a challenge first needs it. For explicitly anonymous access pass
    ``resolver=lambda registry: None``. ``transport`` sends the token requests (urllib by default); ``clock`` is
    monotonic seconds. Safe to share between threads.
    """

    def __init__(
        self,
        registry: str,
        credential: Credential | None = None,
        *,
        resolver: Callable[[str], Credential | None] = credentials.resolve,
        transport: Transport = urlopen,
        clock: Callable[[], float] = time.monotonic,
        client_id: str = "acnbuild",
    ) -> None:
        self.registry = registry
        self._credential = credential
        self._resolved = credential is not None
        self._resolver = resolver
        self._transport = transport
        self._clock = clock
        self._client_id = client_id
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Authenticator(registry={self.registry!r}, cached_tokens={len(self._tokens)})"

    @property
    def credential(self) -> Credential | None:
        with self._lock:
            if not self._resolved:
                self._credential = self._resolver(self.registry)
                self._resolved = True
            return self._credential

    def authorization(self, challenge: str | Challenge) -> str | None:
        """The ``Authorization`` value answering ``challenge`` (a ``WWW-Authenticate`` value or a parsed one).

        None when it cannot be answered: a Basic challenge without a password, or only unknown schemes.
        Raises UserError when the token server refuses the credential (or an anonymous request), BuildFailed
        when it answers something unusable; 5xx and connection errors propagate as urllib errors, for the
        caller's retries.
        """
        chosen = self._choose(challenge)
        if chosen is None:
            return None
        if chosen.scheme == "basic":
            credential = self.credential
            if credential is None or credential.is_identity_token:
                return None
            return basic_header(credential)
        return self._bearer(chosen)

    def forget(self, challenge: str | Challenge) -> None:
        """Drop the cached token for ``challenge``'s scope (the registry refused it: revoked or too narrow)."""
        chosen = self._choose(challenge)
        if chosen is not None:
            with self._lock:
                self._tokens.pop(_cache_key(chosen), None)

    @staticmethod
    def _choose(challenge: str | Challenge) -> Challenge | None:
        offered = parse_challenges(challenge) if isinstance(challenge, str) else [challenge]
        by_scheme = {c.scheme: c for c in reversed(offered)}  # the first offer of each scheme wins
        return by_scheme.get("bearer") or by_scheme.get("basic")

    def _bearer(self, challenge: Challenge) -> str:
        key = _cache_key(challenge)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and self._clock() < cached.expires:
                return cached.header
        credential = self.credential
        token, lifetime = self._fetch(challenge, credential)
        entry = _Token(f"Bearer {token}", self._clock() + max(lifetime, MINIMUM_TOKEN_LIFETIME) - EXPIRY_MARGIN)
        with self._lock:
            self._tokens[key] = entry
        return entry.header

    def _fetch(self, challenge: Challenge, credential: Credential | None) -> tuple[str, int]:
        realm = challenge.realm
        if urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
            raise BuildFailed(f"{self.registry} asked for a bearer token but named no usable token server ({realm!r})")
        if credential is not None and credential.is_identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.secret,
                "service": challenge.service,
                "scope": " ".join(challenge.scopes),
                "client_id": self._client_id,
            }
            body = urllib.parse.urlencode({k: v for k, v in form.items() if v}).encode()
            request = urllib.request.Request(realm, data=body, method="POST")
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        else:
            query: list[tuple[str, str]] = []
            if challenge.service:
                query.append(("service", challenge.service))
            query += [("scope", scope) for scope in challenge.scopes]
            if credential is not None and credential.username:
                query.append(("account", credential.username))
            separator = "&" if urllib.parse.urlsplit(realm).query else "?"
            url = f"{realm}{separator}{urllib.parse.urlencode(query)}" if query else realm
            request = urllib.request.Request(url, method="GET")
            if credential is not None:
                request.add_header("Authorization", basic_header(credential))
        return self._token_from(self._send(request, realm, credential))

    def _send(self, request: urllib.request.Request, realm: str, credential: Credential | None) -> bytes:
        server = urllib.parse.urlsplit(realm).netloc
        try:
            with contextlib.closing(self._transport(request)) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code in (401, 403) or (error.code == 400 and _oauth_error(error) == "invalid_grant"):
                raise self._refused(credential, server) from None
            if error.code >= 500:
                raise
            raise BuildFailed(
                f"the token server {server} of {self.registry} answered HTTP {error.code} {error.reason}"
            ) from None

    def _refused(self, credential: Credential | None, server: str) -> UserError:
        if credential is None:
            return UserError(
                f"{self.registry} needs a login: its token server {server} refused an anonymous request",
                hint=f"log in (docker login {self.registry}, or podman login {self.registry}) and retry",
            )
        origin = f" (from {credential.source})" if credential.source else ""
        return UserError(
            f"the registry refused the credentials for {self.registry}{origin}",
            hint=f"log in again (docker login {self.registry}, or podman login {self.registry}) and retry",
        )

    def _token_from(self, body: bytes) -> tuple[str, int]:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            payload = {}
        token = payload.get("token") or payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise BuildFailed(f"the token server of {self.registry} answered without a token")
        lifetime = payload.get("expires_in")
        return token, lifetime if isinstance(lifetime, int) and lifetime > 0 else MINIMUM_TOKEN_LIFETIME


def _oauth_error(error: urllib.error.HTTPError) -> str:
    """The OAuth2 ``error`` code of a refused token request (RFC 6749 5.2), or ""."""
    try:
        payload = json.loads(error.read())
    except (OSError, ValueError):
        return ""
    return str(payload.get("error", "")) if isinstance(payload, dict) else ""


def _cache_key(challenge: Challenge) -> tuple[str, str, str]:
    """Challenges asking for the same access share a token, whatever the order of scopes and actions."""
    return challenge.realm, challenge.service, " ".join(sorted(_normalized_scope(s) for s in challenge.scopes))


def _normalized_scope(scope: str) -> str:
    resource, _, actions = scope.rpartition(":")
    return f"{resource}:{','.join(sorted(actions.split(',')))}" if resource else scope
