"""The provider HTTP client (app.providers.http): httpx's transport called directly must still do what the
httpx.Client it replaced did for provider calls (proxies from the environment, timeouts, network failures as
httpx.HTTPError) and must not carry cookies from one request into the next."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from app.providers.http import ProviderHttp


class Recorder:
    """A loopback HTTP server that records each request line and headers and answers `answer` bytes raw."""

    def __init__(self, answer: bytes):
        self.requests: list[tuple[str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                recorder.requests.append((self.requestline, {k.lower(): v for k, v in self.headers.items()}))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.wfile.write(answer)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _answer(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in ("HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers))
    return head.encode() + b"\r\n" + body


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder(_answer(b'{"data": {}}', "Content-Type: application/json", "Set-Cookie: session=abc; Path=/"))
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_requests_carry_their_headers_and_body_and_no_cookie(recorder):
    http = ProviderHttp(5.0)
    first = http.post(f"{recorder.url}/api/v1/keys", headers={"Authorization": "Bearer m"}, json={"name": "k"})
    second = http.get(f"{recorder.url}/api/v1/keys", headers={"Authorization": "Bearer m"}, params={"offset": 100})
    assert first.status_code == second.status_code == 200
    assert second.json() == {"data": {}}
    (line1, headers1), (line2, headers2) = recorder.requests
    assert line1 == "POST /api/v1/keys HTTP/1.1" and headers1["content-type"] == "application/json"
    assert line2 == "GET /api/v1/keys?offset=100 HTTP/1.1"
    assert headers2["authorization"] == "Bearer m" and headers2["user-agent"] == "keyturn"
    # The shared client serves every connection's credentials: a provider's cookie must not follow them around.
    assert "cookie" not in headers2


def test_the_environment_proxy_is_used_and_no_proxy_is_honoured(recorder, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", recorder.url)
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    http = ProviderHttp(5.0)
    response = http.get("http://provider.invalid/api/v1/key", headers={"Authorization": "Bearer k"})
    assert response.status_code == 200
    # A proxied plain-HTTP request names the absolute URL: the proxy, not provider.invalid, was connected to.
    assert recorder.requests[0][0] == "GET http://provider.invalid/api/v1/key HTTP/1.1"
    with pytest.raises(httpx.ConnectError):  # bypassed: resolved directly, and .invalid never resolves
        http.get("http://direct.invalid/api/v1/key", headers={})
    assert len(recorder.requests) == 1


def test_a_silent_server_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/key"
        with pytest.raises(httpx.ReadTimeout):
            ProviderHttp(0.3).get(url, headers={})


def test_a_body_cut_short_is_a_network_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer_half() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial"')

        threading.Thread(target=answer_half, daemon=True).start()
        with pytest.raises(httpx.RemoteProtocolError):
            ProviderHttp(5.0).get(f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/key", headers={})
