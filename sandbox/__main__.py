"""`python -m sandbox [--host H] [--port N] [--data-dir D] [--seed N]`: serve the sandbox over HTTPS."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import start_sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--data-dir", default="./.connector/sandbox")
    parser.add_argument("--seed", type=int, default=None, help="seed demo data with this random seed")
    args = parser.parse_args(argv)
    try:
        sandbox = start_sandbox(args.data_dir, host=args.host, port=args.port, seed=args.seed)
    except OSError as exc:
        print(f"sandbox: cannot start on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"sandbox listening on {sandbox.url} (info: {args.data_dir}/sandbox.json)", flush=True)
    stop.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
