"""`zhida serve` runs the app under gunicorn with several workers, on a migrated database."""

import http.client

import pytest
from serving import zhida_serve


@pytest.mark.slow
def test_serve_starts_workers_and_answers(tmp_path):
    log = tmp_path / "serve.log"
    with zhida_serve(f"sqlite:///{tmp_path / 'serve.sqlite3'}", log, workers=2) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/api/applications", body="{}", headers={"Content-Type": "application/json"})
        refused = conn.getresponse()
        assert refused.status == 401 and refused.getheader("Content-Type") == "application/problem+json"
    assert "2 个工作进程" in log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("url", "cores", "workers"),
    [
        ("postgresql+psycopg://u@h/db", 2, 5),
        ("postgresql+psycopg://u@h/db", 8, 17),
        ("sqlite:///zhida.sqlite3", 2, 2),
        ("sqlite:///zhida.sqlite3", 8, 8),
        ("sqlite:///zhida.sqlite3", 1, 2),
        ("sqlite:///zhida.sqlite3", None, 2),
    ],
)
def test_default_workers_by_store(monkeypatch, url, cores, workers):
    """SQLite has one writer at a time, so no more workers than cores; PostgreSQL gets gunicorn's 2×cores+1."""
    from service.cli import serve

    monkeypatch.setattr(serve.os, "cpu_count", lambda: cores)
    assert serve.default_workers(url) == workers
