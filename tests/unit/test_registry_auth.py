"""Answering registry challenges: parsing WWW-Authenticate, Basic, and the bearer-token flow against a real token
server on loopback (GET with Basic auth, OAuth2 refresh-token POST, caching until expiry, refusals)."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from acnbuild.errors import BuildFailed, UserError
from acnbuild.registry.auth import Authenticator, Challenge, Response, parse_challenges, urlopen
from acnbuild.registry.credentials import Credential
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.token_registry import ISSUER, SERVICE, TokenServer

PASSWORD = "pw-Alice-6c1e"
WRONG = "pw-Wrong-93ad"
REGISTRY = "reg.example:5000"
SCOPE = "repository:acn/azure-cns:pull"
SCOPE_PAIR = ("repository:a:pull", "repository:b:pull")


@pytest.fixture(scope="module")
def shared_server() -> Iterator[TokenServer]:
    with TokenServer({"alice": PASSWORD}) as server:
        yield server


@pytest.fixture
def server(shared_server: TokenServer) -> Iterator[TokenServer]:
    """The module's token server (one RSA key for all tests), with fresh records and defaults."""
    shared_server.requests.clear()
    shared_server.lifetime, shared_server.answer_fields = 300, ("token", "access_token")
    yield shared_server


@pytest.fixture(autouse=True)
def no_secret_in_output(capfd: pytest.CaptureFixture[str], shared_server: TokenServer) -> Iterator[None]:
    yield
    out, err = capfd.readouterr()
    for secret in (PASSWORD, WRONG, *shared_server.issued):
        assert secret not in out and secret not in err


def bearer(server: TokenServer, scope: str | None = SCOPE, service: str = SERVICE) -> str:
    header = f'Bearer realm="{server.realm}",service="{service}"'
    return header + (f',scope="{scope}"' if scope else "")


def claims_of(header: str) -> dict[str, object]:
    payload = header.removeprefix("Bearer ").split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- parsing challenges -----------------------------------------------------------------------------------------


def test_basic_challenge() -> None:
    assert parse_challenges('Basic realm="Registry Realm"') == [Challenge("basic", {"realm": "Registry Realm"})]


def test_bearer_challenge_keeps_commas_inside_quotes() -> None:
    (challenge,) = parse_challenges(
        'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull,push"'
    )
    assert challenge.scheme == "bearer"
    assert (challenge.realm, challenge.service) == ("https://auth.example/token", "reg.example")
    assert challenge.scopes == ("repository:a/b:pull,push",)


def test_several_challenges_scopes_escapes_and_case() -> None:
    header = (
        'Basic realm="a, \\"quoted\\" realm", BEARER Realm="https://t.example/token", '
        'Service=reg, scope="repository:a:pull repository:b:pull,push", Digest\trealm="d"'
    )
    basic, bearer_challenge, digest = parse_challenges(header)
    assert digest == Challenge("digest", {"realm": "d"})
    assert basic == Challenge("basic", {"realm": 'a, "quoted" realm'})
    assert bearer_challenge.realm == "https://t.example/token" and bearer_challenge.service == "reg"
    assert bearer_challenge.scopes == ("repository:a:pull", "repository:b:pull,push")


def test_token68_and_nonsense() -> None:
    assert parse_challenges("Negotiate abc+/==") == [Challenge("negotiate", {"token68": "abc+/=="})]
    assert parse_challenges("") == []
    assert parse_challenges('realm="orphan", Basic') == [Challenge("basic", {})]


# --- Basic ------------------------------------------------------------------------------------------------------


def test_basic_answer_is_the_password() -> None:
    header = Authenticator(REGISTRY, Credential("alice", PASSWORD)).authorization('Basic realm="r"')
    assert header == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def test_basic_cannot_be_answered_without_a_password() -> None:
    anonymous = Authenticator(REGISTRY, resolver=lambda registry: None)
    assert anonymous.authorization('Basic realm="r"') is None
    assert Authenticator(REGISTRY, Credential("<token>", PASSWORD, True)).authorization('Basic realm="r"') is None
    assert anonymous.authorization("Negotiate abc==") is None


