"""Delivery through the outbox: webhooks retried with backoff and full jitter until they answer (then never
again), dead after N failures; signatures a receiver can check; the SMS gateway; two runs at once and a run
killed half-way send nothing twice. Receivers are real HTTP servers on 127.0.0.1; time moves by ``now``."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from push_world import Receiver, bundle, config, item, local, outbox, setup
from sqlalchemy import select

from service.push import WebhookChannel, deliver_due, enqueue, verify_signature
from service.push.inbox import InboxChannel
from service.push.signing import sign
from service.push.sms import SmsChannel, sms_text
from service.push.webhooks import register
from service.store import session_scope, write_scope
from service.store.models import Event, InboxEntry, OutboxMessage

MONDAY = local("2026-12-07", 10)  # 10:00 in Shanghai: outside quiet hours
ROOT = Path(__file__).resolve().parents[1]


def _hook(engine, firm, url, cfg, inbox_off=True):
    with write_scope(engine) as s:
        _, secret = register(s, firm[0], url, "", "test", firm[1], MONDAY, cfg)
        if inbox_off:
            from service.push.preferences import update

            update(s, firm[0], {"channels": {"inbox": False}}, "test", firm[1], MONDAY)
    return secret


def _enqueue(engine, b, now=MONDAY, cfg=None):
    with write_scope(engine) as s:
        return enqueue(s, b, now, config=cfg or config())


def _drive(engine, channels, cfg, rng, start=MONDAY, rounds=40):
    """Run deliver_due at each message's next attempt until none is pending or failing; returns the times run."""
    now, times = start, []
    for _ in range(rounds):
        deliver_due(engine, now, channels, config=cfg, rng=rng)
        times.append(now)
        waiting = [m for m in outbox(engine) if m.state in ("pending", "failed")]
        if not waiting:
            break
        now = min(_utc(m.next_attempt_at) for m in waiting) + dt.timedelta(milliseconds=1)
    return times


def _utc(at):
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def test_a_receiver_failing_three_times_gets_the_message_once_more_on_success_signed(engine):
    firm = setup(engine, 1)[0]
    cfg = config(retry_base=30.0, retry_cap=600.0)
    with Receiver(lambda n, r: 500 if n <= 3 else 200) as rx:
        secret = _hook(engine, firm, rx.url, cfg)
        assert _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu"), item("wengang-fanhuan"))).queued
        channel = WebhookChannel(engine, cfg)
        failures = []  # (time of the failure, next attempt) as recorded
        now, rng = MONDAY, random.Random(7)
        for attempt in range(1, 5):
            deliver_due(engine, now, [channel], config=cfg, rng=rng)
            (m,) = outbox(engine)
            assert m.attempts == attempt
            if attempt <= 3:
                assert m.state == "failed" and "HTTP 500" in m.last_error
                failures.append((now, _utc(m.next_attempt_at)))
                # not due before its time: a run a moment earlier sends nothing
                deliver_due(engine, _utc(m.next_attempt_at) - dt.timedelta(seconds=0.5), [channel], config=cfg)
                assert len(rx.requests) == attempt
                now = _utc(m.next_attempt_at)
            else:
                assert m.state == "sent" and m.sent_at is not None and m.last_error is None
        for later in (1, 60, 24 * 60, 30 * 24 * 60):  # the message is never sent again
            deliver_due(engine, now + dt.timedelta(minutes=later), [channel], config=cfg)
        channel.close()

    assert len(rx.requests) == 4 and len(rx.acknowledged()) == 1
    assert rx.acknowledged()[0] is rx.requests[-1]
    assert len({r.message_id for r in rx.requests}) == 1  # one message, one id, retried
    assert len({r.body for r in rx.requests}) == 1  # the same bytes every time
    for r in rx.requests:
        assert verify_signature(secret, r.headers["X-Zhida-Signature"], r.body, tolerance=300)
        assert not verify_signature("whsec_another", r.headers["X-Zhida-Signature"], r.body)
    body = rx.requests[-1].json()
    assert [i["policy_id"] for i in body["items"]] == ["xina-jiuye-buzhu", "wengang-fanhuan"]
    assert body["enterprise"]["uscc"] == firm[1] and body["title"].startswith("政策包（2026-W50）")
    assert [r.headers["X-Zhida-Attempt"] for r in rx.requests] == ["1", "2", "3", "4"]
    for k, (failed_at, next_at) in enumerate(failures, 1):  # exponential with full jitter: 0 … min(cap, base·2^(k−1))
        wait = (next_at - failed_at).total_seconds()
        assert 0 <= wait <= min(600.0, 30.0 * 2 ** (k - 1)) + 1, (k, wait)
    with session_scope(engine) as s:
        delivered = s.scalars(select(Event).where(Event.kind == "delivered")).all()
    assert len(delivered) == 1 and delivered[0].payload["attempts"] == 4


