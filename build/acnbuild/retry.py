"""When to try an operation again, decided on typed facts, and how often (tenacity).

Facts, never substrings of a command line: an HTTP status code, an exception type or errno, or the error text a
tool printed about itself (with the registry address scrubbed out, so a registry on port 5000 is not a "500").
Transient: connection resets, refusals, timeouts, truncated or garbled answers, 5xx and 429 (honouring
``Retry-After``). Never retried: 401/403/404 and other 4xx, ``denied``/``unauthorized``, DNS failures, TLS
verification failures.
"""

from __future__ import annotations

import errno
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from .errors import BuildFailed

if TYPE_CHECKING:  # loaded when a retry decision is made: a no-op build never needs them
    import tenacity

T = TypeVar("T")

_TRANSIENT_ERRNOS = {
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EPIPE,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
}


def status_is_transient(status: int) -> bool:
    """429 and 408, and server errors other than "not implemented" / "version not supported"."""
    return status in (408, 429) or (500 <= status <= 599 and status not in (501, 505))


def exception_is_transient(error: BaseException) -> bool:
    import http.client
    import socket
    import ssl
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return status_is_transient(error.code)
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        return isinstance(reason, BaseException) and exception_is_transient(reason)
    if isinstance(error, socket.gaierror):
        return False  # the name does not resolve: trying again will not help
    if isinstance(error, ssl.SSLCertVerificationError):
        return False
    if isinstance(error, (http.client.IncompleteRead, http.client.RemoteDisconnected, http.client.BadStatusLine)):
        return True
    if isinstance(error, (TimeoutError, ConnectionError)):
        return True
    if isinstance(error, OSError):
        return error.errno in _TRANSIENT_ERRNOS
    return False


# What registry tools (docker, buildah, podman, skopeo) print about themselves (compiled when first needed).
_PERMANENT_TOOL_ERRORS = (
    r"unauthorized|denied|authentication required|no such host|server misbehaving|x509:|certificate"
    r"|manifest unknown|name unknown|invalid reference|server gave http response to https client"
    r"|(?:status|status code|http status)[: ]+4(?!08|29)\d\d\b"
)
_TRANSIENT_TOOL_ERRORS = (
    r"connection reset by peer|connection refused|broken pipe|i/o timeout|tls handshake timeout"
    r"|context deadline exceeded|unexpected eof|: eof\b|toomanyrequests|too many requests"
    r"|(?:status|status code|http status)[: ]+(?:429|5\d\d)\b"
    r"|\b(?:500 internal server error|502 bad gateway|503 service unavailable|504 gateway timeout)"
)


def tool_output_is_transient(output: str, scrub: Iterable[str] = ()) -> bool:
    """True when a tool's own error text says the failure was transient and nothing says it was permanent."""
    text = output
    for value in scrub:
        if value:
            text = text.replace(value, "<registry>")
    permanent = re.search(_PERMANENT_TOOL_ERRORS, text, re.IGNORECASE)  # re caches the compiled patterns
    return not permanent and bool(re.search(_TRANSIENT_TOOL_ERRORS, text, re.IGNORECASE))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts within a deadline, exponential backoff with jitter."""

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 10.0
    deadline: float = 120.0


REGISTRY_POLICY = RetryPolicy()
# Registry tools retry on their own (docker: 5 times per layer); ours only adds a second chance on top.
TOOL_POLICY = RetryPolicy(attempts=2, initial=2.0, deadline=300.0)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def call(
    operation: str,
    target: str,
    attempt: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    describe: Callable[[BaseException], str],
    retry_after: Callable[[BaseException], float | None] = lambda error: None,
    policy: RetryPolicy = REGISTRY_POLICY,
    sleep: Callable[[float], None] = time.sleep,
    notify: Callable[[str], None] = _say,
) -> T:
    """Run ``attempt``; retry transient failures; a give-up names the operation, the target and the last error.

    Errors that are not transient propagate unchanged, on the first attempt, for the caller to explain.
    """
    import random

    import tenacity

    backoff = tenacity.wait_exponential(multiplier=policy.initial, max=policy.maximum)

    def wait(state: tenacity.RetryCallState) -> float:
        delay = backoff(state) * (1 + random.random() / 4)
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after(error) if error is not None else None
        return min(max(delay, asked or 0.0), policy.deadline)

    def announce(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.upcoming_sleep
        reason = describe(error) if error is not None else "?"
        notify(f"retrying {operation} at {target} in {delay:.1f}s ({reason}; attempt {state.attempt_number}"
               f"/{policy.attempts})")  # fmt: skip

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts) | tenacity.stop_after_delay(policy.deadline),
        wait=wait,
        retry=tenacity.retry_if_exception(is_transient),
        before_sleep=announce,
        sleep=sleep,
        reraise=False,
    )
    try:
        return retrying(attempt)
    except tenacity.RetryError as gave_up:
        last = gave_up.last_attempt
        error = last.exception()
        assert error is not None
        raise BuildFailed(
            f"{operation} at {target} gave up after {last.attempt_number} attempt(s): {describe(error)}"
        ) from error
