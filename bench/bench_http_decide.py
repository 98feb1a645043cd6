"""Benchmark 即申即办 end to end over HTTP: concurrent clients applying through `zhida serve`.

Prepares a city (not timed), starts `zhida serve` (gunicorn) in its own process
group, then C clients (default 16) each keep applying — ``POST /api/applications``
with a fresh Idempotency-Key, a real enterprise and an instant policy — until R
requests (default 4,000) are answered. Every answer is checked (201 and an
outcome). Prints the latency percentiles and a one-line summary. Issue 4 target:
p99 ≤ 50 ms at 16 concurrent clients on 2 cores.

    python bench/bench_http_decide.py [--enterprises 20000] [--clients 16] [--requests 4000]
                                      [--workers N] [--postgres URL]

``--postgres URL`` runs against PostgreSQL instead of SQLite; the schema ``public``
of that database is dropped and recreated first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(url: str, tmp: Path, enterprises: int, seed: int) -> tuple[str, list[tuple[str, str]]]:
    from sqlalchemy import select

    from service import auth
    from service.importer import import_enterprises, import_policies
    from service.store import make_engine, session_scope, upgrade
    from service.store.models import Enterprise, Policy, PolicyVersion
    from service.synth.world import generate_world

    generate_world(enterprises, seed, "南京市", tmp / "w")
    upgrade(url)
    engine = make_engine(url)
    import_policies(engine, tmp / "w" / "policies")
    import_enterprises(engine, tmp / "w" / "enterprises.csv")
    with session_scope(engine) as s:
        _, key = auth.create_key(s, "system", label="bench")
        usccs = list(s.scalars(select(Enterprise.uscc)))
        instant = list(
            s.scalars(
                select(Policy.slug)
                .join(
                    PolicyVersion,
                    (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version),
                )
                .where(PolicyVersion.mode == "instant")
            )
        )
    engine.dispose()
    rng = random.Random(seed)
    return key, [(rng.choice(usccs), rng.choice(instant)) for _ in range(200_000)]


def _wait_ready(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"zhida serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("zhida serve did not answer /api/health in time")


def _client(port, key, pairs, counter, lock, total, latencies, outcomes, errors, start):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    start.wait()
    while True:
        with lock:
            n = counter[0]
            if n >= total:
                return
            counter[0] += 1
        uscc, slug = pairs[n % len(pairs)]
        body = json.dumps({"uscc": uscc, "policy_id": slug, "commitment": True})
        headers = {
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": f"bench-{id(counter)}-{n}",
            "Content-Type": "application/json",
        }
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/applications", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - t0
        if resp.status != 201:
            errors.append(f"{resp.status}: {data[:200].decode(errors='replace')}")
            continue
        latencies.append(elapsed)
        outcomes[json.loads(data)["outcome"]] += 1


def _run(port, key, pairs, clients, total):
    latencies: list[float] = []
    outcomes: Counter = Counter()
    errors: list[str] = []
    counter, lock, start = [0], threading.Lock(), threading.Event()
    threads = [
        threading.Thread(
            target=_client, args=(port, key, pairs, counter, lock, total, latencies, outcomes, errors, start)
        )
        for _ in range(clients)
    ]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.set()
    for t in threads:
        t.join()
    return latencies, outcomes, errors, time.perf_counter() - t0


def _pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(round(p / 100 * len(sorted_ms))) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--warmup", type=int, default=300, help="requests answered before timing starts")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: zhida serve's)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL to use instead of SQLite (emptied first)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.postgres:
            from sqlalchemy import create_engine

            url = args.postgres
            eng = create_engine(url)
            with eng.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            eng.dispose()
        else:
            url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        print(f"preparing {args.enterprises} enterprises …", flush=True)
        key, pairs = _prepare(url, tmp, args.enterprises, args.seed)
        port = _free_port()
        cmd = [sys.executable, "-m", "service", "serve", "--port", str(port), "--threads", str(args.threads)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        proc = subprocess.Popen(cmd, env={**os.environ, "ZHIDA_DATABASE_URL": url}, start_new_session=True)
        try:
            _wait_ready(port, proc)
            print(f"warming up ({args.warmup} requests) …", flush=True)
            _run(port, key, pairs[-args.warmup :], args.clients, args.warmup)
            print(f"{args.clients} clients, {args.requests} applications …", flush=True)
            latencies, outcomes, errors, wall = _run(port, key, pairs, args.clients, args.requests)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    if errors:
        print(f"{len(errors)} failed requests, first: {errors[0]}")
    ms = sorted(x * 1000 for x in latencies)
    p50, p90, p99 = _pct(ms, 50), _pct(ms, 90), _pct(ms, 99)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print("  outcomes:", ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    print(f"  latency ms: p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {ms[-1]:.1f}")
    print(
        f"summary: {len(ms)} instant decisions over HTTP ({backend}, {args.clients} clients, "
        f"{args.workers or 'default'} workers) in {wall:.1f} s = {len(ms) / wall:.0f}/s; "
        f"p99 {p99:.1f} ms (target ≤ 50 ms); errors {len(errors)}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
