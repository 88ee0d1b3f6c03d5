"""Retry decisions on facts: status codes, exception types and errnos, and a tool's own error text."""

from __future__ import annotations

import errno
import http.client
import socket
import time
import urllib.error
from email.message import Message

import pytest
from acnbuild import retry
from acnbuild.errors import BuildFailed, UserError


def http_error(status: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://r/v2/", status, "x", Message(), None)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    assert retry.exception_is_transient(http_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 501])
def test_permanent_statuses(status: int) -> None:
    assert not retry.exception_is_transient(http_error(status))


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(errno.ECONNRESET, "reset"),
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        TimeoutError("timed out"),
        http.client.IncompleteRead(b"partial", 10),
        http.client.RemoteDisconnected("closed"),
        http.client.BadStatusLine("SSH-2.0"),
        urllib.error.URLError(ConnectionResetError(errno.ECONNRESET, "reset")),
        OSError(errno.EPIPE, "broken pipe"),
    ],
)
def test_transient_exceptions(error: BaseException) -> None:
    assert retry.exception_is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
        OSError(errno.ENOENT, "no such file"),
        ValueError("not a network problem"),
    ],
)
def test_permanent_exceptions(error: BaseException) -> None:
    assert not retry.exception_is_transient(error)


@pytest.mark.parametrize(
    "output",
    [
        "error parsing HTTP 500 response body",  # no: not a status phrase we trust
    ],
)
def test_a_bare_number_is_not_a_status(output: str) -> None:
    assert not retry.tool_output_is_transient(output)


@pytest.mark.parametrize(
    "output",
    [
        "Error: writing blob: Patch http://<r>/v2/x/blobs/uploads/1: read tcp: connection reset by peer",
        "received unexpected HTTP status: 503 Service Unavailable",
        "received unexpected HTTP status: 500 Internal Server Error",
        "toomanyrequests: rate limit exceeded",
        "Get http://r/v2/: dial tcp 127.0.0.1:5000: i/o timeout",
        "Put http://r/v2/x/manifests/1: EOF",
    ],
)
def test_tool_output_transient(output: str) -> None:
    assert retry.tool_output_is_transient(output)


@pytest.mark.parametrize(
    "output",
    [
        "unauthorized: authentication required",
        "denied: requested access to the resource is denied",
        "dial tcp: lookup registry.invalid: no such host",
        "manifest unknown: manifest unknown",
        # a permanent error wins even when a transient marker is present too
        "unauthorized: authentication required; retrying after connection reset by peer",
    ],
)
def test_tool_output_permanent(output: str) -> None:
    assert not retry.tool_output_is_transient(output)


def test_registry_address_is_never_read_as_a_status() -> None:
    """A registry on port 500 (or 5000, or a path with 500 in it) says nothing about the failure."""
    output = "The push refers to repository [127.0.0.1:500/acn/500/x]\\nunauthorized: authentication required"
    assert not retry.tool_output_is_transient(output, scrub=("127.0.0.1:500",))
    assert not retry.tool_output_is_transient("pushing to 127.0.0.1:500 status: 500x", scrub=("127.0.0.1:500",))


def test_call_retries_transient_then_gives_up_naming_operation_target_and_last_error() -> None:
    attempts: list[int] = []
    sleeps: list[float] = []

    def failing() -> None:
        attempts.append(1)
        raise http_error(503)

    with pytest.raises(BuildFailed) as info:
        retry.call("PUT acn/x", "127.0.0.1:5000", failing, is_transient=retry.exception_is_transient,
                   describe=lambda e: f"HTTP {getattr(e, 'code', '?')}", policy=retry.RetryPolicy(attempts=3),
                   sleep=sleeps.append, notify=lambda message: None)  # fmt: skip
    assert len(attempts) == 3 and len(sleeps) == 2
    assert str(info.value) == "PUT acn/x at 127.0.0.1:5000 gave up after 3 attempt(s): HTTP 503"


def test_call_does_not_retry_permanent_errors() -> None:
    attempts: list[int] = []

    def denied() -> None:
        attempts.append(1)
        raise http_error(401)

    with pytest.raises(urllib.error.HTTPError):
        retry.call("GET x", "r", denied, is_transient=retry.exception_is_transient, describe=str,
                   sleep=lambda s: None, notify=lambda message: None)  # fmt: skip
    assert attempts == [1]


def test_a_give_up_shows_the_tools_last_status_without_upload_urls() -> None:
    output = (
        'time="x" level=warning msg="Failed, retrying in 2s ... (1/3). Error: ..."\n'
        'Error: writing blob: Patch "http://127.0.0.1:5000/v2/x/blobs/uploads/1?_state=abc": '
        "write tcp 127.0.0.1:1->127.0.0.1:5000: use of closed network connection\n"
    )
    summary = retry.tool_error_summary(output, scrub=("127.0.0.1:5000",))
    assert summary == "Error: writing blob: write tcp 127.0.0.1:1->127.0.0.1:5000: use of closed network connection"
    assert retry.tool_error_summary("received unexpected HTTP status: 503 Service Unavailable\n") == (
        "received unexpected HTTP status: 503 Service Unavailable"
    )


def test_a_tools_own_retry_line_becomes_a_short_notice() -> None:
    notice = retry.tool_retry_notice("buildah push r/x:1")
    line = 'time="t" level=warning msg="Failed, retrying in 2s ... (1/3). Error: writing blob: ..."'
    assert notice(line) == "buildah push r/x:1: retrying in 2s (1/3, the tool's own retry)"
    assert notice("Copying blob sha256:abc") is None


def test_retry_after_as_seconds_or_an_http_date() -> None:
    assert retry.retry_after_seconds("7") == 7.0
    assert retry.retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry.retry_after_seconds("soon") is None and retry.retry_after_seconds(None) is None


def test_timeouts_come_from_the_environment_and_bad_values_name_the_variable() -> None:
    assert retry.seconds("ACNBUILD_TOOL_TIMEOUT", 900.0, {}) == 900.0
    assert retry.seconds("ACNBUILD_TOOL_TIMEOUT", 900.0, {"ACNBUILD_TOOL_TIMEOUT": "2.5"}) == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(UserError, match=f"ACNBUILD_TOOL_TIMEOUT='{bad}' is not a positive number of seconds"):
            retry.seconds("ACNBUILD_TOOL_TIMEOUT", 900.0, {"ACNBUILD_TOOL_TIMEOUT": bad})


def test_no_attempt_starts_that_would_end_past_the_deadline() -> None:
    """Slow attempts (a tool that already retried on its own for most of the deadline) are not repeated."""
    attempts: list[float] = []

    def slow() -> None:
        attempts.append(1)
        time.sleep(0.4)
        raise ConnectionResetError("reset")

    with pytest.raises(BuildFailed, match="gave up after 2 attempt"):
        retry.call("push x", "r", slow, is_transient=retry.exception_is_transient, describe=str,
                   policy=retry.RetryPolicy(attempts=10, initial=0.01, deadline=1.0),
                   sleep=lambda s: None, notify=lambda m: None)  # fmt: skip
    assert len(attempts) == 2  # a third would end at about 1.2 s
