"""What the push tests share: firms and policies in a store, bundles, settings, and real HTTP receivers on
127.0.0.1 (a webhook endpoint, an SMS gateway) that record every request and answer as told."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

from sqlalchemy import select

from matcher.uscc import make
from service.push import Bundle, BundleItem
from service.settings import PushSettings
from service.store import session_scope
from service.store.models import Enterprise, OutboxMessage, Policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICIES = {
    "xina-jiuye-buzhu": "一次性吸纳就业补贴",
    "yanfa-feiyong-buzhu": "企业研发费用后补助",
    "wengang-fanhuan": "失业保险稳岗返还",
    "gaoqi-chongxin-rending": "高新技术企业重新认定奖励",
}


def local(day: str, hour: int, minute: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time, in UTC."""
    d = dt.date.fromisoformat(day)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


def config(**changes) -> PushSettings:
    """The defaults, with receivers on 127.0.0.1 allowed."""
    return dataclasses.replace(PushSettings(), **{"webhook_private": True, **changes})


def setup(engine, firms: int = 2) -> list[tuple[int, str]]:
    """``firms`` enterprises and the policies of :data:`POLICIES`; returns ``[(id, uscc)]``."""
    with session_scope(engine) as s:
        for slug in POLICIES:
            s.add(Policy(slug=slug, status="published"))
        ents = [
            Enterprise(uscc=make("320102", 9000 + i), name=f"南京测试{i}号有限公司", region="320102", industry="C3911")
            for i in range(firms)
        ]
        s.add_all(ents)
        s.flush()
        return [(e.id, e.uscc) for e in ents]


def item(slug: str, group: str = "apply_now", amount: str | None = "30000.00", deadline="2026-12-31", **kw):
    return BundleItem(
        policy_id=slug,
        group=group,
        name=POLICIES[slug],
        amount=amount,
        deadline=deadline,
        reason=kw.pop("reason", "贵企业符合全部条件，可立即申报"),
        link=f"/policies/{slug}",
        **kw,
    )


def bundle(firm: tuple[int, str], period: str, *items: BundleItem) -> Bundle:
    return Bundle(enterprise_id=firm[0], uscc=firm[1], period=period, items=tuple(items))


def outbox(engine) -> list[OutboxMessage]:
    with session_scope(engine) as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@dataclasses.dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    status: int | None  # None: no answer (the sender was killed first)

    @property
    def message_id(self) -> str:
        return self.headers.get("X-Zhida-Message-Id") or json.loads(self.body).get("message_id")

    def json(self):
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on 127.0.0.1 answering ``answer(n, received) -> status`` (n counts from 1; a status of
    None sends no answer and closes the connection)."""

    def __init__(self, answer=None):
        self.answer = answer or (lambda n, r: 200)
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got = Received(self.path, dict(self.headers), body, None)
                with receiver.lock:
                    receiver.requests.append(got)
                    n = len(receiver.requests)
                status = receiver.answer(n, got)
                if status is None:
                    self.close_connection = True
                    return
                got.status = status
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def acknowledged(self) -> list[Received]:
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]
