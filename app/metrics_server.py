"""A separate `keyturn worker`'s own metrics endpoint (KEYTURN_WORKER_METRICS_PORT, on KEYTURN_HOST): the work it
did (rotations, provider calls, revocation failures). The state gauges are the API's to serve: a worker serving
them too would repeat every series. The same access rule as the API's /metrics (app.metrics_access)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from app import metrics
from app.config import Settings
from app.logcontext import current_request_id
from app.metrics_access import FORWARDING_HEADERS, refusal

log = logging.getLogger("keyturn.metrics")


def _handler(settings: Settings) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server looks up
            if self.path.partition("?")[0] != "/metrics":
                return self._send(404, "application/json", self._error(404, "NotFound", "Route not found"))
            forwarded = any(name in self.headers for name in FORWARDING_HEADERS)
            why = refusal(settings, self.headers.get("Authorization"), forwarded)
            if why is not None:
                return self._send(401, "application/json", self._error(401, "UnauthorizedError", why))
            self._send(200, CONTENT_TYPE_LATEST, metrics.scrape())

        def _error(self, status: int, error: str, message: str) -> bytes:
            body = {"reqId": current_request_id(), "statusCode": status, "message": message, "error": error}
            return json.dumps(body).encode()

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass  # no access log, as the API has none

    return MetricsHandler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def start(settings: Settings, port: int) -> ThreadingHTTPServer:
    """Serve /metrics on (KEYTURN_HOST, port) from a daemon thread; `shutdown()` the result to stop."""
    server_class = _IPv6Server if ":" in settings.host else ThreadingHTTPServer
    server = server_class((settings.host, port), _handler(settings))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="keyturn-worker-metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%d/metrics", settings.host, server.server_address[1])
    return server
