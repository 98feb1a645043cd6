"""Load on the match API from a second process: wrk on loopback against ``zhida serve`` (gunicorn).

Issue 14 targets (gunicorn on 2 cores, 20,000 enterprises, 200 policies, a promoted model):
``GET /v1/enterprises/{uscc}/matches?limit=10`` p99 ≤ 50 ms at 32 concurrent clients and ≥ 300 requests/s
with zero errors; ``POST /v1/match`` the same.

Not timed: the city (``--database-url`` and ``--models-dir`` of an imported city with its graph and a promoted
ranker), and each worker's first request, which builds its serving snapshot. Timed: ``wrk -t2 -c32`` for
``--seconds`` on each endpoint, beside the floor of the same server answering ``/healthz`` (the framework and
gunicorn alone), in two load patterns that are reported apart because they differ by an order of magnitude:

- *distinct*: every request names a firm (or sends a profile) not asked for before in the run — every stored
  firm of the city in turn, profiles made from their facts: each page is computed;
- *repeated*: ``--repeat`` firms (and 50 profiles) asked again and again, as a portal or a partner system
  polls the same enterprises: their pages are kept by the snapshot (``service.serving.Serving.page``), and
  the request reads the firm's facts, checks their digest and answers.

    python bench/bench_api_load.py --database-url URL --models-dir DIR [--workers 2] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wrk(url: str, script: Path | None, seconds: int, connections: int) -> dict:
    """Requests/s, p50/p99 (ms) and errors (socket errors and non-2xx answers) of one wrk run."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rate, "p50": ms("50"), "p99": ms("99"), "errors": errors + (int(bad.group(1)) if bad else 0),
            "requests": total}  # fmt: skip


def lua(paths: list[str], key: str, bodies: list[str] | None = None) -> str:
    """A wrk script cycling through ``paths`` (and ``bodies``, for POSTs) with the key; wrk's two threads start
    half a cycle apart, so that a cycle of distinct requests stays distinct."""
    items = bodies if bodies is not None else paths
    quoted = ",".join(json.dumps(x) for x in items)
    head = (
        f'wrk.headers["Authorization"] = "Bearer {key}"\nlocal items = {{{quoted}}}\nlocal i = nil\n'
        "local threads = 0\n"
        'setup = function(thread)\n  thread:set("offset", threads)\n  threads = threads + 1\nend\n'
        "local function nxt()\n"
        "  if i == nil then i = (offset or 0) * math.floor(#items / 2) end\n"
        "  i = i % #items + 1\n  return items[i]\nend\n"
    )
    if bodies is None:
        return head + 'request = function()\n  return wrk.format("GET", nxt())\nend\n'
    return (
        head
        + 'wrk.headers["Content-Type"] = "application/json"\n'
        + f'request = function()\n  return wrk.format("POST", {json.dumps(paths[0])}, nil, nxt())\nend\n'
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=500, help="firms of the repeated pattern")
    ap.add_argument("--port", type=int, default=8731)
    a = ap.parse_args()
    os.environ["ZHIDA_DATABASE_URL"] = a.database_url
    from sqlalchemy import select

    from matcher import catalog
    from service.http import auth
    from service.store import make_engine, session_scope
    from service.store.models import Enterprise
    from service.subjects import stored_subject

    engine = make_engine(a.database_url)
    with session_scope(engine) as s:
        usccs = s.scalars(select(Enterprise.uscc).order_by(Enterprise.id)).all()
        key = auth.create_key(s, "system", label="bench_api_load")[1]
    import datetime as dt

    today = dt.date.today()
    profiles = []  # a profile a partner system sends: the register's fields and the figures a form asks for
    for uscc in usccs[-2000:]:
        facts = stored_subject(engine, uscc, today).verified
        shown = {n: catalog.format_value(n, v) for n, v in facts.items() if v is not None}
        profiles.append(json.dumps({"profile": {n: shown[n] for n in ("region", "industry", "established_on",
                                    "employees", "revenue") if n in shown}}, ensure_ascii=False))  # fmt: skip
    say(f"{len(usccs):,} 家企业，{len(profiles):,} 个画像")
    env = {**os.environ, "ZHIDA_MODELS_DIR": a.models_dir, "ZHIDA_RATE_LIMIT": "1000000 per minute",
           "ZHIDA_SECRET_KEY": "bench-secret", "ZHIDA_WORKERS": str(a.workers)}  # fmt: skip
    zhida = str(Path(sys.executable).with_name("zhida"))
    server = subprocess.Popen([zhida, "serve", "--port", str(a.port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{a.port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        say(f"服务已启动（{a.workers} 个工作进程）；预热：每个进程构建服务快照……")
        started = time.perf_counter()
        warm = urllib.request.Request(f"{base}/v1/enterprises/{usccs[0]}/matches?limit=10",
                                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        for _ in range(a.workers * 4):  # every worker answers at least once (each builds its own snapshot)
            urllib.request.urlopen(warm, timeout=600).read()
        say(f"预热完成：{time.perf_counter() - started:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {}
            for name, paths, bodies in (
                ("GET distinct", [f"/v1/enterprises/{u}/matches?limit=10" for u in usccs[::-1]], None),
                ("GET repeated", [f"/v1/enterprises/{u}/matches?limit=10" for u in usccs[: a.repeat]], None),
                ("POST distinct", ["/v1/match?limit=10"], profiles),
                ("POST repeated", ["/v1/match?limit=10"], profiles[:50]),
            ):
                scripts[name] = Path(tmp, name.replace(" ", "-") + ".lua")
                scripts[name].write_text(lua(paths, key, bodies), encoding="utf-8")
            say("预热重复模式的页面（各进程）……")
            wrk(base, scripts["GET repeated"], 10, 4)
            wrk(base, scripts["POST repeated"], 10, 4)
            results = {}
            for name, script in (("floor /healthz", None), *scripts.items()):
                say(f"wrk {name}：{a.connections} 个连接，{a.seconds} s……")
                url = base + "/healthz" if script is None else base
                results[name] = wrk(url, script, a.seconds, a.connections)
    finally:
        os.killpg(server.pid, 15)
        server.wait()
    floor = results["floor /healthz"]["rps"]
    for name, r in results.items():
        print(f"{name:16s} {r['rps']:8.1f} req/s (floor × {floor / r['rps']:.1f})  p50 {r['p50']:.1f} ms  "
              f"p99 {r['p99']:.1f} ms  errors {r['errors']} of {r['requests']}")  # fmt: skip


if __name__ == "__main__":
    main()
