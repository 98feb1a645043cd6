"""政策包 delivery: an outbox, channels behind one interface, and respect for the enterprise (docs/push.md).

    Bundle ──enqueue(session, bundle, now)──▶ push_outbox (one message per period and channel)
                 │  respect: opt-out, cap, quiet hours,          │
                 │  nothing unchanged (push_items)                │ deliver_due(engine, now, channels)
                 ▼                                                ▼
            events: push                    Channel.send ─▶ inbox_entries │ webhook (signed) │ SMS gateway
                                                 │
                                  sent ─▶ events: delivered;  failed ─▶ backoff;  dead after N
    inbox: open / view ─▶ events: open, view

Modules: ``bundle`` (what is handed over), ``outbox`` (enqueue; retry), ``delivery`` (deliver_due), ``channels`` (the
interface), ``inbox``, ``webhooks``, ``sms``, ``signing`` (the signature, for receivers too), ``respect``
(quiet hours, cap window, backoff: pure), ``preferences``, ``outcomes`` (events), ``errors``.
"""

from service.push.bundle import GROUPS, Bundle, BundleItem
from service.push.channels import Channel, Message, default_channels
from service.push.delivery import DeliveryReport, deliver_due
from service.push.errors import BundleError, DeliveryError, PermanentError, PushError, RetryableError
from service.push.inbox import InboxChannel
from service.push.outbox import EnqueueResult, enqueue, enqueue_many
from service.push.signing import sign, verify_signature
from service.push.sms import SmsChannel
from service.push.webhooks import WebhookChannel

__all__ = [
    "GROUPS",
    "Bundle",
    "BundleItem",
    "BundleError",
    "Channel",
    "DeliveryError",
    "DeliveryReport",
    "EnqueueResult",
    "InboxChannel",
    "Message",
    "PermanentError",
    "PushError",
    "RetryableError",
    "SmsChannel",
    "WebhookChannel",
    "default_channels",
    "deliver_due",
    "enqueue",
    "enqueue_many",
    "sign",
    "verify_signature",
]