def test_a_receiver_that_always_fails_ends_in_the_dead_letter_after_n(engine):
    firm = setup(engine, 1)[0]
    cfg = config(retry_base=10.0, retry_cap=120.0)  # max_attempts: the default, 8
    assert cfg.max_attempts == 8
    with Receiver(lambda n, r: 503) as rx:
        _hook(engine, firm, rx.url, cfg)
        _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")))
        channel = WebhookChannel(engine, cfg)
        times = _drive(engine, [channel], cfg, random.Random(3))
        for later in (1, 7 * 24 * 60):
            deliver_due(engine, times[-1] + dt.timedelta(minutes=later), [channel], config=cfg)
        channel.close()
    (m,) = outbox(engine)
    assert m.state == "dead" and m.attempts == 8
    assert m.last_error.startswith("连续失败 8 次") and "HTTP 503" in m.last_error
    assert len(rx.requests) == 8 and not rx.acknowledged()


def test_the_number_of_failures_before_the_dead_letter_is_configured_and_a_410_is_dead_at_once(engine):
    a, b = setup(engine, 2)
    cfg = config(max_attempts=3)
    with Receiver(lambda n, r: 500) as bad, Receiver(lambda n, r: 410) as gone:
        _hook(engine, a, bad.url, cfg)
        _hook(engine, b, gone.url, cfg)
        _enqueue(engine, bundle(a, "2026-W50", item("xina-jiuye-buzhu")))
        _enqueue(engine, bundle(b, "2026-W50", item("xina-jiuye-buzhu")))
        channel = WebhookChannel(engine, cfg)
        _drive(engine, [channel], cfg, random.Random(1))
        channel.close()
    by_firm = {m.enterprise_id: m for m in outbox(engine)}
    assert by_firm[a[0]].state == "dead" and by_firm[a[0]].attempts == 3 and len(bad.requests) == 3
    assert by_firm[b[0]].state == "dead" and by_firm[b[0]].attempts == 1 and len(gone.requests) == 1
    assert "410" in by_firm[b[0]].last_error


def test_a_timeout_is_retried(engine):
    firm = setup(engine, 1)[0]
    cfg = config(timeout=0.2)
    with Receiver(lambda n, r: (time.sleep(1.0), 200)[1] if n == 1 else 200) as rx:
        _hook(engine, firm, rx.url, cfg)
        _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")))
        channel = WebhookChannel(engine, cfg)
        deliver_due(engine, MONDAY, [channel], config=cfg)
        (m,) = outbox(engine)
        assert m.state == "failed" and "超时" in m.last_error
        _drive(engine, [channel], cfg, random.Random(1), start=_utc(m.next_attempt_at))
        channel.close()
    (m,) = outbox(engine)
    assert m.state == "sent" and m.attempts == 2


