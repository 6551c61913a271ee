"""The HTTP machinery shared by the provider emulators: a loopback server in a background thread,
fault injection, latency and a request log. The `/_emulator/` control API is in control.py.

A provider emulator subclasses `EmulatorServer` and implements `handle()` (its wire format),
`error_response()` (its error body), `_reset_state()`, `create_management_key()`, `live_keys()` and
`key_works()`. Everything here is standard library so an emulator can run in-process or as its own
process (`python -m emulators <name> --port N`).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulators.control import handle_control
from emulators.faults import Fault, FaultPlan, make_fault
from emulators.usage import DEFAULT_COMPLETION_COST, as_price

CONTROL_PREFIX = "/_emulator/"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def json(self) -> Any:
        """The JSON body; raises ValueError when it is not JSON."""
        if not self.body:
            raise ValueError("empty body")
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API behind a load balancer
    server: _Server

    def _serve(self) -> None:
        self.server.emulator._serve(self)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus delayed ACK adds
        # ~40 ms to every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: request lines could carry nothing secret, but test output stays readable


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of new connections (a worker's eight threads, two web
    # processes creating rotations) overflowed it, and each dropped SYN cost the client a 1 s retransmission, then
    # 3 s, 7 s... long enough for keyturn's provider timeout, and for benches that stalled for minutes.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer):
        super().__init__(address, _Handler)
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def close_open_connections(self) -> None:
        """Stop means down: kept-alive connections must not keep answering."""
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    """Base class: lifecycle, faults, latency, request log, control API."""

    name = "emulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()  # guards provider state, counters and the log
        self._faults = FaultPlan()
        self._latency = 0.0
        self.create_count = 0
        self.request_log: list[tuple[str, str, int | None]] = []
        # The provider's clock (creation, last use, usage periods, expiry); a test may swap in a fake one.
        self.clock: Callable[[], datetime] = utcnow
        # USD charged for each chat completion on a model that is not free (emulators/usage.py); reset() goes
        # back to the start-up price.
        self.base_completion_cost: Decimal = DEFAULT_COMPLETION_COST
        self.completion_cost: Decimal = DEFAULT_COMPLETION_COST
        # Called with each API request once it was handled, before the answer is written: lets a test change
        # state between two requests of one client operation (a key deleted between two list pages).
        self.after_request: Callable[[Request], None] | None = None
        self._reset_state()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        self._httpd = _Server((self._host, self._port), self)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_open_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def control_url(self) -> str:
        return self.root_url + CONTROL_PREFIX.rstrip("/")

    # --- test-facing controls ----------------------------------------------------------------

    def reset(self) -> None:
        """Forget keys, faults, latency, counters and the log; the server keeps running."""
        self._faults.clear()
        with self._lock:
            self._latency = 0.0
            self.create_count = 0
            self.request_log.clear()
            self.after_request = None
            self.clock = utcnow
            self.completion_cost = self.base_completion_cost
            self._reset_state()

    def add_fault(
        self,
        method: str,
        path_regex: str,
        *,
        kind: str,
        status: int = 500,
        times: int | None = 1,
        delay: float = 0.0,
        retry_after: float | None = None,
        probability: float = 1.0,
    ) -> None:
        self._faults.add(
            make_fault(
                method,
                path_regex,
                kind=kind,
                status=status,
                times=times,
                delay=delay,
                retry_after=retry_after,
                probability=probability,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    def seed(self, n: int) -> None:
        self._faults.seed(n)

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = max(0.0, float(seconds))

    def set_completion_cost(self, usd: object, *, keep_on_reset: bool = False) -> None:
        """The price of each non-free chat completion from now on (and after a reset, with `keep_on_reset`);
        ValueError unless a number >= 0."""
        price = as_price(usd)
        with self._lock:
            self.completion_cost = price
            if keep_on_reset:
                self.base_completion_cost = price

    # --- provider hooks (subclasses) ---------------------------------------------------------

    def _reset_state(self) -> None:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        """Perform one API call. Called with no lock held; take self._lock for state."""
        raise NotImplementedError

    def error_response(self, status: int, message: str | None = None) -> Response:
        raise NotImplementedError

    def create_management_key(self, name: str = "mgmt", account: str = "default") -> str:
        """A new management key of `account`: it sees and manages only the keys of that account."""
        raise NotImplementedError

    def live_keys(self) -> list[dict]:
        raise NotImplementedError

    def key_works(self, api_key: str) -> bool:
        raise NotImplementedError

    def state(self) -> dict:
        keys = self.live_keys()
        with self._lock:
            return {
                "live_keys": keys,
                "create_count": self.create_count,
                "latency": self._latency,
                "completion_cost": float(self.completion_cost),
                "faults": self._faults.describe(),
                "request_count": len(self.request_log),
            }

    def count_create(self) -> None:
        """Subclasses call this (under self._lock) each time a key is really created."""
        self.create_count += 1

    # --- request flow ------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        request = _read_request(handler)
        if request.path.startswith(CONTROL_PREFIX):
            return _write(handler, self._control(request))
        with self._lock:
            latency = self._latency
        if latency:
            time.sleep(latency)
        fault = self._faults.take(request.method, request.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "drop":
            return self._drop(handler, request)
        if fault is not None and fault.kind == "status":
            response = self.fault_response(fault)
        else:
            response = self._handle_safely(request)
            if fault is not None and fault.kind == "applied_then_drop":
                return self._drop(handler, request)
            if fault is not None and fault.kind == "applied_then_failed":
                response = self.fault_response(fault)
        self._log(request, response.status)
        if self.after_request is not None:
            self.after_request(request)
        _write(handler, response)

    def _control(self, request: Request) -> Response:
        try:
            body = request.json() if request.body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Response(400, {"error": "control body must be a JSON object"})
        route = request.path[len(CONTROL_PREFIX) :].strip("/")
        return Response(*handle_control(self, request.method, route, body))

    def _handle_safely(self, request: Request) -> Response:
        try:
            return self.handle(request)
        except Exception:  # noqa: BLE001 - an emulator bug must still answer like a server would
            return self.error_response(500)

    def _drop(self, handler: _Handler, request: Request) -> None:
        self._log(request, None)
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, request: Request, status: int | None) -> None:
        with self._lock:
            self.request_log.append((request.method, request.path, status))

    def fault_response(self, fault: Fault) -> Response:
        response = self.error_response(fault.status)
        if fault.status == 429:
            response.headers.update(rate_limit_headers(fault.retry_after))
        elif fault.retry_after is not None:
            response.headers.update(retry_after_headers(fault.retry_after))
        return response


def rate_limit_headers(retry_after: float | None) -> dict[str, str]:
    """429 headers as OpenRouter sends them: X-RateLimit-* plus Retry-After."""
    wait = 1.0 if retry_after is None else retry_after
    reset_ms = int((time.time() + wait) * 1000)
    return {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset_ms),
        **retry_after_headers(wait),
    }


def retry_after_headers(seconds: float) -> dict[str, str]:
    # Retry-After is whole seconds by the HTTP spec; retry-after-ms carries sub-second waits.
    return {"Retry-After": str(max(0, math.ceil(seconds))), "retry-after-ms": str(int(seconds * 1000))}


def _read_request(handler: _Handler) -> Request:
    parts = urlsplit(handler.path)
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length > 0 else b""
    return Request(
        method=handler.command,
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers={k.lower(): v for k, v in handler.headers.items()},
        body=body,
    )


def _write(handler: _Handler, response: Response) -> None:
    payload = b"" if response.body is None else json.dumps(response.body).encode()
    try:
        handler.send_response(response.status)
        if response.body is not None:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
    except OSError:
        handler.close_connection = True  # the client went away; nothing to answer
