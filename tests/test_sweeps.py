"""免申即享 sweeps pay every eligible enterprise exactly once, even when killed half-way."""

import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner
from sqlalchemy import func, select

from service import audit
from service.cli import main
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.ledger.sweeps import run_sweep
from service.store import session_scope
from service.store.models import Budget, Payout
from service.synth.params import REFERENCE_DATE

AS_OF = "2026-06-30"


def _load(engine, world):
    import_policies(engine, world / "policies")
    import_enterprises(engine, world / "enterprises.csv")
    import_rosters(engine, world / "rosters", REFERENCE_DATE)


def test_sweep_pays_the_eligible_once_and_dry_run_writes_nothing(engine, small_world):
    import datetime as dt

    _load(engine, small_world)
    day = dt.date.fromisoformat(AS_OF)
    preview = run_sweep(engine, as_of=day, dry_run=True)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == 0
    would_pay = sum(r.outcomes["would_pay"] for r in preview)
    assert would_pay > 0
    first = run_sweep(engine, as_of=day)
    paid = sum(r.outcomes["paid"] + r.outcomes["budget_exhausted"] for r in first)
    assert paid == would_pay and sum(r.outcomes["refused"] for r in first) == sum(
        r.outcomes["would_refuse"] for r in preview
    )
    again = run_sweep(engine, as_of=day)
    assert sum(r.outcomes["paid"] for r in again) == 0
    assert sum(r.outcomes["already_paid"] for r in again) == sum(r.outcomes["paid"] for r in first)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count(Payout.id))) == sum(r.outcomes["paid"] for r in first)
        for b in s.scalars(select(Budget)):
            assert b.total - b.reserved - b.paid >= 0
        assert audit.verify(s) is None


def test_sweep_killed_half_way_then_rerun_pays_each_exactly_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    env = {**os.environ, "ZHIDA_DATABASE_URL": url}
    world = tmp_path / "w"
    runner = CliRunner()
    assert runner.invoke(main, ["generate", "--enterprises", "3000", "--seed", "4", "--out", str(world)]).exit_code == 0
    for kind, *args in (
        ("policies", world / "policies"),
        ("enterprises", world / "enterprises.csv"),
        ("rosters", world / "rosters", "--as-of", AS_OF),  # the normal path: the rosters say who is on them
    ):
        assert (
            subprocess.run(
                [sys.executable, "-m", "service", "import", kind, *map(str, args)], env=env, capture_output=True
            ).returncode
            == 0
        )
    import datetime as dt

    from service.store import make_engine

    engine = make_engine(url)
    preview = run_sweep(engine, as_of=dt.date.fromisoformat(AS_OF), dry_run=True)  # what a whole sweep would pay
    expected = sum(r.outcomes["would_pay"] for r in preview)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "sweep", "--as-of", AS_OF],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope(engine) as s:
            if s.scalar(select(func.count(Payout.id))) >= 50:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with session_scope(engine) as s:
        partial = s.scalar(select(func.count(Payout.id)))
    rerun = subprocess.run(
        [sys.executable, "-m", "service", "sweep", "--as-of", AS_OF], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    with session_scope(engine) as s:
        total = s.scalar(select(func.count(Payout.id)))
        pairs = s.execute(select(Payout.policy_id, Payout.enterprise_id, Payout.period)).all()
        assert len(set(pairs)) == len(pairs)  # never twice
        assert audit.verify(s) is None
    assert 0 < partial < total  # killed half-way, finished by the rerun
    assert total == expected  # every eligible enterprise paid exactly once