def test_verify_signature_accepts_only_the_signed_body_in_time():
    secret, body = "whsec_test", '{"message_id":"m-1","title":"政策包"}'.encode()
    t = 1_800_000_000
    header = sign(secret, body, t)
    assert header.startswith(f"t={t},v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(secret, header, body, tolerance=300, now=t + 299)
    assert not verify_signature(secret, header, body, tolerance=300, now=t + 301)  # replayed too late
    assert not verify_signature(secret, header, body + b" ", now=t)  # body changed
    assert not verify_signature("whsec_other", header, body, now=t)
    forged = header.replace(f"t={t}", f"t={t + 100}")  # a new timestamp on the old signature
    assert not verify_signature(secret, forged, body, now=t + 100)
    rotated = f"{header},v1={'0' * 64}"  # several v1 entries: any one may match
    assert verify_signature(secret, rotated, body, now=t)
    for bad in ("", "t=abc,v1=00", f"t={t}", "v1=00", None, f"t={t},v1=é"):
        assert not verify_signature(secret, bad, body, now=t)


def test_the_sms_gateway_gets_a_short_chinese_text_with_a_link_and_the_key(engine):
    firm = setup(engine, 1)[0]
    with Receiver(lambda n, r: 502 if n == 1 else 200) as gw:
        cfg = config(sms_url=gw.url, sms_key="k-123", public_url="https://zhida.example.cn")
        with write_scope(engine) as s:
            from service.push.preferences import update

            update(s, firm[0], {"channels": {"inbox": False}, "sms_phone": "+86 138-1234-5678"}, "t", firm[1], MONDAY)
        maybe = item("yanfa-feiyong-buzhu", group="maybe", amount=None, to_declare=("研发费用",))
        items = (item("xina-jiuye-buzhu"), maybe)
        result = _enqueue(engine, bundle(firm, "2026-W50", *items), cfg=cfg)
        assert [c.channel for c in result.channels if c.status == "queued"] == ["sms"]
        channel = SmsChannel(engine, cfg)
        _drive(engine, [channel], cfg, random.Random(1))
        channel.close()
    assert len(gw.requests) == 2 and len(gw.acknowledged()) == 1
    sent = gw.acknowledged()[0]
    body = sent.json()
    assert set(body) == {"to", "text", "message_id"}
    assert body["to"] == "13812345678" and sent.headers["X-Api-Key"] == "k-123"
    assert body["text"].startswith("【直达】贵企业本期有 2 项惠企政策：可立即申报 1 项、可能符合 1 项")
    assert "https://zhida.example.cn/policies/xina-jiuye-buzhu" in body["text"] and len(body["text"]) <= 120
    assert gw.requests[0].json()["message_id"] == body["message_id"] == outbox(engine)[0].message_id


def test_a_gateway_refusing_the_number_is_dead_at_once(engine):
    firm = setup(engine, 1)[0]
    with Receiver(lambda n, r: 400) as gw:
        cfg = config(sms_url=gw.url)
        with write_scope(engine) as s:
            from service.push.preferences import update

            update(s, firm[0], {"channels": {"inbox": False}, "sms_phone": "13812345678"}, "t", firm[1], MONDAY)
        _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), cfg=cfg)
        deliver_due(engine, MONDAY, [SmsChannel(engine, cfg)], config=cfg)
    (m,) = outbox(engine)
    assert m.state == "dead" and m.attempts == 1 and "短信网关拒绝" in m.last_error and len(gw.requests) == 1


def test_sms_text_names_the_first_policy_shortly():
    from service.push import Message

    long = dict(item("xina-jiuye-buzhu").as_dict(), name="一" * 40, rank=1)
    m = Message("id", "sms", 1, "u", "企业", "2026-W50", (long,), MONDAY)
    text = sms_text(m, "https://z.cn")
    assert "「" + "一" * 15 + "…」" in text and text.endswith("https://z.cn/policies/xina-jiuye-buzhu")


