"""CPU per cached read, in-process: where the time of one `GET /api/v3/secrets/raw/{name}` goes, and what a
304 costs against a 200.

    .venv/bin/python -m bench.read_profile [--requests 20000] [--cprofile]

Drives the ASGI apps directly (no server, no sockets) on uvloop and reports process CPU per request for
the keyturn app, its layers peeled off one at a time, and the bare FastAPI app of bench/read_path.py.
CPU time rather than wall time: the figures hold on a shared machine. What the server itself costs
(uvicorn + httptools) is not here; `bench/read_path.py` measures the whole stack.

Last, the conditional reads: a v3 get and a v4 list answered 200, and the same requests with the ETag of that
200 in `If-None-Match`, answered 304, measured in alternating rounds of the same run (the median round of
each), with the ratio of the 304 to the 200.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import os
import pstats
import secrets
import shutil
import statistics
import tempfile
import time

import uvloop

from bench.read_path import SECRET_NAME, bare_app, seed_keyturn


def _scope(path: str, query: str, token: str | None) -> dict:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "state": {},
    }


async def _receive() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


class _Sink:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = dict(message.get("headers", []))


async def _drive(app, scope: dict, count: int, status: int = 200, warm_up: int = 200) -> float:
    """Microseconds of process CPU per request, after a warm-up."""
    sink = _Sink()
    for _ in range(warm_up):
        await app(dict(scope), _receive, sink)
    assert sink.status == status, sink.status
    started = time.process_time()
    for _ in range(count):
        await app(dict(scope), _receive, sink)
    return (time.process_time() - started) / count * 1e6


async def _time_call(make, count: int) -> float:
    for _ in range(200):
        await make()
    started = time.process_time()
    for _ in range(count):
        await make()
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--cprofile", action="store_true", help="also print the top functions of a cProfile run")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="keyturn-profile-")
    url = f"sqlite:///{directory}/keyturn.db"
    root_key = "k1:" + base64.b64encode(os.urandom(32)).decode()
    admin_token = secrets.token_hex(32)
    try:
        project_id, token = seed_keyturn(url, root_key, admin_token)
        from app.config import Settings
        from app.main import create_app

        settings = Settings(
            database_url=url, root_key=root_key, admin_token=admin_token, worker="off", log_level="WARNING"
        )
        app = create_app(settings)
        query = f"workspaceId={project_id}&environment=prod&secretPath=%2F&viewSecretValue=true"
        path = f"/api/v3/secrets/raw/{SECRET_NAME}"
        scope = _scope(path, query, token)
        uvloop.run(_report(app, settings, scope, token, args))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _report(app, settings, scope: dict, token: str, args) -> None:
    from app.api import secrets as read_routes
    from app.main import create_app
    from app.reads import service

    n = args.requests
    # The app as the server sees it, then with fewer and fewer of its layers.
    rows = [("keyturn app (middleware, routing, handler)", await _drive(app, scope, n))]
    without_middleware = create_app(settings, configure=False)
    without_middleware.user_middleware.clear()  # keyturn's own middleware off; Starlette's and FastAPI's stay
    rows.append(("keyturn app without its middleware", await _drive(without_middleware, scope, n)))

    async def router_only(scope, receive, send):
        await app.router(dict(scope, app=app), receive, send)

    rows.append(("the app's router alone (routing, handler)", await _drive(router_only, scope, n)))
    route = read_routes.router.routes[0]

    async def route_only(scope, receive, send):
        await route.app(dict(scope, app=app, path_params={"secretName": SECRET_NAME}), receive, send)

    rows.append(("the read route alone (handler)", await _drive(route_only, scope, n)))
    query_string = scope["query_string"]

    def read():
        return service.read_secret(
            token=token, client_ip="127.0.0.1", query_string=query_string, name=SECRET_NAME, if_none_match=None
        )

    rows.append(("service.read_secret alone", await _time_call(read, n)))
    rows.append(("bare FastAPI app", await _drive(bare_app, _scope(scope["path"], "", None), n)))
    rows += await _parts(scope, token, query_string, n)
    conditional = await _conditional(app, scope, n)
    width = max(len(name) for name, _ in rows + conditional)
    print(f"process CPU per request, {n} requests each (uvloop, in-process ASGI)")
    for name, micros in rows + conditional:
        print(f"  {name:<{width}}  {micros:7.1f} us")
    for (name, ok), (_, not_modified) in zip(conditional[0::2], conditional[1::2], strict=True):
        print(f"  304 / 200 CPU, {name.removesuffix(', 200')}: {not_modified / ok:.2f}")
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        await _drive(app, scope, n)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(35)


async def _conditional(app, scope: dict, n: int, rounds: int = 40) -> list[tuple[str, float]]:
    """(name, µs) for a v3 get and a v4 list, each answered 200 and then 304 to the ETag of that 200; the
    four are measured in many short alternating rounds, so that a burst of load on a shared machine weighs on
    each alike, and each figure is the median of its rounds."""
    list_scope = dict(scope, path="/api/v4/secrets", raw_path=b"/api/v4/secrets")
    cases = []
    for name, plain in (("v3 get", scope), ("v4 list", list_scope)):
        sink = _Sink()
        await app(dict(plain), _receive, sink)
        assert sink.status == 200, sink.status
        conditional = dict(plain, headers=[*plain["headers"], (b"if-none-match", sink.headers[b"etag"])])
        cases += [(f"{name}, 200", plain, 200), (f"{name}, 304 (If-None-Match)", conditional, 304)]
    measured: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for round_number in range(rounds):
        for name, case_scope, status in cases:
            warm_up = 200 if round_number == 0 else 1
            measured[name].append(await _drive(app, case_scope, max(1, n // rounds), status, warm_up))
    return [(name, statistics.median(measured[name])) for name, _, _ in cases]


async def _parts(scope: dict, token: str, params, n: int) -> list[tuple[str, float]]:
    """The pieces of the handler and the service, each timed alone."""
    import hashlib

    from starlette.requests import Request
    from starlette.responses import Response

    from app import db
    from app.api.deps import bearer_token, client_ip
    from app.api.input_guard import InputGuardMiddleware
    from app.api.request_context import RequestContextMiddleware
    from app.reads import service
    from app.reads.audit import writer_for
    from app.reads.cache import cache_for
    from app.reads.query import parse_query_string

    body = b"x" * 600

    async def endpoint(scope, receive, send):
        await Response(body, media_type="application/json")(scope, receive, send)

    rows = [("  a Response built and sent", await _drive(endpoint, scope, n))]
    guard = InputGuardMiddleware(endpoint, max_bytes=1 << 20, max_auth_bytes=1 << 14)
    rows.append(("  InputGuardMiddleware + Response", await _drive(guard, scope, n)))
    rows.append(("  RequestContextMiddleware + Response", await _drive(RequestContextMiddleware(endpoint), scope, n)))

    async def request_parts():
        request = Request(dict(scope))
        bearer_token(request), client_ip(request), request.headers.get("if-none-match")

    rows.append(("  Request + token/IP/header reads", await _time_call(request_parts, n)))
    cache = cache_for(db.engine())
    stamp = cache.stamp()

    async def principal():
        await service._principal(cache, stamp, token, "127.0.0.1")

    async def stamp_only():
        cache.stamp()

    async def sha():
        hashlib.sha256(token.encode()).digest()

    def query():
        return parse_query_string(params, missing_project="p", missing_environment="e")

    async def query_only():
        query()

    found = service._principal
    the_query = query()
    key = ("secret", (await found(cache, stamp, token, "127.0.0.1")).identity_id, the_query, "OPENROUTER_API_KEY")

    async def secret_lookup():
        cache.get(key, stamp)

    writer = writer_for(db.engine())

    async def audit_add():
        writer.add(
            actor="identity:x",
            ip="127.0.0.1",
            event="get-secret",
            project_id="p",
            resource_id="s",
            metadata=(("secretName", "N"), ("environment", "prod"), ("secretPath", "/")),
        )

    rows.append(("  cache.stamp()", await _time_call(stamp_only, n)))
    rows.append(("  sha256 of the token", await _time_call(sha, n)))
    rows.append(("  principal (cached)", await _time_call(principal, n)))
    rows.append(("  parse_query", await _time_call(query_only, n)))
    rows.append(("  secret cache get", await _time_call(secret_lookup, n)))
    rows.append(("  audit add", await _time_call(audit_add, n)))
    rows += await _read_budget(await found(cache, stamp, token, "127.0.0.1"), n)

    async def nothing():
        pass

    rows.append(("  (an empty coroutine: the loop's own cost)", await _time_call(nothing, n)))
    return rows


async def _read_budget(principal, n: int) -> list[tuple[str, float]]:
    """The read budget's check as each read pays it: off (the default), and on with room to spare."""
    from app.config import get_settings
    from app.reads import rate_limit

    generous = get_settings().model_copy(update={"rate_limit_reads_burst": 10**6, "rate_limit_reads_per_second": 1e6})
    limit = rate_limit.ReadRateLimit(generous)

    async def off():
        rate_limit.check(principal)

    async def on():
        limit.check(principal)

    return [
        ("  read budget check, off (the default)", await _time_call(off, n)),
        ("  read budget check, on", await _time_call(on, n)),
    ]


if __name__ == "__main__":
    main()
