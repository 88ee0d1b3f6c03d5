"""References and registries, checked against the distribution project's reference grammar and docker's rules.

The cases restate that grammar (name[:tag][@digest], domain detection, path components, tag and digest forms,
the 255-character repository limit) in our own tables.
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from acnbuild.errors import UserError
from acnbuild.references import InvalidReference, Reference, Registry, join

SHA256 = "sha256:" + hashlib.sha256(b"acn").hexdigest()
SHA384 = "sha384:" + hashlib.sha384(b"acn").hexdigest()
SHA512 = "sha512:" + hashlib.sha512(b"acn").hexdigest()
HEX64 = hashlib.sha256(b"id").hexdigest()


# input -> (registry, repository, tag, digest)
VALID = {
    # Docker Hub: no domain, single names are official images under library/
    "ubuntu": ("docker.io", "library/ubuntu", None, None),
    "ubuntu:24.04": ("docker.io", "library/ubuntu", "24.04", None),
    "library/ubuntu": ("docker.io", "library/ubuntu", None, None),
    "docker/docker": ("docker.io", "docker/docker", None, None),
    "docker.io/debian": ("docker.io", "library/debian", None, None),
    "docker.io/library/debian": ("docker.io", "library/debian", None, None),
    "index.docker.io/debian": ("docker.io", "library/debian", None, None),
    "index.docker.io/docker/docker": ("docker.io", "docker/docker", None, None),
    "library/foo/bar": ("docker.io", "library/foo/bar", None, None),
    "store/foo/bar:1": ("docker.io", "store/foo/bar", "1", None),
    # a first component without '.', ':' or uppercase is a namespace, not a host
    "test_com": ("docker.io", "library/test_com", None, None),
    "test_com/foo": ("docker.io", "test_com/foo", None, None),
    "foo/foo_bar.com:8080": ("docker.io", "foo/foo_bar.com", "8080", None),
    # ... and without a '/', 'host:port' is a name and a tag
    "test.com:5000": ("docker.io", "library/test.com", "5000", None),
    "192.168.1.1": ("docker.io", "library/192.168.1.1", None, None),
    "192.168.1.1:5000": ("docker.io", "library/192.168.1.1", "5000", None),
    "localhost:5000": ("docker.io", "library/localhost", "5000", None),
    "localhost@" + SHA256: ("docker.io", "library/localhost", None, SHA256),
    # domains: a '.', a port, localhost, or an uppercase letter
    "test.com/repo:tag": ("test.com", "repo", "tag", None),
    "test:5000/repo": ("test:5000", "repo", None, None),
    "test-com:8080/foo": ("test-com:8080", "foo", None, None),
    "localhost/debian": ("localhost", "debian", None, None),
    "localhost:8080/name@" + SHA256: ("localhost:8080", "name", None, SHA256),
    "LOCALDOMAIN/library/debian": ("LOCALDOMAIN", "library/debian", None, None),
    "Foo/bar": ("Foo", "bar", None, None),
    "Asdf.com/foo/bar": ("Asdf.com", "foo/bar", None, None),
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag": ("sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None),
    "b.gcr.io/test.example.com/my-app:test.example.com": (
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        None,
    ),
    "xn--n3h.com:18080/myimage:xn--n3h.com": ("xn--n3h.com:18080", "myimage", "xn--n3h.com", None),
    "0101.com/a": ("0101.com", "a", None, None),
    "mcr.microsoft.com/windows/servercore:ltsc2022": ("mcr.microsoft.com", "windows/servercore", "ltsc2022", None),
    # IPv4 and ports
    "192.168.1.1/repo": ("192.168.1.1", "repo", None, None),
    "192.168.1.1:5000/repo:5050": ("192.168.1.1:5000", "repo", "5050", None),
    "127.0.0.1:5000/x@" + SHA256: ("127.0.0.1:5000", "x", None, SHA256),
    "127.0.0.1:5000/acn/azure-cns:linux-amd64-v1.6.0": ("127.0.0.1:5000", "acn/azure-cns", "linux-amd64-v1.6.0", None),
    "example.com:65535/a": ("example.com:65535", "a", None, None),
    "example.com:1/a": ("example.com:1", "a", None, None),
    # IPv6 in brackets
    "[2001:db8::1]/repo": ("[2001:db8::1]", "repo", None, None),
    "[2001:db8::]:5000/repo": ("[2001:db8::]:5000", "repo", None, None),
    "[2001:db8:1:2:3:4:5:6]/repo:tag": ("[2001:db8:1:2:3:4:5:6]", "repo", "tag", None),
    "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:443/a": (
        "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:443",
        "a",
        None,
        None,
    ),
    "[::1]:5000/repo:tag@" + SHA256: ("[::1]:5000", "repo", "tag", SHA256),
    "[fc00::1]:5000/docker/docker": ("[fc00::1]:5000", "docker/docker", None, None),
    # path component separators: one '.' or '_', two '_', any run of '-'
    "docker---rules/docker": ("docker.io", "docker---rules/docker", None, None),
    "dock__er/docker": ("docker.io", "dock__er/docker", None, None),
    "foo_bar": ("docker.io", "library/foo_bar", None, None),
    "registry.io/foo/project--id.module--name.ver---sion--name": (
        "registry.io",
        "foo/project--id.module--name.ver---sion--name",
        None,
        None,
    ),
    "example.com/some_separator__underscore/myimage": ("example.com", "some_separator__underscore/myimage", None, None),
    "d/docker": ("docker.io", "d/docker", None, None),
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev": (
        "docker.io",
        "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        None,
        None,
    ),
    # a 64-hex component is fine once it is clearly a repository, not an image ID
    "docker.io/" + HEX64: ("docker.io", "library/" + HEX64, None, None),
    # tags: case kept, up to 128 characters, '_' may lead
    "lowercase:Uppercase": ("docker.io", "library/lowercase", "Uppercase", None),
    "a:_private": ("docker.io", "library/a", "_private", None),
    "a:" + "t" * 128: ("docker.io", "library/a", "t" * 128, None),
    # digests: each supported algorithm at its length; tag and digest together keep both
    "a@" + SHA384: ("docker.io", "library/a", None, SHA384),
    "a@" + SHA512: ("docker.io", "library/a", None, SHA512),
    "busybox:latest@" + SHA256: ("docker.io", "library/busybox", "latest", SHA256),
    # the repository path may be 255 characters
    "example.com/" + "a" * 255 + ":tag": ("example.com", "a" * 255, "tag", None),
    "a/" * 127 + "a:tag": ("docker.io", "a/" * 127 + "a", "tag", None),
}


@pytest.mark.parametrize(("text", "expected"), VALID.items(), ids=[k[:60] for k in VALID])
def test_valid(text: str, expected: tuple[str, str, str | None, str | None]) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == expected
    assert Reference.parse(str(ref)) == ref  # the canonical form reads back the same


# input -> a fragment of what the error says is wrong
INVALID = {
    "": "empty",
    ":justtag": "no repository",
    "@" + SHA256: "no repository",
    HEX64: "image ID",
    "https://github.com/docker/docker": "URL scheme",
    # path components
    "aa/asdf$$^/aa": "components",
    "a^a": "components",
    "-docker": "components",
    "-docker/docker": "components",
    "docker-/docker": "components",
    "_docker/_docker": "components",
    "____/____": "components",
    "docker_/docker_": "components",
    "dock..er/docker": "host[:port]",
    "dock_.er/docker": "host[:port]",
    "dock-.er/docker": "host[:port]",
    "example.com/__underscore/myimage": "components",
    "example.com/.dots/myimage": "components",
    "docker///docker": "components",
    "a//a/a": "components",
    "docker/": "components",
    "foo.com/": "components",
    "localhost/": "components",
    "a b": "components",
    # uppercase: fine in a domain, never in the repository
    "docker/Docker": "must be lowercase",
    "Uppercase:tag": "must be lowercase",
    "test:5000/Uppercase/lowercase:tag": "must be lowercase",
    "docker.io/docker/Docker": "must be lowercase",
    "Foo/FarB": "must be lowercase",
    # domains and ports
    "-docker.io/docker/docker": "host[:port]",
    "ab-.com/a": "host[:port]",
    "foo_bar.com:8080/app": "host[:port]",
    "do__cker:8080/docker": "host[:port]",
    "foo.com:http/bar": "host[:port]",
    "localhost:99999/x": "port 99999",
    "localhost:0/x": "port 0",
    "fc00::1:5000/debian": "host[:port]",
    # IPv6: brackets, no zone, no embedded IPv4, a real address, and a repository after it
    "[fe80::1%eth0]:5000/repo": "host[:port]",
    "[2001:db8:3:4::192.0.2.33]:5000/debian": "host[:port]",
    "[fd00:1:2::3]75050/a": "host[:port]",
    "[fd00123123123]:5000/a": "not an IPv6 address",
    "[2001:db8::1]:5000": "no repository",
    "[fc00::1]": "no repository",
    # tags
    "registry.com:8080/myapp:invalid~tag": "tag",
    "a:-dash": "tag",
    "a:.dot": "tag",
    "a:" + "t" * 129: "tag",
    # digests
    "repo@sha256:" + "f" * 34: "64 lowercase hex characters, not 34",
    "repo@sha256:" + "f" * 65: "not 65",
    "repo@" + SHA256.upper().replace("SHA256", "sha256"): "uppercase",
    "repo@sha384:" + "a" * 64: "96 lowercase hex",
    "repo@sha512:" + "a" * 96: "128 lowercase hex",
    "repo@md5:" + "a" * 32: "not supported",
    "validname@invaliddigest:" + "f" * 64: "not supported",
    "repo@sha256": "not algorithm:hex",
    "repo@2bad": "not algorithm:hex",
    "repo@sha256:xyz": "not algorithm:hex",
    "repo@" + SHA256 + "@" + SHA256: "not algorithm:hex",
    # the repository path limit
    "example.com/" + "a" * 256 + ":tag": "256 characters",
    "a/" * 128 + "a": "257 characters",
    "namespace" * 30 + "/docker": "characters, more than 255",
}


@pytest.mark.parametrize(("text", "problem"), INVALID.items(), ids=[k[:60] for k in INVALID])
def test_invalid(text: str, problem: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        Reference.parse(text)
    assert problem in caught.value.problem
    assert caught.value.hint


# canonical and familiar forms
FORMS = [
    ("ubuntu", "docker.io/library/ubuntu", "ubuntu"),
    ("docker.io/ubuntu:24.04", "docker.io/library/ubuntu:24.04", "ubuntu:24.04"),
    ("index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base"),
    ("fooo/bar", "docker.io/fooo/bar", "fooo/bar"),
    ("other/library", "docker.io/other/library", "other/library"),
    ("library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar"),
    ("busybox:latest@" + SHA256, "docker.io/library/busybox:latest@" + SHA256, "busybox:latest@" + SHA256),
    ("localhost/fooo", "localhost/fooo", "localhost/fooo"),
    ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"),
    ("FOO/bar", "FOO/bar", "FOO/bar"),
]


@pytest.mark.parametrize(("text", "canonical", "familiar"), FORMS, ids=[f[0][:60] for f in FORMS])
def test_canonical_and_familiar_forms(text: str, canonical: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == canonical
    assert ref.familiar == familiar
    assert Reference.parse(familiar) == ref


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("127.0.0.1:5000/x", True),
        ("127.0.0.2/x", True),
        ("127.255.255.254:5000/x", True),
        ("[::1]:5000/x", True),
        ("[::1]/x", True),
        ("localhost:5000/x", True),
        ("localhost/x", True),
        ("LOCALHOST/x", True),
        ("localhost.example.com/x", False),
        ("localhost:5000", False),  # that is docker.io/library/localhost:5000
        ("10.0.0.1:5000/x", False),
        ("128.0.0.1/x", False),
        ("[::2]:5000/x", False),
        ("acnpublic.azurecr.io/x", False),
        ("ubuntu", False),
    ],
)
def test_loopback(text: str, loopback: bool) -> None:
    ref = Reference.parse(text)
    assert ref.is_loopback is loopback
    assert ref.registry_info.scheme == ("http" if loopback else "https")


def test_digest_pinned_loopback_reference_names_its_repository() -> None:
    """The case the old parsers got wrong: the repository is ``x``, not ``x@sha256``."""
    ref = Reference.parse("127.0.0.1:5000/x@" + SHA256)
    assert ref.repository == "x"
    assert ref.name == "127.0.0.1:5000/x"
    assert ref.registry_info == Registry("127.0.0.1", 5000, "")
    assert ref.is_loopback


def test_tag_stays_absent_unless_a_default_is_asked_for() -> None:
    assert Reference.parse("a.io/x").tag is None
    assert Reference.parse("a.io/x", default_tag="latest").tag == "latest"
    assert Reference.parse("a.io/x:v1", default_tag="latest").tag == "v1"
    with pytest.raises(InvalidReference):
        Reference.parse("a.io/x", default_tag="-bad")


@pytest.mark.parametrize(
    ("text", "api_reference"),
    [("a.io/x", "latest"), ("a.io/x:v1", "v1"), ("a.io/x@" + SHA256, SHA256), ("a.io/x:v1@" + SHA256, SHA256)],
)
def test_api_reference_prefers_the_digest(text: str, api_reference: str) -> None:
    assert Reference.parse(text).api_reference == api_reference


def test_with_tag_and_digest_keep_the_other_part() -> None:
    ref = Reference.parse("test.com:8000/foo")
    tagged = ref.with_tag("TAG5")
    assert str(tagged) == "test.com:8000/foo:TAG5"
    pinned = tagged.with_digest(SHA256)
    assert str(pinned) == f"test.com:8000/foo:TAG5@{SHA256}"
    assert str(pinned.with_tag(None)) == f"test.com:8000/foo@{SHA256}"
    assert str(pinned.with_digest(None)) == "test.com:8000/foo:TAG5"
    assert ref.tag is None  # frozen: the original is unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.tag = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("method", "value"),
    [("with_tag", "-foo"), ("with_tag", "a" * 129), ("with_digest", "foo"), ("with_digest", "md5:" + "a" * 32)],
)
def test_with_refuses_bad_parts(method: str, value: str) -> None:
    with pytest.raises(InvalidReference):
        getattr(Reference.parse("busybox"), method)(value)


# registry settings: text -> (host, port, path, address, str, scheme, api_host)
REGISTRIES = {
    "acnpublic.azurecr.io": (
        "acnpublic.azurecr.io",
        None,
        "",
        "acnpublic.azurecr.io",
        "acnpublic.azurecr.io",
        "https",
        "acnpublic.azurecr.io",
    ),
    "127.0.0.1:5000/acn": ("127.0.0.1", 5000, "acn", "127.0.0.1:5000", "127.0.0.1:5000/acn", "http", "127.0.0.1:5000"),
    "127.0.0.1:5000/acn/dev//": (
        "127.0.0.1",
        5000,
        "acn/dev",
        "127.0.0.1:5000",
        "127.0.0.1:5000/acn/dev",
        "http",
        "127.0.0.1:5000",
    ),
    "[::1]:5000": ("::1", 5000, "", "[::1]:5000", "[::1]:5000", "http", "[::1]:5000"),
    "[2001:db8::1]/acn": ("2001:db8::1", None, "acn", "[2001:db8::1]", "[2001:db8::1]/acn", "https", "[2001:db8::1]"),
    "localhost:5000/": ("localhost", 5000, "", "localhost:5000", "localhost:5000", "http", "localhost:5000"),
    "localhost": ("localhost", None, "", "localhost", "localhost", "http", "localhost"),
    "docker.io/acnbuild": (
        "docker.io",
        None,
        "acnbuild",
        "docker.io",
        "docker.io/acnbuild",
        "https",
        "registry-1.docker.io",
    ),
    "index.docker.io/acnbuild": (
        "docker.io",
        None,
        "acnbuild",
        "docker.io",
        "docker.io/acnbuild",
        "https",
        "registry-1.docker.io",
    ),
    "registry:5000": ("registry", 5000, "", "registry:5000", "registry:5000", "https", "registry:5000"),
}


@pytest.mark.parametrize(("text", "expected"), REGISTRIES.items(), ids=list(REGISTRIES))
def test_registry_parse(text: str, expected: tuple[object, ...]) -> None:
    registry = Registry.parse(text)
    assert (registry.host, registry.port, registry.path) == expected[:3]
    assert (registry.address, str(registry), registry.scheme, registry.api_host) == expected[3:]
    assert Registry.parse(str(registry)) == registry


# text -> fragment of the problem
BAD_REGISTRIES = {
    "": "empty",
    "/": "empty",
    "https://acnpublic.azurecr.io": "URL scheme",
    "http://127.0.0.1:5000/acn": "URL scheme",
    "localhost:99999": "port 99999",
    "localhost:0": "port 0",
    "127.0.0.1:5000/Acn": "must be lowercase",
    "127.0.0.1:5000/acn//dev": "path",
    "acn": "does not look like a registry host",
    "bad_host.io": "host[:port]",
    "-x.io": "host[:port]",
    "[::1": "host[:port]",
    "x.io:port": "host[:port]",
    "[fe80::1::2]:5000": "not an IPv6 address",
}


@pytest.mark.parametrize(("text", "problem"), BAD_REGISTRIES.items(), ids=list(BAD_REGISTRIES))
def test_registry_refuses(text: str, problem: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        Registry.parse(text, source="--registry")
    assert problem in caught.value.problem
    assert str(caught.value).startswith("--registry: ")
    assert caught.value.hint


def test_registry_scheme_hint_says_to_drop_it() -> None:
    with pytest.raises(InvalidReference) as caught:
        Registry.parse("https://acnpublic.azurecr.io/")
    assert caught.value.hint == "drop the scheme: acnpublic.azurecr.io"
    assert str(caught.value).startswith("IMAGE_REGISTRY: 'https://acnpublic.azurecr.io/'")


@pytest.mark.parametrize(
    ("text", "parse"),
    [
        ("https://robot:s3cr3t@registry.example.com/acn", Registry.parse),
        ("robot:s3cr3t@registry.example.com:5000", Registry.parse),
        ("https://robot:s3cr3t@registry.example.com/acn/cni:v1", Reference.parse),
        ("robot:s3cr3t@registry.example.com/acn/cni:v1", Reference.parse),
    ],
)
def test_messages_never_echo_a_credential(text: str, parse: object) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse(text)  # type: ignore[operator]
    error = caught.value
    assert "s3cr3t" not in f"{error} {error.hint} {error.text} {error!r}"
    assert "***@" in str(error)


def test_invalid_reference_is_a_user_error_naming_the_string() -> None:
    with pytest.raises(UserError) as caught:
        Reference.parse("docker/Docker:v1")
    error = caught.value
    assert error.exit_code == 2
    assert str(error).startswith("'docker/Docker:v1' is not a valid image reference: ")
    assert "fix: " in str(error)


@pytest.mark.parametrize(
    ("registry", "image", "tag", "expected"),
    [
        ("127.0.0.1:5000/acn", "azure-cns", "linux-amd64-v1", "127.0.0.1:5000/acn/azure-cns:linux-amd64-v1"),
        ("acnpublic.azurecr.io", "azure-cni", "v1.6.0", "acnpublic.azurecr.io/azure-cni:v1.6.0"),
        (Registry("::1", 5000), "cni", "v1", "[::1]:5000/cni:v1"),
        ("docker.io", "cni", "v1", "docker.io/library/cni:v1"),
    ],
)
def test_join(registry: Registry | str, image: str, tag: str, expected: str) -> None:
    ref = join(registry, image, tag)
    assert str(ref) == expected
    assert ref.tag == tag


@pytest.mark.parametrize(("image", "tag"), [("Azure-CNS", "v1"), ("cns", "v1:x"), ("cns", "")])
def test_join_refuses_bad_parts(image: str, tag: str) -> None:
    with pytest.raises(InvalidReference):
        join("127.0.0.1:5000", image, tag)
