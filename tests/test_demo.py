"""`zhida demo` from an empty folder to a database ready to serve."""

from click.testing import CliRunner
from sqlalchemy import func, select

from service.cli import main
from service.store import make_engine
from service.store.models import ApiKey, Enterprise, Payout, Policy


def test_demo_prepares_everything(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "d"), "--enterprises", "200", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000/" in result.stdout and "officer" in result.stdout
    engine = make_engine(f"sqlite:///{(tmp_path / 'd' / 'zhida.sqlite3').resolve()}")
    with engine.connect() as conn:
        assert conn.execute(select(func.count(Enterprise.id))).scalar() == 200
        assert conn.execute(select(func.count(Policy.id))).scalar() >= 40
        assert conn.execute(select(func.count(ApiKey.id))).scalar() == 5
        assert conn.execute(select(func.count(Payout.id))).scalar() > 0  # 免申即享 ran
    assert "免申即享：" in result.stdout and "api/payout-batches" in result.stdout


def test_demo_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "d"), "--port", str(port)])
    assert result.exit_code != 0 and "已被占用" in result.output
