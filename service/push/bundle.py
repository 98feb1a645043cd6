"""A 政策包 as the outbox takes it: one enterprise, one bundle period, its items in their order.

Whoever assembles the bundle (ranked by the ranker, gated by the rules) hands it over as a :class:`Bundle`;
the outbox decides what of it goes out and where (service.push.outbox).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

GROUPS = {
    "auto_paid": "已为您自动兑现",
    "apply_now": "可立即申报",
    "maybe": "可能符合，请补充信息",
}
_AMOUNT = re.compile(r"\d{1,16}\.\d{2}")


@dataclass(frozen=True)
class BundleItem:
    policy_id: str  # policy slug
    group: str  # "auto_paid" (已为您自动兑现) | "apply_now" (可立即申报) | "maybe" (可能符合，请补充信息)
    name: str  # policy name (Chinese)
    amount: str | None  # yuan, two places, as text (Decimal-formatted)
    deadline: str | None  # ISO date
    reason: str  # Chinese sentence: why it is in the bundle
    link: str  # relative URL of the policy/self-test page
    to_declare: tuple[str, ...] = ()  # Chinese labels of facts to declare (group "maybe")

    def __post_init__(self):
        if self.group not in GROUPS:
            raise ValueError(f"政策包分组 {self.group!r} 无效（应为 {'、'.join(GROUPS)} 之一）")
        if not self.policy_id or not self.name:
            raise ValueError("政策包条目须有政策编号和名称")
        if self.amount is not None and not _AMOUNT.fullmatch(self.amount):
            raise ValueError(f"{self.policy_id}：金额应为元、两位小数的文本（收到 {self.amount!r}）")
        if self.deadline is not None:
            dt.date.fromisoformat(self.deadline)  # ValueError for anything but YYYY-MM-DD
        if not self.link.startswith("/"):
            raise ValueError(f"{self.policy_id}：链接应为以 / 开头的站内地址（收到 {self.link!r}）")
        object.__setattr__(self, "to_declare", tuple(self.to_declare))

    def fingerprint(self) -> str:
        """SHA-256 of what the enterprise would see change: the group, the amount, the deadline and what to
        declare. The wording of the reason and the link are not in it: a new sentence is no news."""
        seen = [self.group, self.amount, self.deadline, list(self.to_declare)]
        return hashlib.sha256(json.dumps(seen, ensure_ascii=False).encode()).hexdigest()

    @property
    def group_label(self) -> str:
        return GROUPS[self.group]

    def as_dict(self) -> dict:
        """The item as messages carry it (JSON)."""
        return {
            "policy_id": self.policy_id,
            "group": self.group,
            "group_label": self.group_label,
            "name": self.name,
            "amount": self.amount,
            "deadline": self.deadline,
            "reason": self.reason,
            "to_declare": list(self.to_declare),
            "link": self.link,
        }


@dataclass(frozen=True)
class Bundle:
    enterprise_id: int
    uscc: str
    period: str  # e.g. "2026-W49": the bundle period (one bundle per enterprise per period)
    items: tuple[BundleItem, ...]

    def __post_init__(self):
        if not self.period or len(self.period) > 32:
            raise ValueError(f"政策包周期应为 1–32 个字符（收到 {self.period!r}）")
        object.__setattr__(self, "items", tuple(self.items))
        slugs = [item.policy_id for item in self.items]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"{self.uscc} {self.period}：政策包中同一政策出现多次")
