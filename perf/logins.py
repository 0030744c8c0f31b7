#!/usr/bin/env python3
"""perf/logins.py — logins per second for each authentication method
(BENCHMARKS.md, "Logins per method"), Junction or Crossbar.io.

One router (Junction with one shard, or Crossbar.io's router worker) with a
WebSocket listener (JSON) whose static `auth` offers every method, in
Crossbar's config format (the same file for both). An Autobahn|Python
client process runs CONCURRENCY loops, each: connect, HELLO, the method's
exchange, WELCOME, GOODBYE, close; for DURATION seconds per method and run.
Reported per method: logins completed, logins/s (wall: on a small machine
the Python client is the limit for Junction), the router's CPU time (all
its threads, from /proc/PID/task/*/schedstat, nanoseconds) and **logins per
router CPU second** (the router's cost, what the comparison is about).

Run with the interop suite's Python (Autobahn, argon2-cffi, PyNaCl):

    tests/interop/.venv/bin/python perf/logins.py --router junction \
        --bin target/release/junction --runs 3 --duration 5
    CROSSBAR_BIN=.../crossbar tests/interop/.venv/bin/python perf/logins.py \
        --router crossbar --runs 3 --duration 5

Methods: anonymous, ticket, wampcra (plain secret), wampcra-salted (PBKDF2,
1,000 iterations, the router derives the key from the stored password as
Crossbar does), scram (Argon2id, small cost: the client derives, the router
only checks HMACs), cryptosign (Ed25519).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "interop"))

METHODS = ["anonymous", "ticket", "wampcra", "wampcra-salted", "scram", "cryptosign"]
TICKET = "bench-ticket"
CRA_SECRET = "cra-secret"
CRA_SALTED = "salted-password"
CRA_SALT = "salt-for-bench"
CRA_ITERATIONS = 1000
SCRAM_PASSWORD = "pencil"


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid`, in nanoseconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def listener_pid(port: int) -> int | None:
    """The process that listens on `port` (Crossbar's router worker)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inode = f[9]
    if inode is None:
        return None
    want = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) == want:
                    return int(proc.name)
        except OSError:
            continue
    return None


def config(port: int) -> dict:
    from authhelpers import pubkey, scram_credential

    perm = {
        "uri": "",
        "match": "prefix",
        "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
        "disclose": {"caller": False, "publisher": False},
        "cache": True,
    }
    auth = {
        "anonymous": {"type": "static", "role": "user"},
        "ticket": {"type": "static", "principals": {"joe": {"ticket": TICKET, "role": "user"}}},
        "wampcra": {
            "type": "static",
            "users": {
                "ann": {"secret": CRA_SECRET, "role": "user"},
                "sal": {
                    "secret": CRA_SALTED,
                    "role": "user",
                    "salt": CRA_SALT,
                    "iterations": CRA_ITERATIONS,
                    "keylen": 32,
                },
            },
        },
        "scram": {
            "type": "static",
            "principals": {"sam": dict(scram_credential(SCRAM_PASSWORD, b"0123456789abcdef"), role="user")},
        },
        "cryptosign": {
            "type": "static",
            "principals": {"dev": {"authorized_keys": [pubkey(1)], "role": "user"}},
        },
    }
    transport = {
        "type": "websocket",
        "id": "ws_logins",
        "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": port, "backlog": 1024},
        "serializers": ["json"],
        "auth": auth,
    }
    return {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "user", "permissions": [perm]}]}],
                "transports": [transport],
            }
        ],
    }


def credentials(method: str) -> tuple[str, str | None, str | None]:
    """(Autobahn method, authid, secret) of `method`."""
    from authhelpers import seed

    return {
        "anonymous": ("anonymous", None, None),
        "ticket": ("ticket", "joe", TICKET),
        "wampcra": ("wampcra", "ann", CRA_SECRET),
        # Autobahn's client derives the key from the password with the salt
        # and iterations the CHALLENGE names; the router from the stored one.
        "wampcra-salted": ("wampcra", "sal", CRA_SALTED),
        "scram": ("scram", "sam", SCRAM_PASSWORD),
        "cryptosign": ("cryptosign", "dev", seed(1)),
    }[method]


async def run_method(port: int, pid: int, method: str, duration: float, concurrency: int) -> dict:
    from authhelpers import login

    name, authid, secret = credentials(method)
    done = 0
    failed = 0
    stop = time.monotonic() + duration

    async def loop() -> None:
        nonlocal done, failed
        while time.monotonic() < stop:
            try:
                s = await login(("127.0.0.1", port), "ws", name, authid, secret, url_path="/")
            except Exception as e:
                if failed == 0:
                    print(f"  {method}: first failure: {e!r}", file=sys.stderr)
                failed += 1
                await asyncio.sleep(0.01)
                continue
            done += 1
            await s.close()

    cpu0, t0 = cpu_ns(pid), time.monotonic()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    cpu1, t1 = cpu_ns(pid), time.monotonic()
    cpu_s = (cpu1 - cpu0) / 1e9
    return {
        "method": method,
        "logins": done,
        "failed": failed,
        "wall_s": t1 - t0,
        "per_s": done / (t1 - t0),
        "router_cpu_s": cpu_s,
        "per_router_cpu_s": done / cpu_s if cpu_s > 0 else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--router", choices=["junction", "crossbar"], default="junction")
    ap.add_argument("--bin", help="the junction binary (default target/release/junction)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json", help="write every run's figures here")
    args = ap.parse_args()
    os.environ["ROUTER"] = args.router
    os.environ.setdefault("JUNCTION_SHARDS", "1")
    if args.bin:
        os.environ["JUNCTION_BIN"] = args.bin
    from routerproc import RouterProcess, free_port

    methods = args.methods.split(",")
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for n in range(args.runs):
        port = free_port()
        with tempfile.TemporaryDirectory(prefix="junction-logins-") as work:
            router = RouterProcess(Path(work), config=config(port), wait_ports=[port]).start()
            try:
                pid = listener_pid(port) or router.proc.pid
                for m in methods:
                    r = asyncio.run(run_method(port, pid, m, args.duration, args.concurrency))
                    runs[m].append(r)
                    print(
                        f"run {n + 1} {m:15} {r['logins']:6} logins {r['per_s']:8.0f}/s "
                        f"router {r['router_cpu_s']:6.3f} CPU s -> "
                        f"{(r['per_router_cpu_s'] or 0):9.0f} per router CPU s (failed {r['failed']})",
                        flush=True,
                    )
            finally:
                router.kill()
    print(f"\n{args.router}: medians of {args.runs} runs, {args.duration:.0f} s each, {args.concurrency} concurrent clients")
    print("| method | logins/s (wall) | logins per router CPU s |")
    print("|---|---|---|")
    for m in methods:
        wall = statistics.median(r["per_s"] for r in runs[m])
        cpu = statistics.median(r["per_router_cpu_s"] or 0 for r in runs[m])
        print(f"| {m} | {wall:,.0f} | {cpu:,.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"router": args.router, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
