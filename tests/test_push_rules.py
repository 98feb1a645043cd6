"""The pure parts of push: what a bundle item's fingerprint sees, quiet hours across midnight, the cap's window
by local days, backoff with full jitter within its bounds, and the settings that configure them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from push_world import item, local

from service.errors import SetupError
from service.push import Bundle, BundleItem
from service.push.respect import backoff, cap_window_start, in_quiet_hours, quiet_until, repeat_due
from service.settings import PushSettings, settings

CFG = PushSettings()


def test_the_fingerprint_sees_what_the_enterprise_would_see_change():
    base = item("xina-jiuye-buzhu")
    assert base.fingerprint() == item("xina-jiuye-buzhu").fingerprint() and len(base.fingerprint()) == 64
    same = dataclasses.replace(base, reason="换一种说法", link="/v1/enterprises/x/self-test/p", name="改名")
    assert same.fingerprint() == base.fingerprint()
    for change in ({"amount": "30000.01"}, {"amount": None}, {"deadline": "2027-01-31"}, {"group": "maybe"},
                   {"to_declare": ("吸纳高校毕业生人数",)}):  # fmt: skip
        assert dataclasses.replace(base, **change).fingerprint() != base.fingerprint(), change


def test_a_bundle_item_refuses_what_it_cannot_carry():
    for bad in ({"group": "later"}, {"amount": "30000"}, {"amount": "3e4"}, {"deadline": "31/12/2026"},
                {"link": "https://elsewhere.cn/x"}, {"policy_id": ""}):  # fmt: skip
        with pytest.raises(ValueError):
            dataclasses.replace(item("xina-jiuye-buzhu"), **bad)
    with pytest.raises(ValueError, match="同一政策出现多次"):
        Bundle(1, "u", "2026-W50", (item("xina-jiuye-buzhu"), item("xina-jiuye-buzhu")))
    with pytest.raises(ValueError):
        Bundle(1, "u", "", ())
    assert BundleItem("p", "maybe", "名", None, None, "理由", "/p", ["a"]).to_declare == ("a",)  # list → tuple


def test_quiet_hours_span_midnight_in_local_time():
    assert not in_quiet_hours(local("2026-12-07", 20, 59), CFG)
    assert in_quiet_hours(local("2026-12-07", 21), CFG)
    assert in_quiet_hours(local("2026-12-08", 7, 59), CFG)
    assert not in_quiet_hours(local("2026-12-08", 8), CFG)
    assert quiet_until(local("2026-12-07", 23, 10), CFG) == local("2026-12-08", 8)
    assert quiet_until(local("2026-12-08", 3), CFG) == local("2026-12-08", 8)
    assert quiet_until(local("2026-12-08", 9), CFG) == local("2026-12-08", 9)
    day = dataclasses.replace(CFG, quiet_hours=(dt.time(12), dt.time(14)))  # a span within one day
    assert in_quiet_hours(local("2026-12-08", 13), day) and not in_quiet_hours(local("2026-12-08", 23), day)
    assert quiet_until(local("2026-12-08", 13), day) == local("2026-12-08", 14)
    assert not in_quiet_hours(local("2026-12-08", 23), dataclasses.replace(CFG, quiet_hours=None))


def test_the_cap_window_and_repeats_count_local_days():
    # 00:30 on the 8th in Shanghai is still the 7th in UTC: the window is by the enterprise's calendar
    assert cap_window_start(local("2026-12-14", 0, 30), CFG) == local("2026-12-08", 0)
    assert cap_window_start(local("2026-12-14", 23, 59), CFG) == local("2026-12-08", 0)
    assert not repeat_due(local("2026-12-07", 23, 59), local("2027-01-05", 0, 1), CFG)  # 29 local days
    assert repeat_due(local("2026-12-07", 23, 59), local("2027-01-06", 0, 1), CFG)  # 30


@given(st.integers(1, 40), st.floats(0.001, 1000), st.floats(1, 100_000), st.integers(0, 2**32))
def test_backoff_is_full_jitter_within_its_bounds(attempts, base, cap, seed):
    cfg = dataclasses.replace(CFG, retry_base=base, retry_cap=max(cap, base))
    wait = backoff(attempts, cfg, random.Random(seed))
    assert 0 <= wait <= min(cfg.retry_cap, base * 2 ** (attempts - 1))


def test_backoff_spreads_retries_over_the_whole_interval():
    waits = [backoff(4, CFG, random.Random(s)) for s in range(400)]  # up to min(3600, 60·8) = 480 s
    assert max(waits) <= 480 and min(waits) < 48 and max(waits) > 432  # full jitter: from 0 to the ceiling


def test_the_push_settings_are_read_from_the_environment_and_checked():
    env = {"ZHIDA_PUSH_CAP": "2", "ZHIDA_PUSH_CAP_DAYS": "14", "ZHIDA_PUSH_QUIET_HOURS": "22:00-07:30"}
    env |= {"ZHIDA_PUSH_MAX_ATTEMPTS": "5", "ZHIDA_PUSH_RETRY_BASE_SECONDS": "2.5"}
    env |= {"ZHIDA_SMS_URL": "https://sms.example.cn/send/", "ZHIDA_PUSH_WEBHOOK_PRIVATE": "1"}
    got = settings(env).push
    assert (got.cap, got.cap_days, got.max_attempts, got.retry_base) == (2, 14, 5, 2.5)
    assert got.quiet_hours == (dt.time(22), dt.time(7, 30)) and got.webhook_private
    assert got.sms_url == "https://sms.example.cn/send" and got.retry_cap == 3600.0
    assert settings({"ZHIDA_PUSH_QUIET_HOURS": "off"}).push.quiet_hours is None
    for bad in ({"ZHIDA_PUSH_CAP": "0"}, {"ZHIDA_PUSH_MAX_ATTEMPTS": "many"}, {"ZHIDA_PUSH_QUIET_HOURS": "9pm-8am"},
                {"ZHIDA_PUSH_QUIET_HOURS": "08:00-08:00"}, {"ZHIDA_PUSH_TIMEZONE": "Asia/Nowhere"},
                {"ZHIDA_PUSH_RETRY_BASE_SECONDS": "60", "ZHIDA_PUSH_RETRY_CAP_SECONDS": "10"},
                {"ZHIDA_SMS_URL": "sms.example.cn"}, {"ZHIDA_PUSH_WEBHOOK_PRIVATE": "maybe"}):  # fmt: skip
        with pytest.raises(SetupError, match=next(iter(bad))):
            settings(bad)


def test_the_signature_example_in_the_docs_is_what_the_code_computes():
    import re
    from pathlib import Path

    from service.push import verify_signature
    from service.push.signing import sign

    text = (Path(__file__).resolve().parents[1] / "docs" / "push.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- signature-example: secret=(\S+) t=(\d+) body=(\S+) v1=([0-9a-f]{64}) -->", text)
    secret, t, body, v1 = m.group(1), int(m.group(2)), m.group(3).encode(), m.group(4)
    assert sign(secret, body, t) == f"t={t},v1={v1}"
    assert verify_signature(secret, f"t={t},v1={v1}", body, now=t + 60)
    assert f"printf '%s.%s' {t} '{body.decode()}'" in text and f"-hmac {secret} -hex" in text
    assert f"SHA2-256(stdin)= {v1}" in text
    receiver = re.search(r"```python\n(import hashlib.*?def verify\(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(receiver, namespace)  # the receiver's own verification, as the docs give it
    assert namespace["verify"](secret, f"t={t},v1={v1}", body, tolerance=10**10)
    assert not namespace["verify"](secret, f"t={t},v1={v1}", body + b"x", tolerance=10**10)
    assert not namespace["verify"](secret, f"t={t},v1={v1}", body)  # 2025's timestamp is stale now
