"""What an nginx load balancer adds to a Socket.IO round trip: direct vs through nginx, same server.

One `mug serve` process (the demo experiment) and an nginx in front of it are started as the
many-process tests start them (tests/cluster.py: Debian's nginx, the config docs/deploy.md
gives, 127.0.0.1 only). Three python-socketio clients (websocket transport, as the participant
page uses) connect in this process: two straight to the server (``direct`` and ``direct_again``,
the second one shows how much two identical paths differ: the noise floor) and one through
nginx (``nginx``). They send `ping` events in turn, one client at a time (each round begins
with the next client, so none always goes first), and time each acknowledgement; a short pause
between rounds keeps every connection under the server's event budget
(`ClientLimits.events_per_s`), so no ping is refused. The server is otherwise idle, so
the figures are the path's, not a busy server's.

``added_ms`` is nginx's p50 and p99 minus the direct ones. Measured here (2 shared cores, nginx
1.22 with one worker, 1000 pings, three runs): direct p50 1.5-1.9 ms; nginx added 0.15-0.19 ms
at p50 and 0.1-0.3 ms at p99, while the two direct connections differed by 0.02 ms at p50.
nginx turns Nagle's algorithm off on proxied websockets (``tcp_nodelay`` is on by default), so
it adds no ~40 ms stall (as an unfixed jupyter-server-proxy did), only its two loopback hops.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._stats import summary

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

STUDY = """
from mug.demo import make_demo_experiment

experiment = make_demo_experiment()
"""

#: Pause between ping rounds: each connection then sends under 100 events a second (budget: 200).
PAUSE_S = 0.01


async def _ping_all(urls: dict[str, str], pings: int, warmup: int) -> dict[str, list[float]]:
    import socketio

    clients = {name: socketio.AsyncClient(reconnection=False) for name in urls}
    try:
        for name, url in urls.items():
            await clients[name].connect(url, transports=["websocket"], wait_timeout=10)
        rtts: dict[str, list[float]] = {name: [] for name in urls}
        names = list(clients)
        for i in range(warmup + pings):
            for k in range(len(names)):  # each round starts with the next client: no one is always first
                name = names[(i + k) % len(names)]
                client = clients[name]
                start = time.perf_counter()
                reply = await client.call("ping", {"t": start * 1000.0}, timeout=10)
                elapsed = (time.perf_counter() - start) * 1000.0
                if not (isinstance(reply, dict) and reply.get("ok")):
                    raise RuntimeError(f"ping through {name} was refused: {reply!r}")
                if i >= warmup:
                    rtts[name].append(elapsed)
            await asyncio.sleep(PAUSE_S)
        return rtts
    finally:
        for client in clients.values():
            if client.connected:
                await client.disconnect()


def _nginx_version() -> str:
    from cluster import NGINX

    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).strip()


def run(pings: int = 1000, warmup: int = 50) -> dict[str, Any]:
    """Ping round trips direct and through nginx; JSON-ready report."""
    from cluster import Cluster

    with tempfile.TemporaryDirectory() as work, Cluster(Path(work)) as cluster:
        study = Path(work) / "study.py"
        study.write_text(STUDY)
        (server,) = cluster.servers(study, 1)
        lb = cluster.load_balancer([server.port])
        urls = {"direct": server.url, "direct_again": server.url, "nginx": lb.url}
        rtts = asyncio.run(_ping_all(urls, pings, warmup))
    report: dict[str, Any] = {name: summary(values) for name, values in rtts.items()}
    report["added_ms"] = {q: round(report["nginx"][q] - report["direct"][q], 3) for q in ("p50", "p99")}
    report["noise_ms"] = {q: round(report["direct_again"][q] - report["direct"][q], 3) for q in ("p50", "p99")}
    report["nginx_version"] = _nginx_version()
    report["pings"] = pings
    return report


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