def test_the_credential_is_resolved_lazily_and_once(server: TokenServer) -> None:
    asked: list[str] = []

    def resolver(registry: str) -> Credential:
        asked.append(registry)
        return Credential("alice", PASSWORD)

    authenticator = Authenticator(REGISTRY, resolver=resolver)
    assert asked == []
    authenticator.authorization('Basic realm="r"')
    authenticator.authorization(bearer(server))
    assert asked == [REGISTRY]


# --- Bearer -----------------------------------------------------------------------------------------------------


def test_bearer_with_a_password_gets_a_signed_token_for_the_scope(server: TokenServer) -> None:
    header = Authenticator(REGISTRY, Credential("alice", PASSWORD)).authorization(bearer(server))
    assert header is not None and header.startswith("Bearer ")
    (request,) = server.requests
    assert (request.method, request.grant, request.subject, request.scopes) == ("GET", "basic", "alice", (SCOPE,))
    claims = claims_of(header)
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, SERVICE, "alice")
    assert claims["access"] == [{"type": "repository", "name": "acn/azure-cns", "actions": ["pull"]}]
    signing_input, _, signature = header.removeprefix("Bearer ").rpartition(".")
    public_key = server.key.certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(  # raises unless the token server signed exactly this
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        signing_input.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_tokens_are_cached_per_scope_until_they_expire(server: TokenServer) -> None:
    server.lifetime = 120
    clock = Clock()
    authenticator = Authenticator(REGISTRY, Credential("alice", PASSWORD), clock=clock)
    first = authenticator.authorization(bearer(server, "repository:a:pull,push"))
    assert authenticator.authorization(bearer(server, "repository:a:push,pull")) == first  # same access, any order
    assert len(server.requests) == 1
    other = authenticator.authorization(bearer(server, "repository:b:pull"))
    assert other != first and len(server.requests) == 2
    clock.now += 110
    assert authenticator.authorization(bearer(server, "repository:a:pull,push")) == first
    clock.now += 10  # within the safety margin of the 120 s lifetime
    assert authenticator.authorization(bearer(server, "repository:a:pull,push")) != first
    assert len(server.requests) == 3
    authenticator.forget(bearer(server, "repository:b:pull"))
    authenticator.authorization(bearer(server, "repository:b:pull"))
    assert len(server.requests) == 4


def test_a_short_lifetime_still_caches_for_the_minimum(server: TokenServer) -> None:
    server.lifetime = 5
    clock = Clock()
    authenticator = Authenticator(REGISTRY, Credential("alice", PASSWORD), clock=clock)
    authenticator.authorization(bearer(server))
    clock.now += 50
    authenticator.authorization(bearer(server))
    assert len(server.requests) == 1


def test_access_token_field_is_accepted(server: TokenServer) -> None:
    server.answer_fields = ("access_token",)
    header = Authenticator(REGISTRY, Credential("alice", PASSWORD)).authorization(bearer(server))
    assert header is not None and claims_of(header)["sub"] == "alice"


def test_anonymous_bearer_sends_no_credentials(server: TokenServer) -> None:
    header = Authenticator(REGISTRY, resolver=lambda registry: None).authorization(bearer(server))
    assert header is not None and claims_of(header)["access"] == []
    assert [(r.grant, r.subject) for r in server.requests] == [("anonymous", "")]


def test_identity_token_uses_the_oauth2_refresh_flow(server: TokenServer) -> None:
    refresh_token = server.issue_refresh_token("alice")
    sent: list[urllib.request.Request] = []

    def transport(request: urllib.request.Request) -> Response:
        sent.append(request)
        return urlopen(request)

    authenticator = Authenticator(REGISTRY, Credential("<token>", refresh_token, True), transport=transport)
    header = authenticator.authorization(bearer(server, "repository:a:pull repository:b:pull"))
    assert header is not None and claims_of(header)["sub"] == "alice"
    (request,) = server.requests
    assert (request.method, request.grant, request.scopes) == ("POST", "refresh_token", SCOPE_PAIR)
    (http_request,) = sent
    form = urllib.parse.parse_qs(bytes(http_request.data or b"").decode())  # type: ignore[arg-type]
    assert form["grant_type"] == ["refresh_token"] and form["client_id"] == ["acnbuild"]
    assert refresh_token not in http_request.full_url and http_request.get_header("Authorization") is None


def test_a_password_obtained_refresh_token_works_like_docker_login(server: TokenServer) -> None:
    """The OAuth2 password grant with access_type=offline hands out a refresh token (docker's identity token)."""
    form = {
        "grant_type": "password",
        "username": "alice",
        "password": PASSWORD,
        "service": SERVICE,
        "client_id": "t",
        "access_type": "offline",
    }
    request = urllib.request.Request(server.realm, data=urllib.parse.urlencode(form).encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        refresh_token = json.load(response)["refresh_token"]
    header = Authenticator(REGISTRY, Credential("<token>", refresh_token, True)).authorization(bearer(server))
    assert header is not None and claims_of(header)["sub"] == "alice"


# --- refusals and failures --------------------------------------------------------------------------------------


def test_a_wrong_password_is_a_user_error_without_the_password(server: TokenServer) -> None:
    credential = Credential("alice", WRONG, source="credential helper docker-credential-t")
    with pytest.raises(UserError) as info:
        Authenticator(REGISTRY, credential).authorization(bearer(server))
    text = str(info.value)
    assert f"the registry refused the credentials for {REGISTRY}" in text and "docker-credential-t" in text
    assert info.value.hint is not None and "log in" in info.value.hint
    assert info.value.__cause__ is None and info.value.__suppress_context__
    for shown in (text, repr(info.value), str(info.value.args)):
        assert WRONG not in shown and base64.b64encode(f"alice:{WRONG}".encode()).decode() not in shown


def test_a_wrong_refresh_token_is_refused_too(server: TokenServer) -> None:
    with pytest.raises(UserError, match="refused the credentials") as info:
        Authenticator(REGISTRY, Credential("<token>", WRONG, True)).authorization(bearer(server))
    assert WRONG not in str(info.value)


def test_server_errors_propagate_for_the_callers_retries() -> None:
    def failing(request: urllib.request.Request) -> Response:
        raise urllib.error.HTTPError(request.full_url, 503, "Service Unavailable", None, None)  # type: ignore[arg-type]

    authenticator = Authenticator(REGISTRY, Credential("alice", PASSWORD), transport=failing)
    with pytest.raises(urllib.error.HTTPError) as info:
        authenticator.authorization('Bearer realm="https://t.example/token",service="s"')
    assert info.value.code == 503


def test_unusable_answers_are_build_failures(server: TokenServer) -> None:
    def answering(body: bytes) -> Callable[[urllib.request.Request], Response]:
        return lambda request: io.BytesIO(body)

    for body in (b"<html>", b'{"token": ""}', b"[]"):
        authenticator = Authenticator(REGISTRY, Credential("alice", PASSWORD), transport=answering(body))
        with pytest.raises(BuildFailed, match="without a token"):
            authenticator.authorization(bearer(server))
    with pytest.raises(BuildFailed, match="no usable token server"):
        Authenticator(REGISTRY, Credential("alice", PASSWORD)).authorization('Bearer service="s"')
    with pytest.raises(BuildFailed, match="HTTP 400"):
        Authenticator(REGISTRY, Credential("alice", PASSWORD)).authorization(bearer(server, service="unknown"))


def test_repr_shows_no_token(server: TokenServer) -> None:
    authenticator = Authenticator(REGISTRY, Credential("alice", PASSWORD))
    authenticator.authorization(bearer(server))
    assert all(token not in repr(authenticator) for token in server.issued)
    assert PASSWORD not in repr(authenticator)
