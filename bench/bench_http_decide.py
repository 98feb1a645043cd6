"""Benchmark 即申即办 end to end over HTTP: concurrent clients applying through `zhida serve`.

Prepares a city (not timed), starts `zhida serve` (gunicorn) in its own process
group, then C clients (default 16) each keep applying, without pause — ``POST
/api/applications`` with a fresh Idempotency-Key, a real enterprise and an instant
policy. Every answer is checked (201 and an outcome), and afterwards the database
must hold one application per answer. Prints the latency percentiles and a
one-line summary. Issue 4 target: p99 ≤ 50 ms at 16 concurrent clients on 2 cores.

    python bench/bench_http_decide.py [--enterprises 20000] [--clients 16] [--workers N]
                                      [--client wrk|python] [--seconds 20] [--requests 4000]
                                      [--postgres URL]

The clients run on the same machine as the service. ``--client wrk`` (the default
when ``wrk`` is installed: ``apt install wrk``) drives them from wrk, a load
generator in C, with bench/wrk_apply.lua, for ``--seconds``; it needs a few percent
of a core. ``--client python`` uses 16 Python threads for ``--requests`` requests;
they need about as much CPU as a lean server, so on 2 cores they take it from the
service and their figures are pessimistic.

``--postgres URL`` runs against PostgreSQL instead of SQLite; the schema ``public``
of that database is dropped and recreated first.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
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

    from service.http import auth
    from service.io.importer import import_enterprises, import_policies
    from service.io.rosters import import_rosters
    from service.store import make_engine, session_scope, upgrade
    from service.store.models import Enterprise, Policy, PolicyVersion
    from service.synth.params import REFERENCE_DATE
    from service.synth.world import generate_world

    generate_world(enterprises, seed, "南京市", tmp / "w")
    upgrade(url)
    engine = make_engine(url)
    import_policies(engine, tmp / "w" / "policies")
    import_enterprises(engine, tmp / "w" / "enterprises.csv")
    import_rosters(engine, tmp / "w" / "rosters", REFERENCE_DATE)
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


WRK_THREADS = 2  # wrk's own threads (one per core); the clients are its connections


def _run_wrk(port, key, pairs, clients, seconds, tmp: Path) -> tuple[dict, Counter, int, int, float]:
    """wrk with bench/wrk_apply.lua: percentiles (ms), outcomes, failed answers, socket errors, seconds."""
    bodies = tmp / "bodies.jsonl"
    if not bodies.exists():
        lines = (json.dumps({"uscc": u, "policy_id": p, "commitment": True}) for u, p in pairs)
        bodies.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "ZHIDA_BENCH_BODIES": str(bodies),
        "ZHIDA_BENCH_KEY": key,
        "ZHIDA_BENCH_RUN": f"{time.time_ns()}",
        "ZHIDA_BENCH_THREADS": str(WRK_THREADS),
    }
    script = Path(__file__).with_name("wrk_apply.lua")
    cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s"]
    cmd += ["-s", str(script)]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}/api/applications"], env=env, capture_output=True, text=True, check=True
    ).stdout
    pct, outcomes, failed, errors, wall = {}, Counter(), 0, 0, float(seconds)
    for line in out.splitlines():
        parts = line.split()
        if not parts or parts[0] != "zhida":
            continue
        if parts[1] == "outcome":
            outcomes[parts[2]] = int(parts[3])
        elif parts[1] == "failed":
            failed = int(parts[2])
        elif parts[1] == "first_failure":
            print("  first failed answer:", " ".join(parts[2:]))
        elif parts[1] == "errors":
            errors = int(parts[2])
        elif parts[1] == "seconds":
            wall = float(parts[2])
        else:
            pct[parts[1]] = float(parts[2])
    return pct, outcomes, failed, errors, wall


def _applications(url: str) -> int:
    from sqlalchemy import func, select

    from service.store import make_engine, session_scope
    from service.store.models import Application

    with session_scope(make_engine(url)) as s:
        return s.scalar(select(func.count()).select_from(Application))


def _pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(round(p / 100 * len(sorted_ms))) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client", choices=["wrk", "python"], default=None, help="default: wrk if installed")
    parser.add_argument("--seconds", type=int, default=20, help="timed run with wrk")
    parser.add_argument("--requests", type=int, default=4_000, help="timed run with Python clients")
    parser.add_argument("--warmup", type=int, default=300, help="requests answered before timing starts")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: zhida serve's)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL to use instead of SQLite (emptied first)")
    args = parser.parse_args()
    client = args.client or ("wrk" if shutil.which("wrk") else "python")
    if client == "wrk" and not shutil.which("wrk"):
        parser.error("--client wrk: wrk is not installed (apt install wrk), or use --client python")

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
            before = _applications(url)
            if client == "wrk":
                print("warming up (2 s) …", flush=True)
                _, warm, _, _, _ = _run_wrk(port, key, pairs, args.clients, 2, tmp)
                print(f"{args.clients} clients (wrk), {args.seconds} s …", flush=True)
                pct, outcomes, failed, errors, wall = _run_wrk(port, key, pairs, args.clients, args.seconds, tmp)
                answered = sum(warm.values()) + sum(outcomes.values())
                count = sum(outcomes.values())
            else:
                print(f"warming up ({args.warmup} requests) …", flush=True)
                _run(port, key, pairs[-args.warmup :], args.clients, args.warmup)
                print(f"{args.clients} clients (Python threads), {args.requests} applications …", flush=True)
                latencies, outcomes, failures, wall = _run(port, key, pairs, args.clients, args.requests)
                ms = sorted(x * 1000 for x in latencies)
                pct = {"p50": _pct(ms, 50), "p90": _pct(ms, 90), "p99": _pct(ms, 99), "max": ms[-1]}
                failed, errors, count = len(failures), 0, len(ms)
                answered = args.warmup + count
                if failures:
                    print(f"  first failed request: {failures[0]}")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        stored = _applications(url) - before
    backend = "PostgreSQL" if args.postgres else "SQLite"
    # wrk stops with requests in flight that the server still completes: at most one per client
    lost = not answered <= stored <= answered + 2 * args.clients
    print("  outcomes:", ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    print(f"  latency ms: p50 {pct['p50']:.1f}  p90 {pct['p90']:.1f}  p99 {pct['p99']:.1f}  max {pct['max']:.1f}")
    print(f"  applications stored {stored} for {answered} answers{' — MISMATCH' if lost else ''}")
    print(
        f"summary: {count} instant decisions over HTTP ({backend}, {args.clients} clients via {client}, "
        f"{args.workers or 'default'} workers) in {wall:.1f} s = {count / wall:.0f}/s; "
        f"p99 {pct['p99']:.1f} ms (target ≤ 50 ms); failed {failed}, socket errors {errors}"
    )
    return 1 if failed or errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
