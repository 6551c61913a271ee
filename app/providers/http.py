"""The HTTP client every provider call goes through: httpx's transport, called directly (issue 11).

httpx.Client costs about twice its transport per request: it merges URLs and headers, keeps a cookie jar, and
runs auth, redirect and event-hook flows. Provider calls need none of that: they send full URLs with their own
headers, follow no redirect, and must not carry one account's cookies into another's requests. So the requests
and responses stay httpx's, and so do the errors (the transport maps every network failure to httpx.HTTPError),
but a request costs about 40% less CPU, three of them in every rotation.

What the client would have taken from the environment is kept: HTTP_PROXY, HTTPS_PROXY and ALL_PROXY, read once
when the client is made (as httpx.Client reads them), NO_PROXY (read by urllib at each proxied call), and
SSL_CERT_FILE and SSL_CERT_DIR (the transport's own `trust_env`).
"""

from __future__ import annotations

import threading
import urllib.request
from typing import Any, Protocol

import httpx

USER_AGENT = "keyturn"


class Http(Protocol):
    """What a provider's wire client calls: this module's ProviderHttp, or an httpx.Client in tests."""

    def get(self, url: str, *, headers: dict[str, str], params: dict[str, Any] | None = None) -> httpx.Response: ...

    def post(self, url: str, *, headers: dict[str, str], json: Any) -> httpx.Response: ...

    def delete(self, url: str, *, headers: dict[str, str]) -> httpx.Response: ...


class ProviderHttp:
    """One pool of keep-alive connections per route (direct, or each proxy), shared by every thread."""

    def __init__(self, timeout: float) -> None:
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._proxies = urllib.request.getproxies_environment()
        self._direct = httpx.HTTPTransport()
        self._via_proxy: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def get(self, url: str, *, headers: dict[str, str], params: dict[str, Any] | None = None) -> httpx.Response:
        return self._send("GET", url, headers, params=params)

    def post(self, url: str, *, headers: dict[str, str], json: Any) -> httpx.Response:
        return self._send("POST", url, headers, json=json)

    def delete(self, url: str, *, headers: dict[str, str]) -> httpx.Response:
        return self._send("DELETE", url, headers)

    def _send(self, method: str, url: str, headers: dict[str, str], **body: Any) -> httpx.Response:
        request = httpx.Request(
            method, url, headers={"User-Agent": USER_AGENT, **headers}, extensions={"timeout": self._timeout}, **body
        )
        response = self._transport(request.url).handle_request(request)
        try:
            response.read()  # inside the caller's `except httpx.HTTPError`: a body cut short is a network failure
        finally:
            response.close()  # the connection goes back to the pool
        response.request = request
        return response

    def _transport(self, url: httpx.URL) -> httpx.HTTPTransport:
        """The direct transport, or the one through the proxy the environment names for this URL."""
        if not self._proxies:
            return self._direct
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return self._direct
        with self._lock:
            transport = self._via_proxy.get(proxy)
            if transport is None:
                transport = self._via_proxy[proxy] = httpx.HTTPTransport(proxy=proxy)
            return transport

    def close(self) -> None:
        with self._lock:
            for transport in (self._direct, *self._via_proxy.values()):
                transport.close()
