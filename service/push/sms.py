"""An SMS gateway adapter for a generic HTTP gateway: ``POST`` JSON ``{"to", "text", "message_id"}`` with the
API key in a header (``ZHIDA_SMS_URL``, ``ZHIDA_SMS_API_KEY``, ``ZHIDA_SMS_KEY_HEADER``). The text is a short
Chinese summary of the bundle with a link; the number is the one the enterprise registered (push_contacts)."""

from __future__ import annotations

import httpx

from service.push.channels import QUIET, Message, summary
from service.push.errors import PermanentError, RetryableError
from service.push.preferences import phone
from service.store import read_scope

NAME_CHARS = 16  # of the first policy's name in the text


def sms_text(message: Message, public_url: str) -> str:
    """``【直达】贵企业本期有 3 项惠企政策：可立即申报 2 项、可能符合 1 项。首项「…」（约 30000.00 元）。详情 …``"""
    first = message.items[0]
    name = first["name"] if len(first["name"]) <= NAME_CHARS else first["name"][: NAME_CHARS - 1] + "…"
    amount = f"（{first['amount']} 元）" if first.get("amount") else ""
    return (
        f"【直达】贵企业本期有 {len(message.items)} 项惠企政策：{summary(message.items)}。"
        f"首项「{name}」{amount}。详情 {public_url}{first['link']}"
    )


class SmsChannel:
    """One SMS per message. A 2xx answer delivers it; 408, 429, a 5xx, a timeout or a refused connection is
    retried; any other 4xx (a number the gateway refuses) is permanent."""

    name = "sms"
    quiet = QUIET["sms"]

    def __init__(self, engine, config, client: httpx.Client | None = None):
        if not config.sms_url:
            raise ValueError("ZHIDA_SMS_URL 未设置：没有可用的短信网关")
        self.engine = engine
        self.config = config
        self.client = client or httpx.Client(timeout=httpx.Timeout(config.timeout), follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def send(self, message: Message) -> str | None:
        with read_scope(self.engine) as session:
            number = phone(session, message.enterprise_id)
        if not number:
            raise PermanentError("企业未登记接收短信的手机号")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.config.sms_key:
            headers[self.config.sms_key_header] = self.config.sms_key
        body = {"to": number, "text": sms_text(message, self.config.public_url), "message_id": message.message_id}
        try:
            answer = self.client.post(self.config.sms_url, json=body, headers=headers)
        except httpx.TimeoutException as e:
            raise RetryableError(f"短信网关超时（{self.config.timeout:g} 秒）：{type(e).__name__}") from e
        except httpx.HTTPError as e:
            raise RetryableError(f"短信网关连接失败：{type(e).__name__}: {e}"[:500]) from e
        if 200 <= answer.status_code < 300:
            return f"HTTP {answer.status_code}"
        detail = answer.text[:200]
        if answer.status_code in (408, 429) or answer.status_code >= 500:
            raise RetryableError(f"短信网关答复 HTTP {answer.status_code}：{detail}")
        raise PermanentError(f"短信网关拒绝（HTTP {answer.status_code}）：{detail}")
