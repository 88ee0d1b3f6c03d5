"""Container image references and registries, parsed one way for the whole build.

A reference is ``name[:tag][@digest]``, read the way docker reads it (the grammar of the distribution project's
reference package, plus docker's normalization): the first ``/``-separated component of the name is the registry
only if it looks like a host (it has a ``.`` or a ``:port``, is ``localhost``, or has an uppercase letter);
otherwise the image is on Docker Hub, ``docker.io``, and a single name is an official image under ``library/``.
So ``ubuntu`` is ``docker.io/library/ubuntu`` and ``127.0.0.1:5000/x@sha256:...`` is repository ``x`` on
``127.0.0.1:5000``.

A registry (IMAGE_REGISTRY, ``--registry``) is ``host[:port][/path]``: the place images are pushed under.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import UserError

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset({"index.docker.io"})  # the legacy "Docker Index" name, same registry
_DOCKER_HUB_API = "registry-1.docker.io"  # where docker.io's /v2/ API actually answers
_OFFICIAL = "library/"
_MAX_REPOSITORY = 255  # characters in the repository path, as the distribution project limits it

# The grammar, built from named pieces so each rule can be read on its own.
# A path component: lowercase letters and digits, joined by one "." or "_", two "_", or any run of "-".
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# A DNS-like label (letters in either case, inner hyphens); a domain is labels joined by "."; an IPv6 address
# goes in brackets (no zone, no embedded IPv4).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?P<host>{_LABEL}(?:\.{_LABEL})*|\[(?P<ipv6>[0-9A-Fa-f:]+)\])"
_ALGORITHM = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"

_ADDRESS_RE = re.compile(rf"{_HOST}(?::(?P<port>[0-9]+))?")
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(rf"(?P<algorithm>{_ALGORITHM}):(?P<hex>[0-9A-Fa-f]+)")  # lengths: _DIGEST_HEX_LENGTH
_IMAGE_ID_RE = re.compile(r"[a-f0-9]{64}")  # a bare image ID, which docker refuses as a name
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# Digest algorithms the OCI image spec registers, with the length of their lowercase-hex encoding.
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}

_EXAMPLE = "e.g. mcr.microsoft.com/oss/go/microsoft/golang:1.23, ubuntu:24.04 or 127.0.0.1:5000/acn/cni@sha256:<64 hex>"


class InvalidReference(UserError):
    """A string that is not a valid image reference or registry: names it, what is wrong, and what would do."""

    def __init__(self, text: str, problem: str, *, hint: str, what: str = "image reference", source: str = "") -> None:
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{_redacted(text)!r} is not a valid {what}: {problem}", hint=hint)
        self.text = _redacted(text)
        self.problem = problem


def _redacted(text: str) -> str:
    """``text`` with a possible ``user:password@`` hidden, so a mistyped credential never reaches a message.

    Hidden when the text has a URL scheme or what follows the last ``@`` is not shaped like a digest (it has a
    ``/`` or no ``:``); ``name@sha256:...`` stays whole.
    """
    head, at, tail = text.rpartition("@")
    if at and (_SCHEME_RE.match(text) or "/" in tail or ":" not in tail):
        scheme = _SCHEME_RE.match(head)
        return f"{scheme.group(0) if scheme else ''}***@{tail}"
    return text


def _split_address(address: str) -> tuple[str, int | None]:
    """``host`` (IPv6 without brackets) and port of an address already known to match the grammar."""
    match = _ADDRESS_RE.fullmatch(address)
    assert match is not None, address
    port = match["port"]
    return match["ipv6"] or match["host"], int(port) if port is not None else None


def _address_problem(address: str) -> str | None:
    """Why ``address`` is not a usable ``host[:port]``, or None when it is."""
    match = _ADDRESS_RE.fullmatch(address)
    if match is None:
        return (
            f"{address!r} is not host[:port] (a DNS name or IPv4 address, or an IPv6 address in brackets, "
            "then an optional numeric port)"
        )
    if match["ipv6"] is not None:
        import ipaddress

        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            return f"[{match['ipv6']}] is not an IPv6 address"
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        return f"port {match['port']} is not between 1 and 65535"
    return None


def _path_problem(path: str, what: str = "repository path") -> str:
    """Why ``path`` (known not to match the path grammar) is not a repository path."""
    if _PATH_RE.fullmatch(path.lower()):
        return f"the {what} {path!r} must be lowercase"
    return (
        f"the {what} {path!r} must be /-separated components of lowercase letters and digits, "
        "joined inside a component by '.', '_', '__' or dashes (no leading, trailing or doubled separators)"
    )


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    if not (host[:1].isdigit() or ":" in host):
        return False  # a name, not an address (and not localhost)
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Registry:
    """Where images are pushed: ``host[:port][/path]``, e.g. ``127.0.0.1:5000/acn`` (host, 5000, ``acn``)."""

    host: str
    port: int | None = None
    path: str = ""

    @classmethod
    def parse(cls, text: str, *, source: str = "IMAGE_REGISTRY") -> Registry:
        """Read a registry setting; ``source`` (the setting's name) leads any error message."""
        hint = "e.g. acnpublic.azurecr.io, 127.0.0.1:5000/acn, localhost:5000 or [::1]:5000"

        def invalid(problem: str, fix: str = hint) -> InvalidReference:
            return InvalidReference(text, problem, hint=fix, what="registry", source=source)

        value = text.rstrip("/")
        if not value:
            raise invalid("it is empty")
        if "@" in value:  # user:password@host, maybe: show none of what comes before the '@'
            raise InvalidReference(
                f"***@{value.rpartition('@')[2]}",
                "it contains '@'",
                hint="give host[:port][/path] only; credentials belong in a registry login",
                what="registry",
                source=source,
            )
        if _SCHEME_RE.match(value):
            raise invalid("it has a URL scheme", f"drop the scheme: {_SCHEME_RE.sub('', value)}")
        address, _, path = value.partition("/")
        problem = _address_problem(address)
        if problem:
            raise invalid(problem)
        if path and not _PATH_RE.fullmatch(path):
            raise invalid(_path_problem(path, "path"))
        host, port = _split_address(address)
        if port is None and not any(c in host for c in ".:") and host != "localhost" and host.lower() == host:
            # Docker would read "<host>/image" as a Docker Hub namespace and push there instead.
            raise invalid(
                f"{host!r} does not look like a registry host (no '.', no port, not localhost)",
                f"use a full host name or add the port ({host}:5000); for a Docker Hub namespace use docker.io/{host}",
            )
        if host in _DOCKER_HUB_ALIASES:
            host = DOCKER_HUB
        return cls(host, port, path)

    @property
    def address(self) -> str:
        """``host[:port]``, with brackets around an IPv6 host."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        """True for this machine (127.0.0.0/8, ::1, localhost), which registries serve over plain HTTP."""
        return _is_loopback_host(self.host)

    @property
    def scheme(self) -> str:
        return "http" if self.is_loopback else "https"

    @property
    def api_host(self) -> str:
        """``host[:port]`` that answers the registry's ``/v2/`` API (Docker Hub's differs from its name)."""
        return _DOCKER_HUB_API if self.address == DOCKER_HUB else self.address

    def __str__(self) -> str:
        return f"{self.address}/{self.path}" if self.path else self.address


@dataclass(frozen=True)
class Reference:
    """An image reference in canonical form: ``registry/repository[:tag][@digest]``."""

    registry: str  # host[:port] as written (IPv6 in brackets); docker.io for Docker Hub
    repository: str  # the path in the registry, e.g. acn/cni or library/ubuntu
    tag: str | None = None
    digest: str | None = None  # algorithm:hex

    @classmethod
    def parse(cls, text: str, *, default_tag: str | None = None) -> Reference:
        """Read ``name[:tag][@digest]`` as docker does; ``default_tag`` is the tag when ``text`` names none.

        A reference with both a tag and a digest keeps both (the digest decides what is fetched).
        """
        if not text:
            raise InvalidReference(text, "it is empty", hint=_EXAMPLE)
        if _SCHEME_RE.match(text):
            shown = _SCHEME_RE.sub("", _redacted(text))
            raise InvalidReference(text, "it has a URL scheme", hint=f"drop the scheme: {shown}")
        if _IMAGE_ID_RE.fullmatch(text):
            raise InvalidReference(
                text, "a 64-hex image ID is not a name", hint="name the image, e.g. repository@sha256:<64 hex>"
            )
        rest, at, digest = text.partition("@")
        if at:
            _check_digest(text, digest)
        if rest.startswith("[") and "/" not in rest:
            raise InvalidReference(text, "it names an IPv6 registry but no repository", hint=_EXAMPLE)
        name, tag = rest, None
        if ":" in rest.rpartition("/")[2]:
            name, _, tag = rest.rpartition(":")
            _check_tag(text, tag)
        if not name:
            raise InvalidReference(text, "it names no repository", hint=_EXAMPLE)
        if default_tag is not None:
            _check_tag(f"{name}:{default_tag}", default_tag)
        registry, repository = _split_registry(name)
        problem = _address_problem(registry)
        if problem:
            raise InvalidReference(text, problem, hint=_EXAMPLE)
        if not _PATH_RE.fullmatch(repository):
            raise InvalidReference(text, _path_problem(repository), hint=_EXAMPLE)
        if len(repository) > _MAX_REPOSITORY:
            raise InvalidReference(
                text,
                f"the repository path has {len(repository)} characters, more than {_MAX_REPOSITORY}",
                hint="use a shorter repository name",
            )
        return cls(registry, repository, tag if tag is not None else default_tag, digest if at else None)

    @property
    def name(self) -> str:
        """``registry/repository``: the reference without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def registry_info(self) -> Registry:
        host, port = _split_address(self.registry)
        return Registry(host, port)

    @property
    def is_loopback(self) -> bool:
        return self.registry_info.is_loopback

    @property
    def api_reference(self) -> str:
        """What to put after ``/v2/<repository>/manifests/``: the digest if pinned, else the tag, else latest."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str | None) -> Reference:
        """This reference with ``tag`` (None: without a tag); a digest is kept."""
        if tag is not None:
            _check_tag(f"{self.name}:{tag}", tag)
        return dataclasses.replace(self, tag=tag)

    def with_digest(self, digest: str | None) -> Reference:
        """This reference pinned to ``digest`` (None: unpinned); a tag is kept."""
        if digest is not None:
            _check_digest(f"{self.name}@{digest}", digest)
        return dataclasses.replace(self, digest=digest)

    def __str__(self) -> str:
        return self._render(self.name)

    @property
    def familiar(self) -> str:
        """Docker's short form: ``ubuntu:24.04`` for ``docker.io/library/ubuntu:24.04``, ``x/y`` for docker.io/x/y."""
        if self.registry != DOCKER_HUB:
            return str(self)
        official = self.repository.removeprefix(_OFFICIAL)
        return self._render(official if "/" not in official else self.repository)

    def _render(self, name: str) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return f"{name}{tag}{digest}"


