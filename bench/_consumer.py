"""A consumer process for the zero-downtime check: for each watched secret, one thread reads the key
through the secrets API every `--refresh` seconds and calls the emulator's chat completions with it
in a loop. On SIGTERM it writes its counters as JSON to `--out`.

    python -m bench._consumer --api URL --token-file F --emulator BASE_URL --targets JSON --refresh S --out F
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.values[name] += n


def consume(target: dict, args, token: str, counters: Counters, stop: threading.Event) -> None:
    api = httpx.Client(base_url=args.api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    provider = httpx.Client(base_url=args.emulator, timeout=10)
    key: str | None = None
    read_at = 0.0
    while not stop.is_set():
        if key is None or time.monotonic() - read_at >= args.refresh:
            try:
                response = api.get(
                    f"/api/v3/secrets/raw/{target['name']}",
                    params={
                        "workspaceId": target["projectId"],
                        "environment": target["environment"],
                        "secretPath": target["secretPath"],
                    },
                )
                if response.status_code == 200:
                    key = response.json()["secret"]["secretValue"]
                    read_at = time.monotonic()
                    counters.add("secret_reads")
                else:
                    counters.add(f"secret_read_{response.status_code}")
            except httpx.HTTPError:
                counters.add("secret_read_transport_errors")
        if key is not None:
            try:
                response = provider.post(
                    "/chat/completions",
                    headers={"Authorization": f"Bearer {key}"},
                    json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                )
                counters.add("calls")
                if response.status_code == 401:
                    counters.add("failed_401")
                elif response.status_code != 200:
                    counters.add(f"failed_{response.status_code}")
            except httpx.HTTPError:
                counters.add("call_transport_errors")
        stop.wait(args.pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._consumer")
    parser.add_argument("--api", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--targets", required=True, help="JSON file: [{name, projectId, environment, secretPath}]")
    parser.add_argument("--refresh", type=float, required=True)
    parser.add_argument("--pause", type=float, default=0.2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    token = Path(args.token_file).read_text().strip()
    targets = json.loads(Path(args.targets).read_text())
    counters = Counters()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=consume, args=(t, args, token, counters, stop), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    print("consumer running", flush=True)
    stop.wait()
    for thread in threads:
        thread.join(15)
    Path(args.out).write_text(json.dumps(dict(counters.values)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
