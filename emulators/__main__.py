"""Run a provider emulator as its own process, driven over its `/_emulator/` control API.

python -m emulators openrouter --port 8090 [--management-key-file PATH] [--completion-cost USD]
python -m emulators arouter --port 8091 [--variant openrouter-like]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=["openrouter", "arouter"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API call")
    parser.add_argument(
        "--variant",
        choices=["seed", "openrouter-like"],
        default="seed",
        help="ARouter only: the seed contract or the public OpenRouter-like variant",
    )
    parser.add_argument(
        "--completion-cost", type=float, help="USD charged per chat completion (models ending in :free cost 0)"
    )
    parser.add_argument("--management-key-file", help="create a management key and write it to this file")
    args = parser.parse_args(argv)

    if args.provider == "openrouter":
        from emulators.openrouter import OpenRouterEmulator

        emulator = OpenRouterEmulator(host=args.host, port=args.port)
    else:
        from emulators.arouter import ARouterEmulator

        emulator = ARouterEmulator(host=args.host, port=args.port, variant=args.variant)
    emulator.start()
    emulator.set_latency(args.latency)
    if args.completion_cost is not None:
        emulator.set_completion_cost(args.completion_cost, keep_on_reset=True)
    if args.management_key_file:
        with open(args.management_key_file, "w") as handle:
            handle.write(emulator.create_management_key() + "\n")
    # One line others can parse; the management key itself goes only to the file.
    print(f"{args.provider} emulator listening base_url={emulator.base_url} control={emulator.control_url}", flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