def test_two_runs_at_once_send_each_message_once(engine):
    firms = setup(engine, 12)
    cfg = config()
    with Receiver(lambda n, r: (time.sleep(0.02), 200)[1]) as rx:
        for f in firms:
            _hook(engine, f, rx.url, cfg, inbox_off=False)
            _enqueue(engine, bundle(f, "2026-W50", item("xina-jiuye-buzhu")))
        channels = [InboxChannel(engine), WebhookChannel(engine, cfg)]
        errors = []

        def run():
            try:
                deliver_due(engine, MONDAY, channels, config=cfg, batch=3)
            except Exception as e:  # pragma: no cover - shown by the assertion below
                errors.append(e)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert {m.state for m in outbox(engine)} == {"sent"} and len(outbox(engine)) == 24
    ids = [r.message_id for r in rx.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    with session_scope(engine) as s:
        assert len(s.scalars(select(InboxEntry)).all()) == 12
        assert len(s.scalars(select(Event).where(Event.kind == "delivered")).all()) == 24


KILLED_RUN = """
import datetime as dt, sys
from service.push import WebhookChannel, deliver_due
from service.store import make_engine
from tests.push_world import config
engine = make_engine(sys.argv[1])
cfg = config()
deliver_due(engine, dt.datetime.fromisoformat(sys.argv[2]), [WebhookChannel(engine, cfg)], config=cfg, batch=2)
"""


def test_a_delivery_run_killed_half_way_and_rerun_sends_nothing_twice(engine, db_url):
    firms = setup(engine, 6)
    cfg = config()
    victim: dict = {}

    def answer(n, r):
        if n == 3:  # the third request: the sending process dies before it gets the answer
            for _ in range(500):
                if "pid" in victim:
                    break
                time.sleep(0.01)
            os.kill(victim["pid"], signal.SIGKILL)
            return None
        return 200

    with Receiver(answer) as rx:
        for f in firms:
            _hook(engine, f, rx.url, cfg)
            _enqueue(engine, bundle(f, "2026-W50", item("xina-jiuye-buzhu")))
        proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, db_url, MONDAY.isoformat()], cwd=ROOT)
        victim["pid"] = proc.pid
        assert proc.wait(timeout=60) == -signal.SIGKILL
        states = [m.state for m in outbox(engine)]
        assert states.count("sent") == 2 and states.count("pending") == 4
        # rerun at once: the messages the dead run had claimed wait for their lease
        deliver_due(engine, MONDAY + dt.timedelta(seconds=5), [WebhookChannel(engine, cfg)], config=cfg)
        assert [m.state for m in outbox(engine)].count("sent") == 4
        deliver_due(engine, MONDAY + dt.timedelta(seconds=cfg.lease + 5), [WebhookChannel(engine, cfg)], config=cfg)
    assert {m.state for m in outbox(engine)} == {"sent"}
    acked = [r.message_id for r in rx.acknowledged()]
    assert sorted(acked) == sorted(m.message_id for m in outbox(engine))  # each acknowledged exactly once
    unanswered = [r for r in rx.requests if r.status is None]
    assert len(unanswered) == 1 and len(rx.requests) == 7  # only the request the kill cut off was sent again
    with session_scope(engine) as s:
        assert len(s.scalars(select(Event).where(Event.kind == "delivered")).all()) == 6


KILLED_ENQUEUE = """
import datetime as dt, os, signal, sys
from service.push import enqueue
from service.store import make_engine, write_scope
from tests.push_world import bundle, config, item
engine = make_engine(sys.argv[1])
now = dt.datetime.fromisoformat(sys.argv[2])
firms = [(int(x.split(":")[0]), x.split(":")[1]) for x in sys.argv[3].split(",")]
for n, firm in enumerate(firms, 1):
    with write_scope(engine) as s:
        enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), now, config=config())
        if n == 4:
            os.kill(os.getpid(), signal.SIGKILL)  # killed before the fourth firm's transaction commits
"""


