"""Payout lifecycle through a misbehaving bank: everything confirmed, nothing paid twice."""

import csv
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from service import audit
from service.io.importer import import_enterprises, import_policies
from service.io.rosters import import_rosters
from service.ledger.bank import BatchFileBank, SimulatedBank, Transfer
from service.ledger.disbursement import reconcile, reference, send
from service.ledger.sweeps import run_sweep
from service.store import session_scope
from service.store.models import Budget, Payout
from service.synth.params import REFERENCE_DATE


@pytest.fixture
def decided(engine, small_world):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    run_sweep(engine, as_of=dt.date(2026, 6, 30))
    with session_scope(engine) as s:
        payouts = {p.id: p.amount for p in s.scalars(select(Payout))}
    assert payouts
    return engine, payouts


def _settled(engine, payouts, bank):
    with session_scope(engine) as s:
        statuses = dict(s.execute(select(Payout.id, Payout.status)).all())
        assert set(statuses.values()) == {"confirmed"}
        for b in s.scalars(select(Budget)):
            mine = s.scalar(select(func.coalesce(func.sum(Payout.amount), 0)).where(Payout.policy_id == b.policy_id))
            assert b.reserved == 0 and b.paid == Decimal(mine)
        assert audit.verify(s) is None
    assert bank.paid == {reference(i): amount for i, amount in payouts.items()}  # each reference paid once


def test_failures_timeouts_and_double_answers_end_in_exactly_one_payment_each(decided):
    engine, payouts = decided
    bank = SimulatedBank(fail_rate=0.2, timeout_rate=0.3, duplicate_rate=0.3, seed=3)
    for _ in range(40):
        send(engine, bank, batch=25)
        reconcile(engine, bank)
        with session_scope(engine) as s:
            if s.scalar(select(func.count(Payout.id)).where(Payout.status != "confirmed")) == 0:
                break
    _settled(engine, payouts, bank)


def test_crash_after_submission_is_resumed_without_paying_twice(decided):
    engine, payouts = decided
    bank = SimulatedBank(seed=1)
    with session_scope(engine) as s:  # the process died right after the bank took the file
        rows = s.execute(select(Payout.id, Payout.amount)).all()
    bank.submit([Transfer(reference(i), "x", "x", a, "") for i, a in rows])
    send(engine, bank)  # restarted: everything is submitted again
    reconcile(engine, bank)
    reconcile(engine, bank)  # and the answers are read twice
    _settled(engine, payouts, bank)


def test_batch_file_bank_writes_a_payment_file_and_reads_results(decided, tmp_path):
    engine, payouts = decided
    bank = BatchFileBank(tmp_path / "out", tmp_path / "in")
    assert send(engine, bank).sent == len(payouts)
    (batch,) = list((tmp_path / "out").glob("zhida-batch-*.csv"))
    with open(batch, encoding="utf-8") as fh:
        lines = list(csv.DictReader(fh))
    assert {row["reference"] for row in lines} == {reference(i) for i in payouts}
    assert all(Decimal(row["amount"]) == payouts[int(row["reference"][6:])] for row in lines)
    with open(tmp_path / "in" / "result-1.csv", "w", encoding="utf-8") as fh:
        fh.write("reference,status,reason\n")
        for row in lines:
            fh.write(f"{row['reference']},confirmed,\n")
        fh.write("zhida-999999,confirmed,\n")  # not ours: ignored
    result = reconcile(engine, bank)
    assert result.confirmed == len(payouts) and result.ignored == 1
    assert reconcile(engine, bank).confirmed == 0  # result files are read once


def test_payouts_cli_sends_files_and_reconciles(decided, db_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from service.cli import main

    engine, payouts = decided
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    sent = runner.invoke(main, ["payouts", "send", "--outbox", str(tmp_path / "outbox")])
    assert sent.exit_code == 0 and f"新发出 {len(payouts)} 笔" in sent.output
    (tmp_path / "inbox").mkdir(exist_ok=True)
    with open(tmp_path / "inbox" / "r.csv", "w", encoding="utf-8") as fh:
        fh.write("reference,status,reason\n" + "".join(f"{reference(i)},confirmed,\n" for i in payouts))
    done = runner.invoke(main, ["payouts", "reconcile", "--inbox", str(tmp_path / "inbox")])
    assert done.exit_code == 0 and f"确认 {len(payouts)} 笔" in done.output
    with session_scope(engine) as s:
        assert set(s.scalars(select(Payout.status))) == {"confirmed"}
