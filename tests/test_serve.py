"""`zhida serve` runs the app under gunicorn with several workers, on a migrated database."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import pytest


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_starts_workers_and_answers(tmp_path):
    port = _port()
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "ZHIDA_DATABASE_URL": url},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline, answered = time.monotonic() + 60, None
        while time.monotonic() < deadline and answered is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/health")
                answered = conn.getresponse()
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
        assert answered is not None and answered.status == 200
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/api/applications", body="{}", headers={"Content-Type": "application/json"})
        refused = conn.getresponse()
        assert refused.status == 401 and refused.getheader("Content-Type") == "application/problem+json"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert "工作进程" in proc.stderr.read()