def test_a_bundle_run_killed_half_way_and_rerun_sends_nothing_twice(engine, db_url):
    firms = setup(engine, 6)
    arg = ",".join(f"{i}:{u}" for i, u in firms)
    proc = subprocess.run([sys.executable, "-c", KILLED_ENQUEUE, db_url, MONDAY.isoformat(), arg], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL
    assert len(outbox(engine)) == 3
    deliver_due(engine, MONDAY, [InboxChannel(engine)], config=config())
    later = MONDAY + dt.timedelta(hours=2)
    outcomes = [_enqueue(engine, bundle(f, "2026-W50", item("xina-jiuye-buzhu")), now=later).outcome for f in firms]
    assert outcomes == ["already_queued"] * 3 + ["queued"] * 3
    deliver_due(engine, later, [InboxChannel(engine)], config=config())
    deliver_due(engine, later + dt.timedelta(days=1), [InboxChannel(engine)], config=config())
    with session_scope(engine) as s:
        per_firm = [e.enterprise_id for e in s.scalars(select(InboxEntry))]
        pushes = s.scalars(select(Event).where(Event.kind == "push")).all()
    assert sorted(per_firm) == sorted(i for i, _ in firms)  # one message each
    assert len(pushes) == 6 and len(outbox(engine)) == 6


def test_a_message_for_a_removed_webhook_dies_without_a_request(engine):
    firm = setup(engine, 1)[0]
    cfg = config()
    with Receiver() as rx:
        _hook(engine, firm, rx.url, cfg)
        _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")))
        from service.push.webhooks import remove

        with write_scope(engine) as s:
            remove(s, firm[0], int(outbox(engine)[0].channel.split(":")[1]), "t", firm[1], MONDAY)
        deliver_due(engine, MONDAY, [WebhookChannel(engine, cfg)], config=cfg)
    (m,) = outbox(engine)
    assert m.state == "dead" and "已删除或停用" in m.last_error and not rx.requests


def test_webhooks_to_private_addresses_are_refused_unless_allowed(engine):
    from service.errors import Unprocessable
    from service.push.webhooks import check_url

    strict = config(webhook_private=False)
    refused = ["http://example.cn/hook", "https://127.0.0.1/x", "https://10.1.2.3/x", "https://[::1]/x"]
    refused += ["https://localhost/x", "https://169.254.169.254/latest", "https://u:p@example.cn/x", "ftp://x/y"]
    for url in refused:
        with pytest.raises(Unprocessable):
            check_url(url, strict.webhook_private)
    assert check_url("https://1.1.1.1/hook", False)  # a public address (no name to resolve here)
    assert check_url("http://127.0.0.1:9/hook", True)
    firm = setup(engine, 1)[0]
    with Receiver() as rx:
        _hook(engine, firm, rx.url, config())  # registered while allowed …
        _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")))
        deliver_due(engine, MONDAY, [WebhookChannel(engine, strict)], config=strict)  # … refused when sending
    (m,) = outbox(engine)
    assert m.state == "dead" and "内网" in m.last_error and not rx.requests
    with session_scope(engine) as s:
        assert s.scalar(select(OutboxMessage.attempts)) == 1


def test_the_inbox_takes_its_messages_in_batches_each_all_or_nothing(engine, monkeypatch):
    """The inbox is zhida's own store: a batch of its messages is written, marked sent and recorded as delivered
    in one transaction — a batch that fails leaves every message of it pending, to be delivered whole by the
    next run; an opted-out firm's message dies; a rerun delivers nothing again."""
    from service.push import delivery
    from service.push.preferences import update

    monkeypatch.setattr(delivery, "LOCAL_BATCH", 2)
    firms = setup(engine, 5)
    for firm in firms:
        _enqueue(engine, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")))
    with write_scope(engine) as s:
        update(s, firms[4][0], {"channels": {"inbox": False}}, "test", firms[4][1], MONDAY)

    class Broken(InboxChannel):
        def write(self, session, messages):
            super().write(session, messages)
            raise RuntimeError("磁盘已满")

    with pytest.raises(RuntimeError):
        deliver_due(engine, MONDAY, [Broken(engine)], config=config())
    with session_scope(engine) as s:
        assert s.scalars(select(InboxEntry)).all() == []
    assert {m.state for m in outbox(engine)} == {"pending"} and {m.attempts for m in outbox(engine)} == {0}

    report = deliver_due(engine, MONDAY, [InboxChannel(engine)], config=config())
    assert (report.sent, report.dead) == (4, 1)
    again = deliver_due(engine, MONDAY + dt.timedelta(hours=1), [InboxChannel(engine)], config=config())
    assert (again.sent, again.dead) == (0, 0)
    with session_scope(engine) as s:
        entries = sorted(e.enterprise_id for e in s.scalars(select(InboxEntry)))
        delivered = s.scalars(select(Event).where(Event.kind == "delivered")).all()
    assert entries == sorted(i for i, _ in firms[:4]) and len(delivered) == 4
    assert sorted(m.state for m in outbox(engine)) == ["dead"] + ["sent"] * 4
    assert all(m.attempts == 1 and m.sent_at is not None for m in outbox(engine) if m.state == "sent")
