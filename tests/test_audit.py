"""The audit chain: every single-record edit, deletion, insertion or reordering is found."""

import datetime as dt
import hashlib
import itertools
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from service import audit
from service.cli import main
from service.store import current_revision, head_revision, session_scope
from service.store.models import AuditRecord

KEY = "test-audit-key-0123456789abcdef"


@pytest.fixture
def chain(engine):
    with session_scope(engine) as s:
        for i in range(6):
            audit.append(s, "officer:zk_test", "policy.publish", f"policy-{i}", {"version": i + 1, "amount": "1.50"})
    return engine


def _unguard(engine):
    """An attacker with DBA rights: drop the append-only triggers first."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def _problem(engine, cp=None):
    with session_scope(engine) as s:
        return audit.verify(s, cp)


def test_intact_chain_verifies(chain):
    assert _problem(chain) is None
    with session_scope(chain) as s:
        assert [r.seq for r in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))] == [1, 2, 3, 4, 5, 6]


TRICKY = [
    {"reason": "列入失信被执行人名单，依法不予支持", "amount": "1000.00"},
    {"quote": 'say "hi"\\ and \\n', "emoji": "🎉", "nested": {"b": [1, 2.5, None, True], "a": "z"}},
    {},
    {"ctl": "\u0001\t\u2028", "big": 10**20, "neg": -3},
]


def _hash_as_first_written(prev, seq, at, actor, action, subject, payload) -> str:
    """The chain's format spelled out: SHA-256 over the previous hash and json.dumps of the whole record."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    record = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "payload": payload,
    }
    body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=audit._default)
    return hashlib.sha256((prev + body).encode()).hexdigest()


TIMES = [
    dt.datetime(2026, 11, 30, 8, 1, 2, 345678),  # naive: UTC (SQLite)
    dt.datetime(2026, 11, 30, 8, 1, 2),  # no microseconds
    dt.datetime(2026, 11, 30, 8, 1, 2, 7, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 30, 3, 1, 2, 7, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    dt.datetime(2026, 11, 30, 3, 1, 2, 7, tzinfo=ZoneInfo("Asia/Shanghai")),
    dt.datetime(999, 12, 31, 23, 59, 59, 1),  # strftime does not pad the year
    dt.datetime(1000, 1, 1, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=8))),  # year 999 in UTC
]


def test_record_hash_is_the_chain_format_as_first_written():
    payloads = [*TRICKY, {"amount": Decimal("1.50"), "on": dt.date(2026, 1, 1), "tags": {"b", "a"}}, [1, "x"], "s", 7]
    names = ["system:zk_测试", 'say "hi"\\', "\u2028\u0001", 12]
    for i, (at, payload) in enumerate(itertools.product(TIMES, payloads)):
        actor, action, subject = names[i % 4], names[(i + 1) % 4], names[(i + 2) % 4]
        args = ("f" * 64, i + 1, at, actor, action, subject, payload)
        assert audit.record_hash(*args) == _hash_as_first_written(*args), args


def test_the_database_chains_exactly_as_the_code_hashes(engine):
    """On PostgreSQL the server appends (zhida_audit_append); each stored hash must be record_hash's."""
    with session_scope(engine) as s:  # several records in one append, then one more in another
        for i, payload in enumerate(TRICKY):
            audit.append(s, "system:zk_测试", f"test.{i}", f"主体:{i}\"'", payload)
    with session_scope(engine) as s:
        audit.append(s, "officer:x", "test.last", "s", {"after": "a batch"})
    with session_scope(engine) as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        prev = audit.GENESIS
        for r in rows:
            assert r.prev_hash == prev
            assert r.hash == audit.record_hash(prev, r.seq, r.at, r.actor, r.action, r.subject, r.payload)
            prev = r.hash
        assert [r.payload for r in rows[:4]] == [json.loads(audit.canonical(p)) for p in TRICKY]
        assert audit.verify(s) is None


