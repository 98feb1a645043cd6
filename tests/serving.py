"""Run `zhida serve` (gunicorn) in its own process group for a test, and stop it afterwards."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def zhida_serve(url: str, log: Path, workers: int = 3, ready_within: float = 60):
    """Yield the port once ``GET /api/health`` answers 200; the server's stderr goes to ``log``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", str(workers)],
            env={**os.environ, "ZHIDA_DATABASE_URL": url},
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + ready_within
        while True:
            assert proc.poll() is None, f"zhida serve exited: {log.read_text(encoding='utf-8')[-2000:]}"
            assert time.monotonic() < deadline, "zhida serve did not answer /api/health in time"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
