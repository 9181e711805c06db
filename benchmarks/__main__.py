"""Run MUG's benchmarks and print one JSON report: `python -m benchmarks [--only NAME] [--out FILE]`."""

from __future__ import annotations

import argparse
import json
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def netcode() -> dict[str, Any]:
    """The rollback netcode benchmark runs in Node (benchmarks/netcode/run.mjs)."""
    out = subprocess.run(
        ["node", str(ROOT / "benchmarks" / "netcode" / "run.mjs")], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def server_loop() -> dict[str, Any]:
    from benchmarks import server_loop as bench

    return bench.run()


def proxy() -> dict[str, Any]:
    from benchmarks import proxy as bench

    return bench.run()


def load_balancer() -> dict[str, Any]:
    from benchmarks import load_balancer as bench

    return bench.run()


def server_capacity() -> dict[str, Any]:
    from benchmarks import server_capacity as bench

    return bench.run()


def client_capacity() -> dict[str, Any]:
    from benchmarks import client_capacity as bench

    return bench.run()


def cluster_capacity() -> dict[str, Any]:
    from benchmarks import cluster_capacity as bench

    return bench.run()


def process_pipe() -> dict[str, Any]:
    from benchmarks import process_pipe as bench

    return bench.run()


def pyodide() -> dict[str, Any]:
    from benchmarks import pyodide as bench

    return bench.run()


def resim() -> dict[str, Any]:
    from benchmarks import resim as bench

    return bench.run()


def robustness() -> dict[str, Any]:
    from benchmarks import robustness as bench

    return bench.run()


def p2p_latency() -> dict[str, Any]:
    from benchmarks import p2p_latency as bench

    return bench.run()


def p2p_parity() -> dict[str, Any]:
    from benchmarks import p2p_parity as bench

    return bench.run()


def p2p_server_cost() -> dict[str, Any]:
    from benchmarks import p2p_server_cost as bench

    return bench.run()


def store() -> dict[str, Any]:
    from benchmarks import store as bench

    return bench.run()


BENCHMARKS = {
    "server_loop": server_loop,
    "server_capacity": server_capacity,
    "client_capacity": client_capacity,
    "cluster_capacity": cluster_capacity,
    "process_pipe": process_pipe,
    "netcode": netcode,
    "proxy": proxy,
    "load_balancer": load_balancer,
    "pyodide": pyodide,
    "robustness": robustness,
    "resim": resim,
    "p2p_latency": p2p_latency,
    "p2p_parity": p2p_parity,
    "p2p_server_cost": p2p_server_cost,
    "store": store,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    # A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: the benchmarks' `finally` blocks stop
    # what they started (PostgreSQL is a daemon of its own and would outlive the run otherwise).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in args.only or list(BENCHMARKS):
        print(f"benchmark {name}…", file=sys.stderr, flush=True)
        report[name] = BENCHMARKS[name]()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