def join(registry: Registry | str, image: str, tag: str) -> Reference:
    """``<registry>/<image>:<tag>``, e.g. the reference a component's image is pushed to."""
    if isinstance(registry, str):
        registry = Registry.parse(registry)
    return Reference.parse(f"{registry}/{image}:{tag}")


def _split_registry(name: str) -> tuple[str, str]:
    """Registry and repository of a name, by docker's rule (see the module docstring)."""
    first, slash, rest = name.partition("/")
    if slash and (first == "localhost" or "." in first or ":" in first or first.lower() != first):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = _OFFICIAL + repository
    return registry, repository


def _check_tag(text: str, tag: str) -> None:
    if not _TAG_RE.fullmatch(tag):
        raise InvalidReference(
            text,
            f"the tag {tag!r} is not 1 to 128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')",
            hint="e.g. v1.6.0, 24.04 or latest",
        )


def _check_digest(text: str, digest: str) -> None:
    match = _DIGEST_RE.fullmatch(digest)
    if match is None:
        raise InvalidReference(
            text, f"the digest {digest!r} is not algorithm:hex", hint="pin with @sha256:<64 lowercase hex>"
        )
    algorithm, hex_part = match["algorithm"], match["hex"]
    length = _DIGEST_HEX_LENGTH.get(algorithm)
    if length is None:
        raise InvalidReference(
            text,
            f"the digest algorithm {algorithm!r} is not supported (only {', '.join(_DIGEST_HEX_LENGTH)})",
            hint="pin with @sha256:<64 lowercase hex>",
        )
    if len(hex_part) != length or hex_part.lower() != hex_part:
        raise InvalidReference(
            text,
            f"a {algorithm} digest is {length} lowercase hex characters, not {len(hex_part)}"
            + (" with uppercase" if hex_part.lower() != hex_part else ""),
            hint=f"copy the digest as the registry printed it: {algorithm}:<{length} lowercase hex>",
        )
