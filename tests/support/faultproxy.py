"""A fault-injecting HTTP proxy between registry clients and a real registry, for reliability tests.

The proxy reads one request per connection, applies the first armed fault whose ``match`` regex is found in
``"METHOD path"``, and otherwise forwards the request to the upstream registry on a fresh connection and relays
the response. Every response carries ``Connection: close``, so clients reconnect for the next request, and the
Host header is forwarded as sent, so the registry's Location headers point back at the proxy.

    with FaultProxy(registry.host, [Status(503, match=r"^PUT .*/manifests/", times=2)]) as proxy:
        push_to(f"{proxy.host}/repo:tag")
        assert [e.outcome for e in proxy.requests(r"^PUT .*/manifests/")] == ["Status", "Status", 201]

Bodies are streamed in blocks, never held whole; each connection has its own thread; ``down()`` and
``__exit__`` cut in-flight exchanges and join every thread the proxy started.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import KW_ONLY, dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import NamedTuple

BLOCK = 64 * 1024
# Headers that describe one connection, not the message: never forwarded as received.
HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "expect")
)
ERROR_CODES = {429: "TOOMANYREQUESTS", 401: "UNAUTHORIZED", 403: "DENIED", 404: "NAME_UNKNOWN"}


class LogEntry(NamedTuple):
    method: str
    path: str
    outcome: int | str  # the upstream status when forwarded, else the fault's name (or "error: ...")


class _Cut(Exception):
    """Raised inside an exchange to end it with a TCP reset."""


# --- faults ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A rule for requests whose ``"METHOD path"`` contains ``match`` (a regex); ``times`` uses, None: forever."""

    _: KW_ONLY
    match: str = ""
    times: int | None = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def serve(self, exchange: Exchange) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Forward(Fault):
    """No fault: what the proxy does with every request no armed fault matches."""

    def serve(self, exchange: Exchange) -> None:
        response = exchange.forward()
        exchange.record(response.status)
        exchange.relay(response)


@dataclass(frozen=True)
class Status(Fault):
    """Answer ``code`` (with a registry-style error body) without forwarding; ``Retry-After`` if given."""

    code: int
    retry_after: int | None = None

    def serve(self, exchange: Exchange) -> None:
        exchange.drain()
        exchange.record(self.name)
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        error = ERROR_CODES.get(self.code, "UNAVAILABLE")
        body = f'{{"errors":[{{"code":"{error}","message":"injected by FaultProxy","detail":null}}]}}\n'
        exchange.reply(self.code, headers, body.encode())


@dataclass(frozen=True)
class ResetMidBody(Fault):
    """Cut the connection with a TCP reset after ``after_bytes`` of the body in flight.

    For a request with a body (blob PATCH/PUT, manifest PUT) that is the request body: the first ``after_bytes``
    reach the registry, then both connections are reset (a broken upload). For a request without one (GET), the
    response headers and the first ``after_bytes`` of the response body are relayed, then the client is reset.
    """

    after_bytes: int

    def serve(self, exchange: Exchange) -> None:
        exchange.record(self.name)
        if exchange.has_body:
            exchange.forward(cut_after=self.after_bytes)  # raises _Cut once after_bytes were sent
            raise _Cut
        exchange.relay(exchange.forward(), limit=self.after_bytes)
        raise _Cut


@dataclass(frozen=True)
class ResetBeforeResponse(Fault):
    """Read the whole request, then reset the connection instead of answering.

    ``forward=True`` lets the registry act on the request first (a lost acknowledgement: the upload or manifest
    exists, the client only saw a reset).
    """

    forward: bool = False

    def serve(self, exchange: Exchange) -> None:
        exchange.record(self.name)
        if self.forward:
            exchange.discard(exchange.forward())
        else:
            exchange.drain()
        raise _Cut


@dataclass(frozen=True)
class Truncate(Fault):
    """Relay the real headers (real Content-Length) but only ``keep_bytes`` of the body, then close cleanly.

    ``keep_bytes=None`` keeps half of the Content-Length. Only responses with a body can be truncated.
    """

    keep_bytes: int | None = None

    def serve(self, exchange: Exchange) -> None:
        response = exchange.forward()
        exchange.record(self.name)
        keep = self.keep_bytes if self.keep_bytes is not None else (response.length or 0) // 2
        exchange.relay(response, limit=keep)


@dataclass(frozen=True)
class Garbage(Fault):
    """Read the request, answer with bytes that are not HTTP, close."""

    payload: bytes = b"SSH-2.0-this-is-not-http\r\n\r\n"

    def serve(self, exchange: Exchange) -> None:
        exchange.drain()
        exchange.record(self.name)
        exchange.send(self.payload)


@dataclass(frozen=True)
class Delay(Fault):
    """Wait ``seconds`` before forwarding (a slow or hung registry); cut short by ``down()`` and ``__exit__``."""

    seconds: float

    def serve(self, exchange: Exchange) -> None:
        exchange.record(self.name)
        exchange.wait(self.seconds)
        exchange.relay(exchange.forward())


