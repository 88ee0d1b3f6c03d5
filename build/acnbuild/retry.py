"""When to try an operation again, decided on typed facts, and how often (tenacity).

Facts, never substrings of a command line: an HTTP status code, an exception type or errno, or the error text a
tool printed about itself (with the registry address scrubbed out, so a registry on port 5000 is not a "500").
Transient: connection resets, refusals, timeouts, truncated or garbled answers, 5xx and 429 (honouring
``Retry-After``). Never retried: 401/403/404 and other 4xx, ``denied``/``unauthorized``, DNS failures, TLS
verification failures.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from . import interrupts
from .errors import BuildFailed, UserError

if TYPE_CHECKING:  # loaded when a retry decision is made: a no-op build never needs them (~0.1 s of imports)
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


# What registry tools (docker, buildah, podman, skopeo) print about themselves.
_PERMANENT_TOOL_ERRORS = re.compile(
    r"unauthorized|denied|authentication required|no such host|server misbehaving|x509:|certificate"
    r"|manifest unknown|name unknown|invalid reference|server gave http response to https client"
    r"|(?:status|status code|http status)[: ]+4(?!08|29)\d\d\b",
    re.IGNORECASE,
)
_TRANSIENT_TOOL_ERRORS = re.compile(
    r"connection reset by peer|connection refused|broken pipe|i/o timeout|tls handshake timeout"
    r"|context deadline exceeded|unexpected eof|: eof\b|toomanyrequests|too many requests"
    r"|use of closed network connection"  # Go's words for a connection the peer reset mid-request
    r"|(?:status|status code|http status)[: ]+(?:429|5\d\d)\b"
    r"|\b(?:500 internal server error|502 bad gateway|503 service unavailable|504 gateway timeout)",
    re.IGNORECASE,
)


def _scrubbed(output: str, scrub: Iterable[str]) -> str:
    text = output
    for value in scrub:
        if value:
            text = text.replace(value, "<registry>")
    return text


def tool_output_is_transient(output: str, scrub: Iterable[str] = ()) -> bool:
    """True when a tool's own error text says the failure was transient and nothing says it was permanent."""
    text = _scrubbed(output, scrub)
    return not _PERMANENT_TOOL_ERRORS.search(text) and bool(_TRANSIENT_TOOL_ERRORS.search(text))


_HTTP_STATUS = re.compile(r"(?:status|status code|http status)[: ]+([1-5]\d\d\b[^\n\"]{0,40})", re.IGNORECASE)
_URL = re.compile(r"\w+ \"?https?://\S+?\"?: ")  # `Patch "http://host/v2/...?_state=...": ` before Go's error


def tool_error_summary(output: str, scrub: Iterable[str] = ()) -> str:
    """The last status a tool reported, for a give-up message: an HTTP status if it named one, else its last error
    line without the request URL it quotes (upload URLs are long and say nothing a person needs)."""
    statuses = _HTTP_STATUS.findall(_scrubbed(output, scrub))  # "500" in the address is no status
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    last = _URL.sub("", lines[-1]) if lines else ""
    if statuses and statuses[-1].strip() not in last:
        return f"HTTP {statuses[-1].strip()}; {last}"[:300]
    return last[-300:]


_TOOL_RETRY = re.compile(r"retrying in (?P<delay>[\d.]+\s*\w*)\s*\.*\s*\((?P<count>\d+/\d+)\)", re.IGNORECASE)


def tool_retry_notice(what: str) -> Callable[[str], str | None]:
    """For ``process.run(echo=...)``: turns a containers tool's own retry line into a short notice for people."""

    def notice(line: str) -> str | None:
        found = _TOOL_RETRY.search(line)
        if found is None:
            return None
        return f"{what}: retrying in {found['delay']} ({found['count']}, the tool's own retry)"

    return notice


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` value as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        import email.utils

        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts within a deadline, exponential backoff with jitter.

    The deadline is paced: no attempt starts that, at the pace of those before it, would end after the deadline.
    So a tool that already retried for most of the deadline on its own is not started again.
    """

    attempts: int = 4
    initial: float = 0.5
    maximum: float = 10.0
    deadline: float = 120.0


REGISTRY_POLICY = RetryPolicy()
# Registry tools retry on their own, measured against a registry that resets every blob upload: the docker engine
# 5 times per layer (waits 5+10+15+20 s, 50 s in all), podman 3 times 1 s apart, buildah 1.28 3 times 2 s apart
# but not a reset mid-body, skopeo 1.9 never. The paced deadline keeps our attempts on top of theirs within a
# minute: after docker's 50 s of its own there is no second attempt, after a quick reset there are up to four.
TOOL_POLICY = RetryPolicy(attempts=4, initial=2.0, deadline=60.0)


REGISTRY_TIMEOUT = "ACNBUILD_REGISTRY_TIMEOUT"  # seconds one registry request may go unanswered (default 30)
TOOL_TIMEOUT = "ACNBUILD_TOOL_TIMEOUT"  # seconds one push, pull or copy by a tool may take (default 900)


def seconds(variable: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A timeout from the environment: a positive number of seconds, else exit 2 naming the variable."""
    value = (os.environ if env is None else env).get(variable, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not 0 < number < float("inf"):
        raise UserError(
            f"{variable}={value!r} is not a positive number of seconds", hint=f"e.g. {variable}={default:g}"
        )
    return number


def registry_timeout() -> float:
    """How long one registry request may go unanswered; hung registries (no tool ever gives up) are cut here."""
    return seconds(REGISTRY_TIMEOUT, 30.0)


def tool_timeout() -> float:
    """How long one push, pull or copy by a registry tool may take before it is stopped as hung."""
    return seconds(TOOL_TIMEOUT, 900.0)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _paced(deadline: float) -> tenacity.stop.stop_base:
    """Stop when another attempt, as long as the average one so far, would end after ``deadline`` seconds."""
    import tenacity

    class Paced(tenacity.stop.stop_base):
        def __call__(self, state: tenacity.RetryCallState) -> bool:
            elapsed = state.seconds_since_start or 0.0
            return elapsed + state.upcoming_sleep + elapsed / max(1, state.attempt_number) > deadline

    return Paced()


def call(
    operation: str,
    target: str,
    attempt: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    describe: Callable[[BaseException], str],
    retry_after: Callable[[BaseException], float | None] = lambda error: None,
    policy: RetryPolicy = REGISTRY_POLICY,
    sleep: Callable[[float], None] = interrupts.sleep,
    notify: Callable[[str], None] = _say,
) -> T:
    """Run ``attempt``; retry transient failures; a give-up names the operation, the target and the last error.

    Errors that are not transient propagate unchanged, on the first attempt, for the caller to explain. Waiting
    between attempts ends early when the run is interrupted (``interrupts``), and no attempt starts after that.
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
        stop=tenacity.stop_after_attempt(policy.attempts)
        | _paced(policy.deadline)
        | tenacity.stop_when_event_set(interrupts.stopping),
        wait=wait,
        retry=tenacity.retry_if_exception(is_transient),
        before_sleep=announce,
        sleep=sleep,
        reraise=False,
    )
    try:
        return retrying(attempt)
    except tenacity.RetryError as gave_up:
        interrupts.check()  # stopped retrying because the run was interrupted: say that, not "gave up"
        last = gave_up.last_attempt
        error = last.exception()
        assert error is not None
        raise BuildFailed(
            f"{operation} at {target} gave up after {last.attempt_number} attempt(s): {describe(error)}"
        ) from error
