"""The `/_emulator/` control API: lets another process (a chaos test, a benchmark) drive an emulator
started with `python -m emulators`, and `RemoteEmulator`, a small client for it.

Routes (JSON bodies): GET state, GET requests, POST reset, POST faults {method, path_regex, kind, ...},
DELETE faults, POST latency {seconds}, POST seed {seed}, POST management-keys {name, account},
POST key-works {key}, POST completion-cost {usd}. Control calls are never faulted, delayed or logged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

FAULT_OPTIONS = ("kind", "status", "times", "delay", "retry_after", "probability")


def handle_control(emulator: Any, method: str, route: str, body: dict) -> tuple[int, dict]:
    """Answer one control call as (status, JSON body)."""
    try:
        if method == "GET" and route == "state":
            return 200, emulator.state()
        if method == "GET" and route == "requests":
            return 200, {"requests": [list(entry) for entry in list(emulator.request_log)]}
        if method == "POST" and route == "reset":
            emulator.reset()
            return 200, {"reset": True}
        if method == "POST" and route == "faults":
            emulator.add_fault(body["method"], body["path_regex"], **{k: body[k] for k in FAULT_OPTIONS if k in body})
            return 201, {"faults": emulator.state()["faults"]}
        if method in ("DELETE", "POST") and route in ("faults", "faults/clear"):
            emulator.clear_faults()
            return 200, {"faults": []}
        if method == "POST" and route == "latency":
            emulator.set_latency(float(body["seconds"]))
            return 200, {"latency": float(body["seconds"])}
        if method == "POST" and route == "seed":
            emulator.seed(int(body["seed"]))
            return 200, {"seed": int(body["seed"])}
        if method == "POST" and route == "management-keys":
            name, account = body.get("name", "mgmt"), body.get("account", "default")
            return 201, {"key": emulator.create_management_key(name=name, account=account)}
        if method == "POST" and route == "key-works":
            return 200, {"works": emulator.key_works(str(body["key"]))}
        if method == "POST" and route == "completion-cost":
            emulator.set_completion_cost(body["usd"])
            return 200, {"completion_cost": emulator.state()["completion_cost"]}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return 400, {"error": f"bad control request: {type(exc).__name__}: {exc}"}
    return 404, {"error": f"no control route {method} /{route}"}


class RemoteEmulator:
    """The emulator's test-facing interface, over HTTP, for an emulator running in another process."""

    def __init__(self, control_url: str, timeout: float = 5.0):
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.control_url}/{route}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"emulator control {method} {route} failed: {exc.read().decode()}") from None

    def state(self) -> dict:
        return self._call("GET", "state")

    @property
    def create_count(self) -> int:
        return self.state()["create_count"]

    def live_keys(self) -> list[dict]:
        return self.state()["live_keys"]

    @property
    def request_log(self) -> list[tuple]:
        return [tuple(entry) for entry in self._call("GET", "requests")["requests"]]

    def reset(self) -> None:
        self._call("POST", "reset", {})

    def add_fault(self, method: str, path_regex: str, **options: Any) -> None:
        self._call("POST", "faults", {"method": method, "path_regex": path_regex, **options})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_latency(self, seconds: float) -> None:
        self._call("POST", "latency", {"seconds": seconds})

    def seed(self, n: int) -> None:
        self._call("POST", "seed", {"seed": n})

    def create_management_key(self, name: str = "mgmt", account: str = "default") -> str:
        return self._call("POST", "management-keys", {"name": name, "account": account})["key"]

    def key_works(self, api_key: str) -> bool:
        return self._call("POST", "key-works", {"key": api_key})["works"]

    def set_completion_cost(self, usd: float) -> None:
        self._call("POST", "completion-cost", {"usd": usd})
