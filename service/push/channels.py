"""One interface for every way a bundle reaches an enterprise.

A :class:`Channel` has a ``name`` (the kind: ``inbox``, ``webhook``, ``sms``), says whether it waits out quiet
hours (``quiet``), and ``send``\\ s one :class:`Message`: it returns (a receipt, or None) when the receiver has
acknowledged it, and raises :class:`~service.push.errors.RetryableError` or
:class:`~service.push.errors.PermanentError` when not. Anything else it raises counts as retryable. A channel
may be called again with a message it already delivered (a run killed between the receiver's answer and the
outbox's record of it): the message id is the receiver's to drop duplicates by.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from service.push.bundle import GROUPS

QUIET = {"inbox": False, "webhook": True, "sms": True}  # which kinds wait out quiet hours (docs/push.md)


@dataclass(frozen=True)
class Message:
    """An outbox message as a channel sends it."""

    message_id: str
    channel: str  # "inbox", "sms" or "webhook:<endpoint id>"
    enterprise_id: int
    uscc: str
    enterprise_name: str
    period: str
    items: tuple[dict, ...]  # BundleItem.as_dict() with its "rank" in the message
    created_at: dt.datetime
    attempt: int = 1  # this is the attempt-th try

    @property
    def kind(self) -> str:
        return self.channel.partition(":")[0]

    @property
    def target(self) -> str:
        """The endpoint within the kind (a webhook's id), or ''."""
        return self.channel.partition(":")[2]

    def title(self) -> str:
        return f"政策包（{self.period}）：{summary(self.items)}"

    def document(self) -> dict:
        """The message as JSON for a receiver: the same on every attempt."""
        return {
            "message_id": self.message_id,
            "period": self.period,
            "enterprise": {"uscc": self.uscc, "name": self.enterprise_name},
            "title": self.title(),
            "items": list(self.items),
            "created_at": self.created_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        }


@runtime_checkable
class Channel(Protocol):
    name: str
    quiet: bool

    def send(self, message: Message) -> str | None: ...


def summary(items) -> str:
    """``可立即申报 2 项、可能符合 1 项``: the items counted by group, in the groups' order."""
    counts = {g: 0 for g in GROUPS}
    for item in items:
        counts[item["group"]] += 1
    short = {"auto_paid": "已自动兑现", "apply_now": "可立即申报", "maybe": "可能符合"}
    return "、".join(f"{short[g]} {n} 项" for g, n in counts.items() if n)


def default_channels(engine, config=None) -> list[Channel]:
    """The inbox, webhooks and (when ``ZHIDA_SMS_URL`` is set) the SMS gateway, as configured."""
    from service.push.inbox import InboxChannel
    from service.push.sms import SmsChannel
    from service.push.webhooks import WebhookChannel
    from service.settings import settings

    config = config or settings().push
    out: list[Channel] = [InboxChannel(engine), WebhookChannel(engine, config)]
    if config.sms_url:
        out.append(SmsChannel(engine, config))
    return out
