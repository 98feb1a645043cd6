"""Respect for the enterprise: at most one bundle a week, nothing unchanged pushed again soon, quiet hours for
what reaches a person outside the platform, a channel turned off stays off; and what the pushes leave in
the events table is what the ranker reads."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from push_world import Receiver, bundle, config, item, local, outbox, setup
from sqlalchemy import select

from service.push import WebhookChannel, deliver_due, enqueue
from service.push.inbox import InboxChannel, mark_read
from service.push.preferences import update
from service.push.sms import SmsChannel
from service.push.webhooks import register
from service.store import session_scope, write_scope
from service.store.models import Event, InboxEntry, PushedItem

START = dt.date(2026, 12, 7)  # a Monday (ISO week 2026-W50)


def _week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _run(engine, b, now, cfg):
    with write_scope(engine) as s:
        result = enqueue(s, b, now, config=cfg)
    deliver_due(engine, now, [InboxChannel(engine)], config=cfg)
    return result


def _inbox(engine, firm_id):
    with session_scope(engine) as s:
        return [
            (e.period, [i["policy_id"] for i in e.items])
            for e in s.scalars(select(InboxEntry).where(InboxEntry.enterprise_id == firm_id).order_by(InboxEntry.id))
        ]


def test_cap_and_dedupe_hold_across_consecutive_daily_runs(engine):
    """A daily run of weekly bundles for 40 days: one bundle a week at most, and only with what is new or
    changed; an unchanged item comes back once its 30 days have passed."""
    firm = setup(engine, 1)[0]
    cfg = config()
    said = {}
    for n in range(40):
        day = START + dt.timedelta(days=n)
        amount = "30000.00" if n < 10 else "45000.00"  # the subsidy's amount changes on day 10
        items = [item("xina-jiuye-buzhu", amount=amount), item("wengang-fanhuan", group="auto_paid", amount="1200.00")]
        if n >= 3:
            items.append(item("yanfa-feiyong-buzhu", group="maybe", amount=None, to_declare=("上年度研发费用",)))
        now = local(day.isoformat(), 9, 30)
        said[n] = _run(engine, bundle(firm, _week(day), *items), now, cfg)
    outcomes = {n: r.outcome for n, r in said.items()}
    assert outcomes[0] == "queued" and said[0].items == ("xina-jiuye-buzhu", "wengang-fanhuan")
    assert {outcomes[n] for n in range(1, 7)} == {"already_queued"}  # the same week, every day after
    assert outcomes[7] == "queued" and said[7].items == ("yanfa-feiyong-buzhu",)  # only the new one
    unchanged = "2026-12-07 已推送，内容未变"
    assert said[7].left_out == {"xina-jiuye-buzhu": unchanged, "wengang-fanhuan": unchanged}
    assert {outcomes[n] for n in range(8, 14)} == {"already_queued"}  # the change on day 10 waits for its week
    assert outcomes[14] == "queued" and said[14].items == ("xina-jiuye-buzhu",)  # changed: the amount
    assert outcomes[21] == "nothing_new" and outcomes[28] == "nothing_new" and outcomes[29] == "nothing_new"
    assert outcomes[30] == "queued" and said[30].items == ("wengang-fanhuan",)  # unchanged, but 30 days on
    assert outcomes[35] == "capped" and outcomes[36] == "capped"  # a new week, but 7 days after day 30's bundle
    assert outcomes[37] == "queued" and said[37].items == ("yanfa-feiyong-buzhu",)  # 30 days after day 7
    assert _inbox(engine, firm[0]) == [
        ("2026-W50", ["xina-jiuye-buzhu", "wengang-fanhuan"]),
        ("2026-W51", ["yanfa-feiyong-buzhu"]),
        ("2026-W52", ["xina-jiuye-buzhu"]),
        ("2027-W01", ["wengang-fanhuan"]),
        ("2027-W02", ["yanfa-feiyong-buzhu"]),
    ]
    with session_scope(engine) as s:
        pushes = s.scalars(select(Event).where(Event.kind == "push").order_by(Event.id)).all()
        last = {p.policy_id: p.fingerprint for p in s.scalars(select(PushedItem))}
    assert len(last) == 3  # one push event per item in a message, with its round
    rounds = ["2026-W50", "2026-W50", "2026-W51", "2026-W52", "2027-W01", "2027-W02"]
    assert [p.payload["round"] for p in pushes] == rounds
    assert pushes[1].payload["automatic"] is True and "automatic" not in pushes[0].payload


def test_the_frequency_cap_holds_daily_bundles_to_one_a_week(engine):
    """A caller that makes one bundle period per day still reaches the firm once in 7 days (ZHIDA_PUSH_CAP_DAYS),
    whatever the hour of each run; a cap of 2 lets two through."""
    a, b = setup(engine, 2)
    seen = {a: [], b: []}
    for firm, cfg in ((a, config()), (b, config(cap=2))):
        for n in range(15):
            day = START + dt.timedelta(days=n)
            now = local(day.isoformat(), 9 if n % 2 else 18, 5)  # runs at different hours
            items = [item("xina-jiuye-buzhu", amount=f"{1000 + n}.00")]  # a change every day
            result = _run(engine, bundle(firm, day.isoformat(), *items), now, cfg)
            if result.queued:
                seen[firm].append(n)
            else:
                assert result.outcome == "capped" and "近 7 天已推送" in result.reason
    assert seen[a] == [0, 7, 14]
    assert seen[b] == [0, 1, 7, 8, 14]


def test_quiet_hours_hold_webhooks_and_sms_but_not_the_inbox(engine):
    firm = setup(engine, 1)[0]
    with Receiver() as hook, Receiver() as gw:
        cfg = config(sms_url=gw.url)
        with write_scope(engine) as s:
            register(s, firm[0], hook.url, "", "t", firm[1], local("2026-12-07", 12), cfg)
            update(s, firm[0], {"sms_phone": "13812345678"}, "t", firm[1], local("2026-12-07", 12))
        evening = local("2026-12-07", 22, 30)
        with write_scope(engine) as s:
            result = enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), evening, config=cfg)
        due = {c.channel.partition(":")[0]: c.due_at for c in result.channels}
        assert due["inbox"] == evening and due["webhook"] == due["sms"] == local("2026-12-08", 8)
        channels = [InboxChannel(engine), WebhookChannel(engine, cfg), SmsChannel(engine, cfg)]
        deliver_due(engine, evening + dt.timedelta(minutes=1), channels, config=cfg)
        assert _inbox(engine, firm[0]) == [("2026-W50", ["xina-jiuye-buzhu"])]  # the inbox at once
        deliver_due(engine, local("2026-12-08", 7, 59), channels, config=cfg)
        assert not hook.requests and not gw.requests
        deliver_due(engine, local("2026-12-08", 8, 0), channels, config=cfg)
        assert len(hook.requests) == 1 and len(gw.requests) == 1
    assert {m.state for m in outbox(engine)} == {"sent"}


def test_a_retry_that_falls_in_quiet_hours_waits_for_the_morning(engine):
    firm = setup(engine, 1)[0]
    cfg = config(quiet_hours=(dt.time(21), dt.time(8)))
    with Receiver(lambda n, r: 500 if n == 1 else 200) as hook:
        with write_scope(engine) as s:
            register(s, firm[0], hook.url, "", "t", firm[1], local("2026-12-07", 12), cfg)
            update(s, firm[0], {"channels": {"inbox": False}}, "t", firm[1], local("2026-12-07", 12))
            enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), local("2026-12-07", 20, 59), config=cfg)
        channel = WebhookChannel(engine, cfg)
        deliver_due(engine, local("2026-12-07", 20, 59), [channel], config=cfg)  # fails; retry within a minute
        (m,) = outbox(engine)
        assert m.state == "failed"
        deliver_due(engine, local("2026-12-07", 21, 1), [channel], config=cfg)  # due, but quiet now
        (m,) = outbox(engine)
        assert m.state == "failed" and m.attempts == 1 and len(hook.requests) == 1
        assert m.next_attempt_at.replace(tzinfo=dt.UTC) == local("2026-12-08", 8)
        deliver_due(engine, local("2026-12-08", 8, 0), [channel], config=cfg)
    (m,) = outbox(engine)
    assert m.state == "sent" and m.attempts == 2 and len(hook.requests) == 2


def test_quiet_hours_can_be_turned_off(engine):
    firm = setup(engine, 1)[0]
    cfg = config(quiet_hours=None)
    with Receiver() as hook:
        with write_scope(engine) as s:
            register(s, firm[0], hook.url, "", "t", firm[1], local("2026-12-07", 12), cfg)
            night = local("2026-12-07", 23, 30)
            enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), night, config=cfg)
        deliver_due(engine, night, [WebhookChannel(engine, cfg)], config=cfg)
    assert len(hook.requests) == 1


def test_an_opted_out_channel_gets_nothing_even_a_message_already_waiting(engine):
    firm, other = setup(engine, 2)
    with Receiver() as hook, Receiver() as gw:
        cfg = config(sms_url=gw.url)
        noon = local("2026-12-07", 12)
        with write_scope(engine) as s:
            register(s, firm[0], hook.url, "", "t", firm[1], noon, cfg)
            update(s, firm[0], {"channels": {"webhook": False}, "sms_phone": "13812345678"}, "t", firm[1], noon)
        with write_scope(engine) as s:  # at night: the SMS waits for 08:00
            result = enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), local("2026-12-07", 23), config=cfg)
        status = {c.channel: c.status for c in result.channels}
        assert status == {"inbox": "queued", "webhook": "opted_out", "sms": "queued"}
        with write_scope(engine) as s:  # the firm turns SMS off before the morning
            update(s, firm[0], {"channels": {"sms": False}}, "t", firm[1], local("2026-12-07", 23, 30))
        channels = [InboxChannel(engine), WebhookChannel(engine, cfg), SmsChannel(engine, cfg)]
        deliver_due(engine, local("2026-12-08", 9), channels, config=cfg)
        assert not hook.requests and not gw.requests
        states = {m.channel: (m.state, m.last_error) for m in outbox(engine)}
        assert states["inbox"] == ("sent", None) and states["sms"] == ("dead", "企业已关闭该渠道，不再发送")
        # every channel off: no message at all, and nothing recorded as pushed
        with write_scope(engine) as s:
            update(s, other[0], {"channels": {"inbox": False, "webhook": False, "sms": False}}, "t", other[1], noon)
            result = enqueue(s, bundle(other, "2026-W50", item("xina-jiuye-buzhu")), noon, config=cfg)
        assert result.outcome == "no_channel"
    with session_scope(engine) as s:
        assert s.scalar(select(PushedItem).where(PushedItem.enterprise_id == other[0])) is None


def test_sms_needs_a_gateway_and_a_number(engine):
    firm = setup(engine, 1)[0]
    noon = local("2026-12-07", 12)
    with write_scope(engine) as s:
        r1 = enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), noon, config=config(), dry_run=True)
        r2 = enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), noon,
                     config=config(sms_url="http://127.0.0.1:9/sms"), dry_run=True)  # fmt: skip
    assert {c.channel: c.status for c in r1.channels}["sms"] == "not_configured"
    assert {c.channel: c.status for c in r2.channels}["sms"] == "no_contact"
    assert r1.dry_run and r1.queued and not outbox(engine)  # a dry run writes nothing


def test_outcomes_become_events_the_ranker_reads(engine):
    """push, delivered, open and view are recorded once each, with stable ids; the ranker's loader and labels
    read the push and the view (the message-level delivered and open carry no policy and are not read)."""
    from models.labels import graded_labels
    from service.ranking import load_events

    firm = setup(engine, 1)[0]
    cfg = config()
    now = local("2026-12-07", 10)
    items = [item("xina-jiuye-buzhu"), item("yanfa-feiyong-buzhu"), item("wengang-fanhuan", group="auto_paid")]
    _run(engine, bundle(firm, "2026-W50", *items), now, cfg)
    deliver_due(engine, now + dt.timedelta(days=1), [InboxChannel(engine)], config=cfg)  # a rerun: nothing new
    with session_scope(engine) as s:
        entry = s.scalar(select(InboxEntry))
    for _ in range(2):  # opened twice, the second policy viewed twice: recorded once each
        with write_scope(engine) as s:
            mark_read(s, entry.id, firm[0], now + dt.timedelta(hours=3), "yanfa-feiyong-buzhu")
    with session_scope(engine) as s:
        kinds = sorted(e.kind for e in s.scalars(select(Event)))
        first_read = s.scalar(select(InboxEntry.read_at))
    assert kinds == ["delivered", "open", "push", "push", "push", "view"]
    assert first_read is not None
    events = load_events(engine)
    assert sorted(events["kind"]) == ["push", "push", "push", "view"]
    labels = graded_labels(events)
    assert set(labels["query"]) == {f"{firm[1]}|2026-W50"}  # the bundle period is the push round
    graded = dict(zip(labels["policy"], labels["label"]))
    assert graded == {"xina-jiuye-buzhu": 0, "yanfa-feiyong-buzhu": 1}  # the 免申即享 notice makes no query
    assert sorted(labels["rank"]) == [1, 2]


def test_a_batch_is_decided_as_its_bundles_one_at_a_time(engine):
    """A round queues its bundles in batches (a few statements for hundreds of firms): each gets what it would
    alone — opted out, already queued, queued, and a second bundle of one firm in the same batch capped by the
    first — and an unknown policy refuses the whole batch, writing nothing."""
    from service.push import enqueue_many
    from service.push.errors import BundleError

    firms = setup(engine, 5)
    cfg = config()
    now = local("2026-12-07", 9, 30)
    week = _week(START)
    with write_scope(engine) as s:
        update(s, firms[0][0], {"channels": {"inbox": False}}, "enterprise:t", firms[0][1], now)
    _run(engine, bundle(firms[1], week, item("xina-jiuye-buzhu")), now, cfg)
    batch = [
        bundle(firms[0], week, item("xina-jiuye-buzhu")),
        bundle(firms[1], week, item("wengang-fanhuan")),
        bundle(firms[2], week, item("xina-jiuye-buzhu"), item("wengang-fanhuan", group="auto_paid")),
        bundle(firms[3], week, item("xina-jiuye-buzhu")),
        bundle(firms[3], "new:wengang-fanhuan", item("wengang-fanhuan")),
        bundle(firms[4], week),
    ]
    unknown = dataclasses.replace(item("xina-jiuye-buzhu"), policy_id="no-such-policy")
    with pytest.raises(BundleError, match="no-such-policy 不存在"), write_scope(engine) as s:
        enqueue_many(s, [*batch, bundle(firms[4], week, unknown)], now, config=cfg)
    assert len(outbox(engine)) == 1  # the refused batch wrote nothing
    with write_scope(engine) as s:
        results = enqueue_many(s, batch, now, config=cfg)
    assert [r.outcome for r in results] == ["no_channel", "already_queued", "queued", "queued", "capped", "empty"]
    assert results[2].items == ("xina-jiuye-buzhu", "wengang-fanhuan") and len(results[2].message_ids) == 1
    messages = outbox(engine)
    assert sorted((m.enterprise_id, m.period) for m in messages) == sorted(
        [(firms[1][0], week), (firms[2][0], week), (firms[3][0], week)]
    )
    with session_scope(engine) as s:
        pushes = s.scalars(select(Event.enterprise_id).where(Event.kind == "push")).all()
        assert sorted(pushes) == sorted([firms[1][0], firms[2][0], firms[2][0], firms[3][0]])
        assert len(s.scalars(select(PushedItem)).all()) == 4
    with write_scope(engine) as s:  # again: everything this week is queued already
        again = enqueue_many(s, batch[2:4], now, config=cfg)
    assert [r.outcome for r in again] == ["already_queued", "already_queued"] and len(outbox(engine)) == 3
    twice = bundle(firms[4], week, item("xina-jiuye-buzhu"))  # the same bundle handed over twice: sent once
    with write_scope(engine) as s:
        assert [r.outcome for r in enqueue_many(s, [twice, twice], now, config=cfg)] == ["queued", "already_queued"]
    assert len(outbox(engine)) == 4