def test_concurrent_appends_chain_in_order_of_time(engine):
    """Many writers at once: a gapless chain that verifies, and time never goes backwards along seq."""
    import threading

    from service.store import write_scope

    errors = []

    def write(n):
        try:
            for i in range(10):
                with write_scope(engine) as s:
                    audit.append(s, f"system:w{n}", "test.concurrent", f"w{n}:{i}", {"i": i})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(engine) as s:
        rows = s.execute(select(AuditRecord.seq, AuditRecord.at).order_by(AuditRecord.seq)).all()
        assert [r.seq for r in rows] == list(range(1, 81))
        assert all(a.at <= b.at for a, b in zip(rows, rows[1:], strict=False))
        assert audit.verify(s) is None


def test_database_refuses_update_and_delete(chain):
    assert current_revision(str(chain.url.render_as_string(hide_password=False))) == head_revision()
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises((IntegrityError, DBAPIError)), chain.begin() as conn:
            conn.execute(text(sql))
    assert _problem(chain) is None


@pytest.mark.parametrize("seq", [1, 3, 6])
def test_an_edited_record_is_named(chain, seq):
    _unguard(chain)
    with chain.begin() as conn:
        conn.execute(text("UPDATE audit_log SET subject = 'tampered' WHERE seq = :s"), {"s": seq})
    problem = _problem(chain)
    assert (problem.seq, problem.kind) == (seq, "edited")


@pytest.mark.parametrize("seq", [1, 3])
def test_a_deleted_record_is_named(chain, seq):
    _unguard(chain)
    with chain.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": seq})
    problem = _problem(chain)
    assert problem.seq == seq and problem.kind == "deleted"


def test_an_inserted_record_is_found(chain):
    _unguard(chain)
    with chain.begin() as conn:  # shift 4..6 up and slip a forged record in at 4
        for seq in (6, 5, 4):
            conn.execute(text("UPDATE audit_log SET seq = seq + 1 WHERE seq = :s"), {"s": seq})
    with session_scope(chain) as s:
        prev = s.get(AuditRecord, 3)
        payload = {"forged": True}
        at = prev.at
        s.add(
            AuditRecord(
                seq=4,
                at=at,
                actor="x",
                action="payout",
                subject="p",
                payload=payload,
                prev_hash=prev.hash,
                hash=audit.record_hash(prev.hash, 4, at, "x", "payout", "p", payload),
            )
        )
    problem = _problem(chain)
    assert problem.seq == 5 and problem.kind == "inserted_or_reordered"


def test_reordered_records_are_found(chain):
    _unguard(chain)
    with chain.begin() as conn:
        conn.execute(text("UPDATE audit_log SET seq = 100 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 100"))
    problem = _problem(chain)
    assert problem.seq == 2 and problem.kind == "inserted_or_reordered"


def test_a_rewritten_chain_is_found_only_with_a_checkpoint(chain, monkeypatch):
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    with session_scope(chain) as s:
        cp = audit.checkpoint(s)
    _unguard(chain)
    table = AuditRecord.__table__
    with chain.begin() as conn:  # rewrite record 2 and recompute every later hash consistently
        rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.seq))]
        conn.execute(table.delete())
        prev = audit.GENESIS
        for r in rows:
            if r["seq"] == 2:
                r["subject"] = "rewritten"
            r["prev_hash"] = prev
            r["hash"] = prev = audit.record_hash(
                prev, r["seq"], r["at"], r["actor"], r["action"], r["subject"], r["payload"]
            )
        conn.execute(table.insert(), rows)
    assert _problem(chain) is None  # internally consistent…
    problem = _problem(chain, cp)
    assert problem.kind == "rewritten" and problem.seq == 6  # …but not the chain we checkpointed


