"""The push endpoints over HTTP: the inbox shows an enterprise only its own messages (another firm named: 403;
another firm's message id: 404), opening is recorded once; preferences and webhooks for the enterprise key;
the outbox and its dead letters for officers."""

from __future__ import annotations

import datetime as dt

import pytest
from push_world import config
from sqlalchemy import select

from service.push import Bundle, BundleItem, deliver_due, enqueue
from service.push.inbox import InboxChannel
from service.store import session_scope, write_scope
from service.store.models import AuditRecord, Enterprise, Event, OutboxMessage, Policy, Webhook

NOW = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def _h(key, idem=None):
    headers = {"Authorization": f"Bearer {key}"}
    if idem:
        headers["Idempotency-Key"] = idem
    return headers


@pytest.fixture
def inboxes(app, keys, engine):
    """A delivered bundle in the inbox of the key's firm and of another firm."""
    with session_scope(engine) as s:
        slugs = s.scalars(select(Policy.slug).order_by(Policy.slug).limit(2)).all()
        firms = {u: s.scalar(select(Enterprise.id).where(Enterprise.uscc == u)) for u in (keys["own"], keys["other"])}
    items = tuple(
        BundleItem(slug, "apply_now", f"政策{slug}", "1000.00", "2026-12-31", "符合全部条件", f"/policies/{slug}")
        for slug in slugs
    )
    for uscc, ent_id in firms.items():
        with write_scope(engine) as s:
            assert enqueue(s, Bundle(ent_id, uscc, "2026-W50", items), NOW, config=config()).queued
    deliver_due(engine, NOW, [InboxChannel(engine)], config=config())
    return slugs


def test_the_inbox_shows_an_enterprise_only_its_own_messages(app, keys, engine, inboxes):
    c = app.test_client()
    own = c.get("/api/inbox", headers=_h(keys["enterprise"]))
    assert own.status_code == 200, own.json
    assert own.json["uscc"] == keys["own"] and own.json["unread"] == 1 and own.json["total"] == 1
    entry = own.json["items"][0]
    assert entry["uscc"] == keys["own"] and [i["policy_id"] for i in entry["items"]] == inboxes
    assert entry["title"] == "政策包（2026-W50）：可立即申报 2 项" and entry["read"] is False
    assert c.get(f"/api/inbox?uscc={keys['own']}", headers=_h(keys["enterprise"])).json["total"] == 1
    other = c.get(f"/api/inbox?uscc={keys['other']}", headers=_h(keys["enterprise"]))
    assert other.status_code == 403 and other.json["detail"] == "企业密钥只能访问本企业的数据"
    staff = c.get(f"/api/inbox?uscc={keys['other']}", headers=_h(keys["officer"]))
    assert staff.status_code == 200 and staff.json["uscc"] == keys["other"] and staff.json["total"] == 1
    assert c.get("/api/inbox", headers=_h(keys["officer"])).status_code == 400  # staff name the firm
    assert c.get("/api/inbox?limit=0", headers=_h(keys["enterprise"])).status_code == 400

    theirs = staff.json["items"][0]["id"]
    r = c.post(f"/api/inbox/{theirs}/read", json={}, headers=_h(keys["enterprise"], "read-theirs"))
    assert r.status_code == 404 and r.json["type"] == "urn:zhida:problem:not-found"
    r = c.post("/api/inbox/999999/read", json={}, headers=_h(keys["enterprise"], "read-none"))
    assert r.status_code == 404 and r.json["detail"] == "消息 999999 不存在"  # the same answer as another's
    r = c.post(f"/api/inbox/{theirs}/read", json={}, headers=_h(keys["officer"], "read-staff"))
    assert r.status_code == 403

    mine = entry["id"]
    r = c.post(f"/api/inbox/{mine}/read", headers=_h(keys["enterprise"], "read-1"))  # no body at all
    assert r.status_code == 200 and r.json["read"] is True
    first = r.json["read_at"]
    r = c.post(f"/api/inbox/{mine}/read", json={"policy_id": inboxes[1]}, headers=_h(keys["enterprise"], "read-2"))
    assert r.status_code == 200 and r.json["read_at"] == first  # the first opening is kept
    r = c.post(f"/api/inbox/{mine}/read", json={"policy_id": "no-such"}, headers=_h(keys["enterprise"], "read-3"))
    assert r.status_code == 422 and r.json["field"] == "policy_id"
    assert c.get("/api/inbox?unread=1", headers=_h(keys["enterprise"])).json["total"] == 0
    with session_scope(engine) as s:
        own_id = s.scalar(select(Enterprise.id).where(Enterprise.uscc == keys["own"]))
        kinds = sorted(
            e.kind for e in s.scalars(select(Event).where(Event.enterprise_id == own_id, Event.event_id.is_not(None)))
            if e.kind in ("open", "view", "delivered")
        )  # fmt: skip
    assert kinds == ["delivered", "open", "view"]  # opened twice: one open event


