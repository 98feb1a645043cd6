"""Benchmark `zhida audit verify` on a long audit chain: N records (default 1,000,000).

Builds a correctly chained audit log of N records in a fresh store (not timed):
payloads like the ledger's (``payout.decided``, ``decision.not_eligible``,
``decision.refused``, ``application.pending_review``), hashed by
``service.audit.record_hash`` and bulk-inserted as the application stores them
(SQLite: the text SQLAlchemy writes; PostgreSQL: the canonical JSON that
``zhida_audit_append`` writes, by COPY, then VACUUM ANALYZE). Then runs the real
CLI, ``zhida audit verify``, in a subprocess and measures its wall time and peak
RSS (``wait4``). ``--baseline ZHIDA`` runs another checkout's console script the
same way, alternating with this one, and prints the ratio. Requirement: 1,000,000
records in < 60 s within 300 MB peak RSS, on SQLite and PostgreSQL.

    python bench/bench_audit_verify.py [--records 1000000] [--postgres URL] [--runs 1]
                                       [--baseline /work/base-98a7008/.venv/bin/zhida]

``--postgres URL`` uses that database instead of a temporary SQLite file; its
schema ``public`` is dropped and recreated first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
REASON = "列入失信被执行人名单，依法不予支持"
POLICIES = ["xina-jiuye-buzhu", "gaoqi-rending-jiangli", "yanfa-touru-buzhu", "wenlv-xiaofei-quan"]


def _entries(n: int, seed: int):
    """``(seq, at, actor, action, subject, payload)`` for a plausible history of n records."""
    rng = random.Random(seed)
    actor = "system:sweep"
    for seq in range(1, n + 1):
        at = START + dt.timedelta(microseconds=seq * 31_337)
        if seq % 500 == 1:
            actor = rng.choice(["system:sweep", "system:ab12cd34", "officer:zk_9f31c0de"])
        subject = f"{rng.choice(POLICIES)}:91320102{rng.randrange(10**9, 10**10)}"
        kind = rng.random()
        decision = 100_000 + seq
        if kind < 0.4:
            action = "payout.decided"
            payload = {
                "decision": decision,
                "payout": 50_000 + seq // 2,
                "amount": f"{rng.choice([3000, 30000, 150000, 300000])}.00",
                "period": "2026",
                "policy_version": rng.randint(1, 3),
            }
        elif kind < 0.8:
            action = "decision.not_eligible"
            payload = {"decision": decision, "missing": rng.choice([[], [], ["revenue"], ["rd_ratio", "employees"]])}
        elif kind < 0.9:
            action = "decision.refused"
            payload = {"decision": decision, "reason": REASON}
        else:
            action = "application.pending_review"
            payload = {"application": 20_000 + seq}
        yield seq, at, actor, action, subject, payload


def _chained(n: int, seed: int):
    """The entries with their previous hash and hash, exactly as ``service.audit`` chains them."""
    from service.audit import GENESIS, canonical, record_hash

    prev = GENESIS
    for seq, at, actor, action, subject, payload in _entries(n, seed):
        payload = json.loads(canonical(payload))  # what append stores
        digest = record_hash(prev, seq, at, actor, action, subject, payload)
        yield seq, at, actor, action, subject, payload, prev, digest
        prev = digest


COLUMNS = "seq, at, actor, action, subject, payload, prev_hash, hash"


def _fill_sqlite(path: Path, n: int, seed: int) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    rows = (
        # SQLAlchemy's SQLite DateTime and JSON types store exactly these texts
        (seq, at.strftime("%Y-%m-%d %H:%M:%S.%f"), actor, action, subject, json.dumps(payload), prev, digest)
        for seq, at, actor, action, subject, payload, prev, digest in _chained(n, seed)
    )
    with conn:
        conn.executemany(f"INSERT INTO audit_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def _fill_postgres(url: str, n: int, seed: int) -> None:
    import psycopg

    from service.audit import canonical

    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur, cur.copy(f"COPY audit_log ({COLUMNS}) FROM STDIN") as copy:
            for seq, at, actor, action, subject, payload, prev, digest in _chained(n, seed):
                copy.write_row((seq, at, actor, action, subject, canonical(payload), prev, digest))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_log")  # as autovacuum would have by now


def _run(zhida: str, url: str, tmp: Path) -> tuple[float, float, int, str, str]:
    """Run ``zhida audit verify``: (wall s, peak RSS MB, exit code, stdout, stderr)."""
    out, err = tmp / "out.txt", tmp / "err.txt"
    env = {**os.environ, "ZHIDA_DATABASE_URL": url}
    with out.open("wb") as o, err.open("wb") as e:
        t0 = time.perf_counter()
        proc = subprocess.Popen([zhida, "audit", "verify"], stdout=o, stderr=e, env=env, cwd=tmp)
        # this child's own peak RSS (RUSAGE_CHILDREN keeps the largest of all children so far)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return wall, usage.ru_maxrss / 1024, code, out.read_text().strip(), err.read_text().strip()


def _machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL to use instead of SQLite (emptied first)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each command, alternating")
    parser.add_argument(
        "--baseline", default=None, help="another checkout's zhida console script, run the same way to compare"
    )
    args = parser.parse_args()

    from service.store import upgrade

    zhida = str(Path(sys.executable).with_name("zhida"))
    commands = [("this checkout", zhida)] + ([("baseline", args.baseline)] if args.baseline else [])
    print(f"machine: {_machine()}")
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
            url = f"sqlite:///{tmp / 'audit.sqlite3'}"
        upgrade(url)
        print(f"building a chain of {args.records:,} records …", flush=True)
        t0 = time.perf_counter()
        if args.postgres:
            _fill_postgres(url, args.records, args.seed)
        else:
            _fill_sqlite(Path(url.removeprefix("sqlite:///")), args.records, args.seed)
        print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)

        results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in commands}
        failed = False
        for run in range(args.runs):
            for name, command in commands:
                wall, rss, code, out, err = _run(command, url, tmp)
                results[name].append((wall, rss))
                progress = len(err.splitlines())
                print(f"  run {run + 1}, {name}: {wall:.1f} s, peak RSS {rss:.0f} MB, exit {code}: {out}")
                print(f"    ({progress} lines of progress on stderr{': ' + err.splitlines()[-1] if err else ''})")
                failed |= code != 0 or f"{args.records} 条记录" not in out

    backend = "PostgreSQL" if args.postgres else "SQLite"
    wall, rss = min(w for w, _ in results["this checkout"]), max(r for _, r in results["this checkout"])
    line = (
        f"summary: zhida audit verify of {args.records:,} records ({backend}) in {wall:.1f} s, "
        f"peak RSS {rss:.0f} MB (requirement < 60 s, ≤ 300 MB)"
    )
    if args.baseline:
        b_wall, b_rss = min(w for w, _ in results["baseline"]), max(r for _, r in results["baseline"])
        line += (
            f"; baseline {b_wall:.1f} s, {b_rss:.0f} MB: {b_wall / wall:.1f}× faster, {b_rss / rss:.1f}× less memory"
        )
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
