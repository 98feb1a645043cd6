"""An enterprise's say over its pushes: each channel on or off, and the mobile number its SMS go to.

No row means on: an enterprise hears from the platform in its inbox and through the webhooks it registered
unless it says otherwise. SMS needs a number the enterprise registered (the register has no contact field,
docs/fields.md), so registering one is what turns SMS on.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit
from service.errors import Unprocessable
from service.push._sql import insert
from service.store.models import PUSH_CHANNELS, PushContact, PushPreference, Webhook

_MOBILE = re.compile(r"1[3-9]\d{9}")
LABELS = {"inbox": "站内信", "webhook": "Webhook", "sms": "短信"}


def normalize_phone(raw: str) -> str:
    """A mainland mobile number, 11 digits from 13–19 (``+86``, spaces and hyphens allowed around it)."""
    digits = re.sub(r"[\s-]", "", raw or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not _MOBILE.fullmatch(digits):
        raise Unprocessable("sms_phone：应为 11 位中国大陆手机号码，如 13812345678", field="sms_phone")
    return digits


def enabled(session: Session, enterprise_id: int) -> dict[str, bool]:
    """Each channel kind: on (True) unless the enterprise turned it off."""
    return enabled_of(session, [enterprise_id])[enterprise_id]


def phone(session: Session, enterprise_id: int) -> str | None:
    return phones_of(session, [enterprise_id]).get(enterprise_id)


def active_webhooks(session: Session, enterprise_id: int) -> list[int]:
    return webhooks_of(session, [enterprise_id])[enterprise_id]


# -- for many enterprises at once (a bundle round's batch): one statement each --------------------------------


def enabled_of(session: Session, ids) -> dict[int, dict[str, bool]]:
    out = {i: dict.fromkeys(PUSH_CHANNELS, True) for i in ids}
    rows = session.execute(
        select(PushPreference.enterprise_id, PushPreference.channel, PushPreference.enabled).where(
            PushPreference.enterprise_id.in_(out)
        )
    )
    for eid, channel, on in rows:
        out[eid][channel] = bool(on)
    return out


def phones_of(session: Session, ids) -> dict[int, str]:
    rows = session.execute(
        select(PushContact.enterprise_id, PushContact.sms_phone).where(
            PushContact.enterprise_id.in_(list(ids)), PushContact.sms_phone.is_not(None)
        )
    )
    return dict(rows.all())


def webhooks_of(session: Session, ids) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in ids}
    rows = session.execute(
        select(Webhook.enterprise_id, Webhook.id)
        .where(Webhook.enterprise_id.in_(out), Webhook.disabled_at.is_(None))
        .order_by(Webhook.id)
    )
    for eid, hook in rows:
        out[eid].append(hook)
    return out


def describe(session: Session, enterprise_id: int, config) -> dict:
    """The preferences as the API shows them: each channel, whether it is on, and whether a bundle would
    reach the enterprise through it now (and why not)."""
    on = enabled(session, enterprise_id)
    number = phone(session, enterprise_id)
    hooks = active_webhooks(session, enterprise_id)
    why = {
        "inbox": None,
        "webhook": None if hooks else "未登记 Webhook",
        "sms": None if number and config.sms_url else ("未登记手机号" if not number else "平台未配置短信网关"),
    }
    channels = {
        kind: {
            "label": LABELS[kind],
            "enabled": on[kind],
            "reachable": on[kind] and why[kind] is None,
            "note": "已退订" if not on[kind] else why[kind],
        }
        for kind in PUSH_CHANNELS
    }
    return {"channels": channels, "sms_phone": _masked(number), "webhooks": len(hooks)}


def _masked(number: str | None) -> str | None:
    return None if number is None else f"{number[:3]}****{number[-4:]}"


def update(session: Session, enterprise_id: int, changes: dict, actor: str, subject: str, now: dt.datetime) -> None:
    """Apply ``{"channels": {kind: bool}, "sms_phone": "…" | null}`` (each part optional), audited."""
    for kind, on in (changes.get("channels") or {}).items():
        stmt = insert(session, PushPreference.__table__).values(
            enterprise_id=enterprise_id, channel=kind, enabled=bool(on), updated_at=now, updated_by=actor
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["enterprise_id", "channel"],
                set_={"enabled": stmt.excluded.enabled, "updated_at": now, "updated_by": actor},
            )
        )
    if "sms_phone" in changes:
        number = None if changes["sms_phone"] in (None, "") else normalize_phone(changes["sms_phone"])
        stmt = insert(session, PushContact.__table__).values(
            enterprise_id=enterprise_id, sms_phone=number, updated_at=now, updated_by=actor
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["enterprise_id"], set_={"sms_phone": number, "updated_at": now, "updated_by": actor}
            )
        )
    shown = dict(changes)
    if shown.get("sms_phone"):
        shown["sms_phone"] = _masked(normalize_phone(shown["sms_phone"]))
    audit.append(session, actor, "push.preferences", subject, shown)