def test_preferences_are_the_enterprises_own(app, keys, engine):
    c = app.test_client()
    url = f"/api/enterprises/{keys['own']}/push-preferences"
    got = c.get(url, headers=_h(keys["enterprise"]))
    assert got.status_code == 200
    assert {k: v["enabled"] for k, v in got.json["channels"].items()} == {"inbox": True, "webhook": True, "sms": True}
    assert got.json["channels"]["sms"]["reachable"] is False and got.json["channels"]["sms"]["note"] == "未登记手机号"
    body = {"channels": {"sms": False, "webhook": False}, "sms_phone": "13812345678"}
    put = c.put(url, json=body, headers=_h(keys["enterprise"]))
    assert put.status_code == 200, put.json
    assert put.json["sms_phone"] == "138****5678" and put.json["channels"]["sms"]["note"] == "已退订"
    assert c.get(url, headers=_h(keys["officer"])).json["channels"]["webhook"]["enabled"] is False
    bad = c.put(url, json={"sms_phone": "12345"}, headers=_h(keys["enterprise"]))
    assert bad.status_code == 422 and bad.json["field"] == "sms_phone"
    assert c.put(url, json={"channels": {"fax": True}}, headers=_h(keys["enterprise"])).status_code == 400
    assert c.put(url, json={}, headers=_h(keys["enterprise"])).status_code == 400
    other = f"/api/enterprises/{keys['other']}/push-preferences"
    assert c.put(other, json=body, headers=_h(keys["enterprise"])).status_code == 403
    assert c.put(url, json=body, headers=_h(keys["officer"])).status_code == 403
    with session_scope(engine) as s:
        actions = [a.action for a in s.scalars(select(AuditRecord).where(AuditRecord.action == "push.preferences"))]
        payload = s.scalars(select(AuditRecord).where(AuditRecord.action == "push.preferences")).first().payload
    assert actions == ["push.preferences"] and payload["sms_phone"] == "138****5678"  # the number is not logged