@dataclass(frozen=True)
class Outage(Fault):
    """The registry dies on this request: reset it, cut everything in flight, refuse connections until ``up()``."""

    def serve(self, exchange: Exchange) -> None:
        exchange.drain()
        exchange.record(self.name)
        exchange.proxy.down()  # first: once the client sees the reset, its next connection must be refused
        raise _Cut


# --- one request ----------------------------------------------------------------------------------------------


class Exchange:
    """One client connection carrying one request: the primitives faults are made of."""

    def __init__(self, proxy: FaultProxy, handler: _Handler) -> None:
        self.proxy = proxy
        self.method = handler.command
        self.path = handler.path
        self._handler = handler
        self._client = handler.connection
        self._upstream: http.client.HTTPConnection | None = None
        self._aborted = threading.Event()
        self._recorded = False
        self._read_body = False
        length = handler.headers.get("Content-Length")
        self._chunked = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
        self._length = int(length) if length and not self._chunked else 0

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def has_body(self) -> bool:
        return self._chunked or self._length > 0

    def record(self, outcome: int | str) -> None:
        """Log the outcome once, before the client can see it, so assertions after a response never race."""
        if not self._recorded:
            self._recorded = True
            self.proxy._record(LogEntry(self.method, self.path, outcome))

    # request body

    def body(self) -> Iterator[bytes]:
        """The request body, decoded from Content-Length or chunked framing, in blocks of at most BLOCK."""
        if self._read_body:
            return
        self._read_body = True
        if self._chunked:
            while size := int(self._line().split(b";")[0].strip(), 16):
                yield from self._exactly(size)
                self._line()
            while self._line() not in (b"\r\n", b"\n"):
                pass  # trailer fields
        else:
            yield from self._exactly(self._length)

    def _line(self) -> bytes:
        line = self._handler.rfile.readline(1024)
        if not line:
            raise ConnectionError("the client closed the connection in the middle of a chunked request body")
        return line

    def _exactly(self, size: int) -> Iterator[bytes]:
        while size > 0:
            self._check()
            block = self._handler.rfile.read1(min(size, BLOCK))
            if not block:
                raise ConnectionError("the client closed the connection in the middle of the request body")
            size -= len(block)
            yield block

    def drain(self) -> None:
        for _ in self.body():
            pass

    # upstream

    def forward(self, cut_after: int | None = None) -> http.client.HTTPResponse:
        """Send the request upstream on a fresh connection; ``cut_after`` raises _Cut after that many body bytes."""
        self._check()
        connection = http.client.HTTPConnection(*self.proxy.upstream_address, timeout=self.proxy.timeout)
        self._upstream = connection
        connection.connect()
        self._check()
        connection.putrequest(self.method, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self._handler.headers.items():
            if name.lower() not in HOP_BY_HOP:
                connection.putheader(name, value)
        if self._chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Connection", "close")
        body: Iterable[bytes] | None = self.body() if self.has_body else None
        if body is not None and cut_after is not None:
            body = _cut(body, cut_after)
        connection.endheaders(body, encode_chunked=self._chunked)
        return connection.getresponse()

    def discard(self, response: http.client.HTTPResponse) -> None:
        while response.read1(BLOCK):
            self._check()

    # to the client

    def relay(self, response: http.client.HTTPResponse, limit: int | None = None) -> None:
        """Relay status, headers and (up to ``limit`` bytes of) the body, re-framed for a closing connection."""
        lines = [f"HTTP/1.1 {response.status} {response.reason}"]
        lines += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
        if response.chunked:
            lines.append("Transfer-Encoding: chunked")
        lines.append("Connection: close")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        left = limit
        while left is None or left > 0:
            block = response.read1(BLOCK if left is None else min(left, BLOCK))
            if not block:
                break
            self._check()
            self.send(f"{len(block):X}\r\n".encode() + block + b"\r\n" if response.chunked else block)
            if left is not None:
                left -= len(block)
        if response.chunked and limit is None:
            self.send(b"0\r\n\r\n")

    def reply(self, code: int, headers: dict[str, str], body: bytes) -> None:
        reason = http.client.responses.get(code, "Injected")
        fields = {
            "Content-Type": "application/json; charset=utf-8",
            "Docker-Distribution-Api-Version": "registry/2.0",
            **headers,
            "Content-Length": str(len(body)),
            "Connection": "close",
        }
        head = f"HTTP/1.1 {code} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        self.send(head.encode("latin-1") + (b"" if self.method == "HEAD" else body))

    def send(self, data: bytes) -> None:
        self._client.sendall(data)

    def wait(self, seconds: float) -> None:
        if self._aborted.wait(seconds):
            raise _Cut

    def reset(self) -> None:
        """End the client connection with a TCP RST ("connection reset by peer") and drop the upstream one."""
        with contextlib.suppress(OSError):
            self._client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._handler.rfile.close()  # makefile() holds a reference: the socket really closes only without it
        self._client.close()
        self._close_upstream(reset=True)

    def abort(self) -> None:
        """From another thread: wake this exchange wherever it blocks; its own thread then resets it."""
        self._aborted.set()
        with contextlib.suppress(OSError):
            self._client.shutdown(socket.SHUT_RD)  # wakes a blocked read without sending anything
        upstream = self._upstream.sock if self._upstream else None
        if upstream is not None:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._close_upstream(reset=False)

    def _close_upstream(self, reset: bool) -> None:
        if self._upstream is None:
            return
        if reset and self._upstream.sock is not None:
            with contextlib.suppress(OSError):
                self._upstream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._upstream.close()

    def _check(self) -> None:
        if self._aborted.is_set():
            raise _Cut


def _cut(body: Iterable[bytes], after: int) -> Iterator[bytes]:
    for block in body:
        if len(block) >= after:
            yield block[:after]
            raise _Cut
        after -= len(block)
        yield block


# --- server plumbing ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    @property
    def timeout(self) -> float:  # type: ignore[override]  # StreamRequestHandler applies it to the socket
        return self.server.proxy.timeout

    def handle(self) -> None:
        self.close_connection = True
        self.raw_requestline = self.rfile.readline(65537)
        if self.raw_requestline and self.parse_request():
            self.server.proxy._serve(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the proxy keeps its own log


class _Server(socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, proxy: FaultProxy, port: int) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self._handle, args=(request, client_address), name=f"faultproxy-{self.proxy.port}", daemon=True
        )
        self.proxy._started(thread)
        thread.start()

    def _handle(self, request: socket.socket, client_address: object) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away; the exchange already logged what happened
        finally:
            self.shutdown_request(request)
            self.proxy._finished(threading.current_thread())


# --- the proxy ------------------------------------------------------------------------------------------------


class _Armed:
    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.pattern = re.compile(fault.match)
        self.remaining = fault.times


class FaultProxy:
    """An HTTP proxy on 127.0.0.1:<free port> in front of ``upstream`` ("host:port") that injects faults."""

    def __init__(self, upstream: str, faults: Iterable[Fault] = (), *, timeout: float = 30.0) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream_address = (host, int(port))
        self.timeout = timeout
        self.port = 0
        self._lock = threading.Lock()
        self._armed = [_Armed(f) for f in faults]
        self._log: list[LogEntry] = []
        self._server: _Server | None = None
        self._serving: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._exchanges: set[Exchange] = set()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    # faults and log

    def inject(self, *faults: Fault) -> None:
        """Arm more faults, after those already armed."""
        with self._lock:
            self._armed += [_Armed(f) for f in faults]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    @property
    def log(self) -> list[LogEntry]:
        """What the proxy did, one entry per request, in the order outcomes were decided (a snapshot)."""
        with self._lock:
            return list(self._log)

    def requests(self, match: str = "") -> list[LogEntry]:
        """The log entries whose ``"METHOD path"`` contains the regex ``match``."""
        pattern = re.compile(match)
        return [e for e in self.log if pattern.search(f"{e.method} {e.path}")]

    # up and down

    def up(self) -> None:
        """Accept connections (again, on the same port)."""
        with self._lock:
            if self._server is not None:
                return
            self._server = _Server(self, self.port)
            self.port = self._server.server_address[1]
            self._serving = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"faultproxy-{self.port}"
            )
            self._serving.start()

    def down(self, *, abort: bool = True) -> None:
        """Stop listening (connections are refused); ``abort`` also cuts every exchange in flight, like a crash."""
        with self._lock:
            server, serving = self._server, self._serving
            self._server = self._serving = None
            exchanges = list(self._exchanges) if abort else []
        if server is not None and serving is not None:
            server.shutdown()
            server.server_close()
            serving.join()
        for exchange in exchanges:
            exchange.abort()

    def __enter__(self) -> FaultProxy:
        self.up()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.down(abort=True)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=self.timeout)
        stuck = [t for t in threads if t.is_alive()]
        if stuck and kind is None:
            raise RuntimeError(f"FaultProxy: {len(stuck)} connection thread(s) did not stop")

    # called by the server and exchanges

    def _serve(self, handler: _Handler) -> None:
        exchange = Exchange(self, handler)
        with self._lock:
            self._exchanges.add(exchange)
            fault = self._take(exchange.line)
        try:
            fault.serve(exchange)
        except _Cut:
            exchange.record("aborted")  # no-op when the fault recorded itself
            exchange.reset()
        except (OSError, ValueError, http.client.HTTPException) as error:
            exchange.record(f"error: {type(error).__name__}")
            exchange.reset()
        finally:
            exchange.close()
            with self._lock:
                self._exchanges.discard(exchange)

    def _take(self, line: str) -> Fault:
        for armed in self._armed:
            if armed.remaining != 0 and armed.pattern.search(line):
                if armed.remaining is not None:
                    armed.remaining -= 1
                return armed.fault
        return Forward()

    def _record(self, entry: LogEntry) -> None:
        with self._lock:
            self._log.append(entry)

    def _started(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads.add(thread)

    def _finished(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads.discard(thread)