def test_checkpoint_and_verify_cli(db_url, chain, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    assert runner.invoke(main, ["audit", "checkpoint"]).exit_code != 0  # no key: refuses
    monkeypatch.setenv(audit.KEY_ENV, KEY)
    out = tmp_path / "cp.json"
    assert runner.invoke(main, ["audit", "checkpoint", "--out", str(out)]).exit_code == 0
    ok = runner.invoke(main, ["audit", "verify", "--checkpoint", str(out)])
    assert ok.exit_code == 0 and "6 条记录" in ok.output
    forged = json.loads(out.read_text())
    forged["seq"] = 5
    out.write_text(json.dumps(forged))
    bad = runner.invoke(main, ["audit", "verify", "--checkpoint", str(out)])
    assert bad.exit_code != 0 and "签名无效" in bad.output
    _unguard(chain)
    with chain.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone' WHERE seq = 4"))
    failed = runner.invoke(main, ["audit", "verify"])
    assert failed.exit_code == 1 and "第 4 条" in failed.output


def test_verify_cli_shows_progress_on_stderr(db_url, chain, monkeypatch):
    from service.cli import audit as audit_cli

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    monkeypatch.setattr(audit, "BATCH", 4)
    monkeypatch.setattr(audit_cli, "PROGRESS_EVERY", 0)
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["已校验 4 / 6 条（66%）…", "已校验 6 / 6 条（100%）…"]
    assert result.stdout.startswith("审计链完整：6 条记录")


def test_policy_publication_is_audited(engine, small_world):
    from service.io.importer import import_policies

    report = import_policies(engine, small_world / "policies", actor="officer:zk_demo")
    with session_scope(engine) as s:
        records = list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        assert audit.verify(s) is None
    assert len(records) == report.written and records[0].action == "policy.publish"
    assert records[0].actor == "officer:zk_demo" and "spec_hash" in records[0].payload


def _extend(engine, n: int) -> None:
    """Append n correctly chained records straight into the table (quicker than n appends)."""
    table = AuditRecord.__table__
    with engine.begin() as conn:
        head = conn.execute(select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)).first()
        last, prev = (head.seq, head.hash) if head else (0, audit.GENESIS)
        at = dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
        rows = []
        for seq in range(last + 1, last + n + 1):
            payload = {
                "decision": seq,
                "payout": seq // 2,
                "amount": "300000.00",
                "period": "2026",
                "policy_version": 1,
            }
            digest = audit.record_hash(prev, seq, at, "system:sweep", "payout.decided", f"p:{seq}", payload)
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": "system:sweep",
                    "action": "payout.decided",
                    "subject": f"p:{seq}",
                    "payload": payload,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        conn.execute(table.insert(), rows)


def _peak_while_verifying(engine) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        assert _problem(engine) is None
        return tracemalloc.get_traced_memory()[1]  # the peak since start
    finally:
        tracemalloc.stop()


def test_verify_streams_the_chain(engine, monkeypatch):
    """Memory while verifying does not grow with the chain: 20,000 more records cost it (almost) nothing."""
    monkeypatch.setattr(audit, "BATCH", 1_000)  # both chains span several batches
    _extend(engine, 5_000)
    assert _problem(engine) is None  # warm: statements compiled, caches filled
    short = _peak_while_verifying(engine)
    _extend(engine, 20_000)
    long = _peak_while_verifying(engine)
    assert long - short < 20_000 * 50, (short, long)  # holding the records took ~3 KB each


def test_verify_reports_progress_by_batch(chain, monkeypatch):
    monkeypatch.setattr(audit, "BATCH", 4)
    seen = []
    with session_scope(chain) as s:
        assert audit.verify(s, progress=seen.append) is None
    assert seen == [4, 6]


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("DELETE FROM audit_log WHERE seq = 3", (3, "deleted")),  # the first record of the second batch
        ("UPDATE audit_log SET subject = 'x' WHERE seq = 4", (4, "edited")),
        ("UPDATE audit_log SET seq = 100 WHERE seq = 2", (2, "deleted")),
    ],
)
def test_problems_across_batches_are_the_same(chain, monkeypatch, sql, found):
    monkeypatch.setattr(audit, "BATCH", 2)
    _unguard(chain)
    with chain.begin() as conn:
        conn.execute(text(sql))
    problem = _problem(chain)
    assert (problem.seq, problem.kind) == found


@pytest.mark.parametrize("change", ["at = 'yesterday'", "at = 20261130", "payload = '{not json'"])
def test_a_record_no_longer_readable_is_edited(chain, change):
    """SQLite keeps any value: a time or payload that no longer parses is an edit, not a crash."""
    if chain.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's types refuse such values")
    _unguard(chain)
    with chain.begin() as conn:
        conn.execute(text(f"UPDATE audit_log SET {change} WHERE seq = 2"))
    problem = _problem(chain)
    assert (problem.seq, problem.kind) == (2, "edited")
