#!/usr/bin/env python3
"""Docker's HEALTHCHECK for a Switchboard service: exit 0 when its /health answers 200.

``switchboard-healthcheck PORT`` probes http://127.0.0.1:PORT/health;
``--port-variable NAME`` takes the port from that environment variable when it is set (the
worker's WORKER_METRICS_PORT), ``--path`` probes another route. Standard library only: it runs
with the image's interpreter, without curl.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    """Probe the service once; 0 if healthy, 1 (with the reason on stderr) if not."""
    parser = argparse.ArgumentParser(prog="switchboard-healthcheck")
    parser.add_argument("port", type=int, help="the port the service listens on")
    parser.add_argument("--port-variable", help="an environment variable that overrides PORT")
    parser.add_argument("--path", default="/health")
    parser.add_argument("--timeout", type=float, default=4.0)
    args = parser.parse_args(argv)
    port = args.port
    if args.port_variable and os.environ.get(args.port_variable, "").strip():
        port = int(os.environ[args.port_variable])
    url = f"http://127.0.0.1:{port}{args.path}"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        sys.stderr.write(f"{url}: {exc}\n")
        return 1
    if status != 200:
        sys.stderr.write(f"{url}: HTTP {status}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
