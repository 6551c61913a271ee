"""The OpenRouter emulator as its own process, with one extra control route for the benches:
`GET /_emulator/created-names` answers how many keys were ever created under each name (revoked
keys included), which is what a double-mint check needs.

    python -m bench._emulator --port 0 --management-key-file F [--latency 0.05] [--seed 7]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections import Counter

from emulators.faults import Fault, FaultPlan
from emulators.openrouter import OpenRouterEmulator
from emulators.server import CONTROL_PREFIX, Request, Response


class CountingFaultPlan(FaultPlan):
    """Counts every fault that fires, by kind (429s separately from other statuses)."""

    def __init__(self, seed: int | None = None):
        super().__init__(seed)
        self.fired: Counter[str] = Counter()

    def take(self, method: str, path: str) -> Fault | None:
        rule = super().take(method, path)
        if rule is not None:
            label = rule.kind if rule.kind != "status" else f"status_{rule.status}"
            with self._lock:
                self.fired[label] += 1
        return rule


class CountingOpenRouterEmulator(OpenRouterEmulator):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._faults = CountingFaultPlan()

    def created_names(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(k.name for k in self._keys.values() if not k.management))

    def _control(self, request: Request) -> Response:
        if request.method == "GET" and request.path.rstrip("/") == CONTROL_PREFIX + "created-names":
            with self._faults._lock:
                fired = dict(self._faults.fired)
            return Response(
                200, {"created": self.created_names(), "create_count": self.create_count, "faults_fired": fired}
            )
        return super()._control(request)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--management-key-file", required=True)
    args = parser.parse_args(argv)
    emulator = CountingOpenRouterEmulator(host=args.host, port=args.port)
    emulator.start()
    emulator.set_latency(args.latency)
    if args.seed is not None:
        emulator.seed(args.seed)
    with open(args.management_key_file, "w") as handle:
        handle.write(emulator.create_management_key() + "\n")
    print(f"openrouter emulator listening base_url={emulator.base_url} control={emulator.control_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