def test_webhooks_register_list_and_remove(app, keys, engine, monkeypatch):
    c = app.test_client()
    url = f"/api/enterprises/{keys['own']}/webhooks"
    refused = c.post(url, json={"url": "http://127.0.0.1:9/hook"}, headers=_h(keys["enterprise"], "w-1"))
    assert refused.status_code == 422 and refused.json["field"] == "url"
    monkeypatch.setenv("ZHIDA_PUSH_WEBHOOK_PRIVATE", "1")
    body = {"url": "http://127.0.0.1:9/hook", "description": "ERP"}
    made = c.post(url, json=body, headers=_h(keys["enterprise"], "w-2"))
    assert made.status_code == 201, made.json
    assert made.json["secret"].startswith("whsec_") and made.json["channel"] == f"webhook:{made.json['id']}"
    listed = c.get(url, headers=_h(keys["enterprise"]))
    assert [h["id"] for h in listed.json["items"]] == [made.json["id"]] and "secret" not in listed.json["items"][0]
    assert c.get(f"/api/enterprises/{keys['other']}/webhooks", headers=_h(keys["enterprise"])).status_code == 403
    by_system = c.post(f"/api/enterprises/{keys['other']}/webhooks", json={"url": "http://127.0.0.1:9/x"},
                       headers=_h(keys["system"], "w-3"))  # fmt: skip
    assert by_system.status_code == 201
    theirs = f"/api/enterprises/{keys['own']}/webhooks/{by_system.json['id']}"  # another firm's id under our firm
    assert c.delete(theirs, headers=_h(keys["enterprise"])).status_code == 404
    assert c.delete(f"{url}/{made.json['id']}", headers=_h(keys["enterprise"])).status_code == 204
    assert c.delete(f"{url}/{made.json['id']}", headers=_h(keys["enterprise"])).status_code == 404
    assert c.get(url, headers=_h(keys["enterprise"])).json["items"] == []
    with session_scope(engine) as s:
        assert s.get(Webhook, made.json["id"]).disabled_at is not None
        actions = [a.action for a in s.scalars(select(AuditRecord).where(AuditRecord.action.like("webhook.%")))]
    assert actions == ["webhook.register", "webhook.register", "webhook.remove"]


def test_officers_see_dead_letters_and_send_them_again(app, keys, engine, inboxes):
    c = app.test_client()
    with write_scope(engine) as s:
        row = s.scalar(select(OutboxMessage).order_by(OutboxMessage.id))
        row.state, row.attempts, row.last_error = "dead", 8, "连续失败 8 次：接收方答复 HTTP 500"
        row_id = row.id
    listed = c.get("/api/push/messages?state=dead", headers=_h(keys["officer"]))
    assert listed.status_code == 200 and [m["id"] for m in listed.json["items"]] == [row_id]
    assert listed.json["items"][0]["last_error"].startswith("连续失败")
    assert c.get("/api/push/messages?state=lost", headers=_h(keys["officer"])).status_code == 400
    assert c.get("/api/push/messages", headers=_h(keys["enterprise"])).status_code == 403
    again = c.post(f"/api/push/messages/{row_id}/retry", headers=_h(keys["officer"], "retry-1"))
    assert again.status_code == 200 and again.json["state"] == "pending" and again.json["attempts"] == 0
    twice = c.post(f"/api/push/messages/{row_id}/retry", headers=_h(keys["officer"], "retry-2"))
    assert twice.status_code == 409
    assert c.post("/api/push/messages/99999/retry", headers=_h(keys["officer"], "retry-3")).status_code == 404


def test_the_cli_delivers_lists_and_sends_a_dead_message_again(engine, db_url, monkeypatch):
    from click.testing import CliRunner
    from push_world import bundle, item, setup

    from service.cli import main

    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    firm = setup(engine, 1)[0]
    with write_scope(engine) as s:
        enqueue(s, bundle(firm, "2026-W50", item("xina-jiuye-buzhu")), dt.datetime.now(dt.UTC), config=config())
    run = CliRunner().invoke
    out = run(main, ["outbox", "deliver", "--channel", "inbox"])
    assert out.exit_code == 0 and "送达 1 条" in out.output, out.output
    out = run(main, ["outbox", "list", "--state", "sent"])
    assert out.exit_code == 0 and firm[1] in out.output and "共 1 条" in out.output
    refused = run(main, ["outbox", "retry", "1", "--by", "张三"])
    assert refused.exit_code == 1 and "只有发送失败或已放弃的消息可以重发" in refused.output
    with write_scope(engine) as s:
        s.scalar(select(OutboxMessage)).state = "dead"
    again = run(main, ["outbox", "retry", "1", "--by", "张三"])
    assert again.exit_code == 0 and "已重新排队" in again.output
