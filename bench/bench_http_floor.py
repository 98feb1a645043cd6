"""The floor under bench_http_decide.py: what the HTTP stack alone costs on this machine.

Serves, under the same gunicorn setup as ``zhida serve``, two stand-in endpoints at
``POST /api/applications`` that take the same JSON body and answer a JSON object of
similar size, and loads them exactly as bench_http_decide.py does (wrk, 16 clients):

- ``plain``: Flask only, no database;
- ``db``: Flask plus N (default 8) prepared round trips to PostgreSQL and a commit, as
  psycopg does them with no ORM, no rules and no writes.

No real decision can beat the ``db`` figures on the same machine; the gap between
them and bench_http_decide.py is what the application itself costs.

    python bench/bench_http_floor.py --postgres URL [--statements 8] [--workers 2] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_http_decide import _free_port, _wait_ready  # noqa: E402

APP = textwrap.dedent(
    """
    import os

    import psycopg
    from flask import Flask, jsonify, request

    app = Flask(__name__)
    MODE, N, DSN = os.environ["FLOOR_MODE"], int(os.environ["FLOOR_N"]), os.environ["FLOOR_DSN"]
    conn = None

    @app.post("/api/applications")
    def apply():
        global conn
        body = request.get_json()
        if MODE == "db":
            if conn is None:
                conn = psycopg.connect(DSN)
            with conn.cursor() as cur:
                for _ in range(N):
                    cur.execute("SELECT 1", prepare=True)
                    cur.fetchall()
            conn.commit()
        return jsonify(outcome="not_eligible", uscc=body.get("uscc"), trace=["条件" * 20] * 6), 201

    @app.get("/api/health")
    def health():
        return "ok"
    """
)


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    parts = {"host": u.host, "port": u.port, "user": u.username, "password": u.password, "dbname": u.database}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def _wrk(port: int, clients: int, seconds: int, tmp: Path) -> tuple[float, dict]:
    script = tmp / "post.lua"
    body = json.dumps({"uscc": "91320102MA1XYZ1234", "policy_id": "p", "commitment": True})
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
        "done = function(summary, latency, requests)\n"
        "  for _, p in ipairs({50, 90, 99}) do\n"
        "    io.write(string.format('floor p%d %.3f\\n', p, latency:percentile(p) / 1000))\n"
        "  end\n"
        "  io.write(string.format('floor rate %.1f\\n', summary.requests / (summary.duration / 1e6)))\n"
        "  io.write(string.format('floor non2xx %d\\n', summary.errors.status))\n"
        "end\n"
    )
    cmd = ["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "-s", str(script)]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}/api/applications"], capture_output=True, text=True)
    vals = {p[1]: float(p[2]) for p in (line.split() for line in out.stdout.splitlines()) if p and p[0] == "floor"}
    return vals.pop("rate"), vals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="PostgreSQL URL (only SELECT 1 is run)")
    parser.add_argument("--statements", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt install wrk)")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "floorapp.py").write_text(APP)
        for mode in ("plain", "db"):
            port = _free_port()
            env = {**os.environ, "FLOOR_MODE": mode, "FLOOR_N": str(args.statements), "FLOOR_DSN": _dsn(args.postgres)}
            cmd = [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]
            proc = subprocess.Popen(
                [*cmd, "--chdir", str(tmp), "floorapp:app"], env=env, start_new_session=True, stderr=subprocess.DEVNULL
            )
            try:
                _wait_ready(port, proc)
                _wrk(port, args.clients, 2, tmp)  # warm-up
                rate, pct = _wrk(port, args.clients, args.seconds, tmp)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            what = "Flask only" if mode == "plain" else f"Flask + {args.statements} PostgreSQL round trips + commit"
            failed += int(pct.get("non2xx", 0))
            print(
                f"summary: floor {mode} ({what}, {args.workers} workers, {args.clients} clients via wrk): "
                f"{rate:.0f}/s; p50 {pct['p50']:.1f} ms, p90 {pct['p90']:.1f} ms, p99 {pct['p99']:.1f} ms"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
