"""A hypothesis state machine over the whole payout path.

Random interleavings of 即申即办 applications (over HTTP, with retried
Idempotency-Keys), 免申即享 sweeps (with and without an approval threshold),
batch approvals and rejections, 失信/经营异常 listings and delistings, budget
changes (publishing a new policy version), bank rounds through a bank that
fails, times out and answers twice, and crashes in the middle of each write —
after every step:

- each budget: total as published, reserved = open payouts, paid = confirmed
  payouts, remaining = total − reserved − paid ≥ 0 (so paid + remaining + reserved = budget);
- at most one payout per (policy, enterprise, period);
- no payout created for an enterprise while its listing was committed;
- no payout lost or changed, nothing paid twice by the bank, and only confirmed what the bank paid;
- the audit chain verifies and never shrinks.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from ledger_world import empty_postgres
from policy_specs import insured_employee_subsidy
from sqlalchemy import func, select, text

from matcher import uscc as uscc_codes
from service import audit
from service.app import create_app
from service.errors import Conflict
from service.http import auth
from service.io.importer import import_policies
from service.ledger.bank import BankTimeout, SimulatedBank, Transfer
from service.ledger.batches import decide_batch
from service.ledger.disbursement import reconcile, reference, send
from service.ledger.sweeps import run_sweep
from service.store import make_engine, session_scope, upgrade, write_scope
from service.store.models import (
    Application,
    AuditRecord,
    Budget,
    Enterprise,
    FieldValue,
    Payout,
    PayoutBatch,
    Policy,
)

TODAY = dt.date.today()
ENTERPRISES = 6
FLAGS = ("on_dishonesty_list", "in_abnormal_operation")
PG_ENV = "ZHIDA_TEST_POSTGRES_URL"
OPEN = ("held", "decided", "sent", "failed")


class Crash(Exception):
    """The process dies here: the transaction in flight never commits."""


POLICIES = {"sm-instant": ("instant", "5000.00"), "sm-auto": ("automatic", "3000.00")}
START_BUDGET = Decimal("20000.00")


def publish(engine, folder: Path, budgets: dict[str, Decimal]):
    folder.mkdir(parents=True, exist_ok=True)
    for slug, (mode, amount) in POLICIES.items():
        (folder / f"{slug}.yaml").write_text(
            yaml.safe_dump(insured_employee_subsidy(slug, mode, amount, budgets[slug]), allow_unicode=True),
            encoding="utf-8",
        )
    return import_policies(engine, folder)


def seed(engine, folder: Path) -> str:
    """Policies, enterprises (the last one never eligible) and a system key; returns the key."""
    assert publish(engine, folder, dict.fromkeys(POLICIES, START_BUDGET)).committed
    with session_scope(engine) as s:
        for i in range(ENTERPRISES):
            ent = Enterprise(
                uscc=uscc_codes.make("320102", 7000 + i),
                name=f"状态机测试企业{i}",
                region="320102",
                industry="C3911",
                established_on=dt.date(2015, 1, 1),
            )
            s.add(ent)
            s.flush()
            s.add(
                FieldValue(
                    enterprise_id=ent.id,
                    field="insured_employees",
                    value="0" if i == ENTERPRISES - 1 else str(i + 1),
                    source="social_security",
                    as_of=TODAY - dt.timedelta(days=30),
                )
            )
        return auth.create_key(s, "system", label="状态机")[1]


_template: dict = {}


def sqlite_template() -> dict:
    """One migrated, seeded SQLite file, copied for each example."""
    if not _template:
        root = Path(tempfile.mkdtemp(prefix="zhida-sm-"))
        url = f"sqlite:///{root / 'template.sqlite3'}"
        upgrade(url)
        engine = make_engine(url)
        secret = seed(engine, root / "policies")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        _template.update(root=root, file=root / "template.sqlite3", key=secret)
    return _template


class PayoutMachine(RuleBasedStateMachine):
    counter = itertools.count()

    def fresh_database(self) -> tuple[str, str]:
        """A seeded database of our own: (url, system key)."""
        t = sqlite_template()
        shutil.copy(t["file"], self.dir / "zhida.sqlite3")
        return f"sqlite:///{self.dir / 'zhida.sqlite3'}", t["key"]

    @initialize(bank_seed=st.integers(0, 2**16))
    def setup(self, bank_seed):
        self.dir = Path(tempfile.mkdtemp(prefix="zhida-sm-ex-"))
        self.url, self.key = self.fresh_database()
        self.engine = make_engine(self.url)
        self.client = create_app({"DATABASE_URL": self.url, "TESTING": True, "AUTO_UPGRADE": False}).test_client()
        self.bank = SimulatedBank(fail_rate=0.2, timeout_rate=0.2, duplicate_rate=0.3, seed=bank_seed)
        self.budgets = dict.fromkeys(POLICIES, START_BUDGET)
        with session_scope(self.engine) as s:
            self.usccs = list(s.scalars(select(Enterprise.uscc).order_by(Enterprise.id)))
            self.ids = dict(s.execute(select(Enterprise.uscc, Enterprise.id)).all())
            self.policy_ids = dict(s.execute(select(Policy.slug, Policy.id)).all())
        self.listed: dict[int, int] = {}  # enterprise id -> the highest payout id when its listing committed
        self.windows: list[tuple[int, int, int | None]] = []  # (enterprise, after payout id, until payout id)
        self.seen: dict[int, tuple[int, int, str, Decimal]] = {}
        self.audit_len = 0
        self.last_request: tuple[str, dict, bytes] | None = None
        self.idem = itertools.count()

    def teardown(self):
        if hasattr(self, "engine"):
            self.engine.dispose()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- helpers -----------------------------------------------------------------------------------

    def _max_payout_id(self) -> int:
        with session_scope(self.engine) as s:
            return s.scalar(select(func.coalesce(func.max(Payout.id), 0)))

    def _post_application(self, key: str, body: dict):
        return self.client.post(
            "/api/applications", json=body, headers={"Authorization": f"Bearer {self.key}", "Idempotency-Key": key}
        )

    # -- rules -------------------------------------------------------------------------------------

    @rule(who=st.integers(0, ENTERPRISES - 1))
    def apply(self, who):
        body = {"uscc": self.usccs[who], "policy_id": "sm-instant", "commitment": True}
        key = f"app-{next(self.idem)}"
        r = self._post_application(key, body)
        assert r.status_code == 201, r.get_json()
        assert r.json["outcome"] in ("paid", "already_paid", "refused", "budget_exhausted", "not_eligible")
        if self.ids[self.usccs[who]] in self.listed:
            assert r.json["outcome"] in ("refused", "already_paid", "not_eligible"), r.json
        self.last_request = (key, body, r.data)

    @precondition(lambda self: self.last_request is not None)
    @rule()
    def retry_last_application(self):
        key, body, first = self.last_request
        again = self._post_application(key, body)
        assert again.status_code == 201 and again.data == first  # byte for byte

    @rule(who=st.integers(0, ENTERPRISES - 1))
    def crash_during_application(self, who):
        real = audit.append_many

        def dying(session, entries):
            if any(action.startswith(("payout.", "decision.")) for _, action, _, _ in entries):
                raise Crash
            return real(session, entries)

        body = {"uscc": self.usccs[who], "policy_id": "sm-instant", "commitment": True}
        with session_scope(self.engine) as s:
            before = s.scalar(select(func.count(Application.id)))
        self.client.application.testing = False  # let the crash become a 500, as in production
        try:
            # the session path dies recording its audit records, after the ledger's writes; the driver
            # path (PostgreSQL) after the ledger's statements, building its last one
            with (
                mock.patch.object(audit, "append_many", dying),
                mock.patch.object(audit, "server_append_args", side_effect=Crash),
            ):
                r = self._post_application(f"crash-{next(self.idem)}", body)
        finally:
            self.client.application.testing = True
        assert r.status_code == 500
        with session_scope(self.engine) as s:
            assert s.scalar(select(func.count(Application.id))) == before  # nothing half-written

    @rule(threshold=st.sampled_from([None, Decimal("0.00"), Decimal("8000.00")]))
    def sweep(self, threshold):
        run_sweep(self.engine, "sm-auto", TODAY, approval_threshold=threshold)

    @rule()
    def crash_during_sweep(self):
        with mock.patch.object(audit, "append_many", side_effect=Crash), pytest.raises(Crash):
            run_sweep(self.engine, "sm-auto", TODAY)

    @rule(approve=st.booleans())
    def decide_open_batch(self, approve):
        with session_scope(self.engine) as s:
            batch = s.scalar(select(PayoutBatch.id).where(PayoutBatch.status == "awaiting_approval"))
        if batch is None:
            return
        with write_scope(self.engine) as s:
            decide_batch(s, batch, approve, "状态机审批意见", "officer:sm")
        with session_scope(self.engine) as s:
            statuses = s.execute(select(Payout.enterprise_id, Payout.status).where(Payout.batch_id == batch)).all()
        for eid, status in statuses:
            if not approve or eid in self.listed:
                assert status == "cancelled"  # rejected, or listed since the sweep: not paid
        with pytest.raises(Conflict), write_scope(self.engine) as s:
            decide_batch(s, batch, approve, "再次审批", "officer:sm")

    @rule(who=st.integers(0, ENTERPRISES - 1), flag=st.sampled_from(FLAGS), on=st.booleans())
    def set_credit_flag(self, who, flag, on):
        eid = self.ids[self.usccs[who]]
        with write_scope(self.engine) as s:
            row = s.scalar(
                select(FieldValue).where(
                    FieldValue.enterprise_id == eid,
                    FieldValue.field == flag,
                    FieldValue.source == "credit",
                    FieldValue.as_of == TODAY,
                )
            )
            if row is None:
                s.add(FieldValue(enterprise_id=eid, field=flag, value=str(on).lower(), source="credit", as_of=TODAY))
            else:
                row.value = str(on).lower()
        with session_scope(self.engine) as s:
            flags = dict(
                s.execute(
                    select(FieldValue.field, FieldValue.value).where(
                        FieldValue.enterprise_id == eid, FieldValue.field.in_(FLAGS)
                    )
                ).all()
            )
        now_listed = any(v == "true" for v in flags.values())
        top = self._max_payout_id()  # committed: from here on, no new payout may name this enterprise
        if now_listed and eid not in self.listed:
            self.listed[eid] = top
        elif not now_listed and eid in self.listed:
            self.windows.append((eid, self.listed.pop(eid), top))

    @rule(slug=st.sampled_from(sorted(POLICIES)), total=st.integers(0, 10).map(lambda n: Decimal(n * 5000)))
    def change_budget(self, slug, total):
        wanted = {**self.budgets, slug: total.quantize(Decimal("0.01"))}
        with session_scope(self.engine) as s:
            b = s.get(Budget, self.policy_ids[slug])
            committed = b.reserved + b.paid
        report = publish(self.engine, self.dir / f"policies-{next(self.idem)}", wanted)
        if wanted[slug] < committed:
            assert not report.committed and "低于已预留和已支付" in report.errors[0].reason
        else:
            assert report.committed, report.errors
            self.budgets = wanted

    @rule()
    def bank_round(self):
        send(self.engine, self.bank, batch=3)
        reconcile(self.engine, self.bank)

    @rule()
    def crash_after_bank_took_the_file(self):
        """The bank received the payments, then the process died before marking them sent."""
        with session_scope(self.engine) as s:
            rows = s.execute(select(Payout.id, Payout.amount).where(Payout.status.in_(("decided", "failed")))).all()
        try:
            self.bank.submit([Transfer(reference(i), "x", "x", a, "") for i, a in rows])
        except BankTimeout:
            pass

    # -- invariants --------------------------------------------------------------------------------

    @invariant()
    def money_adds_up(self):
        if not hasattr(self, "engine"):
            return
        with session_scope(self.engine) as s:
            for slug, policy_id in self.policy_ids.items():
                b = s.get(Budget, policy_id)
                sums = dict(
                    s.execute(
                        select(Payout.status, func.sum(Payout.amount))
                        .where(Payout.policy_id == policy_id)
                        .group_by(Payout.status)
                    ).all()
                )
                reserved = sum((Decimal(sums.get(k) or 0) for k in OPEN), Decimal("0.00"))
                paid = Decimal(sums.get("confirmed") or 0)
                remaining = b.total - b.reserved - b.paid
                assert b.total == self.budgets[slug]
                assert b.reserved == reserved and b.paid == paid
                assert remaining >= 0 and b.reserved >= 0 and b.paid >= 0
                assert paid + reserved + remaining == self.budgets[slug]

    @invariant()
    def one_payout_per_key_and_none_lost(self):
        if not hasattr(self, "engine"):
            return
        with session_scope(self.engine) as s:
            dupes = s.execute(
                select(Payout.policy_id, Payout.enterprise_id, Payout.period)
                .group_by(Payout.policy_id, Payout.enterprise_id, Payout.period)
                .having(func.count() > 1)
            ).all()
            assert dupes == []
            rows = {p.id: p for p in s.scalars(select(Payout))}
        for pid, (policy, ent, period, amount) in self.seen.items():
            p = rows.get(pid)
            assert p is not None and (p.policy_id, p.enterprise_id, p.period, p.amount) == (policy, ent, period, amount)
        for p in rows.values():
            self.seen.setdefault(p.id, (p.policy_id, p.enterprise_id, p.period, p.amount))
            if p.status == "confirmed":
                assert self.bank.paid.get(reference(p.id)) == p.amount  # confirmed only what the bank paid
        for ref, amount in self.bank.paid.items():
            assert rows[int(ref.removeprefix("zhida-"))].amount == amount

    @invariant()
    def nobody_listed_is_paid(self):
        if not hasattr(self, "engine"):
            return
        with session_scope(self.engine) as s:
            payouts = s.execute(select(Payout.id, Payout.enterprise_id)).all()
        for pid, eid in payouts:
            if eid in self.listed:
                assert pid <= self.listed[eid], f"payout {pid} to listed enterprise {eid}"
            for who, after, until in self.windows:
                assert not (who == eid and after < pid <= until), f"payout {pid} while {eid} was listed"

    @invariant()
    def audit_chain_verifies_and_only_grows(self):
        if not hasattr(self, "engine"):
            return
        with session_scope(self.engine) as s:
            assert audit.verify(s) is None
            n = s.scalar(select(func.count(AuditRecord.seq)))
            assert s.execute(text("SELECT max(seq) FROM audit_log")).scalar() == n  # gapless
        assert n >= self.audit_len
        self.audit_len = n


class PostgresPayoutMachine(PayoutMachine):
    """The same machine on PostgreSQL: emptied and seeded again for each example."""

    def fresh_database(self) -> tuple[str, str]:
        url = os.environ[PG_ENV]
        return url, seed(empty_postgres(url), self.dir / "policies")


SETTINGS = {
    "stateful_step_count": 30,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}
PayoutMachine.TestCase.settings = settings(max_examples=50, **SETTINGS)
PostgresPayoutMachine.TestCase.settings = settings(max_examples=15, **SETTINGS)
test_payout_state_machine_sqlite = PayoutMachine.TestCase


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} not set: PostgreSQL state machine skipped")
def test_payout_state_machine_postgresql():
    PostgresPayoutMachine.TestCase().runTest()
