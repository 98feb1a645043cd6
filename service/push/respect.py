"""The rules that keep pushes welcome, as pure functions of the time and the settings (no I/O): quiet hours,
the frequency cap's window, when an unchanged item may come again, and the retry backoff."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from service.settings import PushSettings


def aware(now: dt.datetime) -> dt.datetime:
    """``now`` in UTC; a time without a zone is refused (no hidden "today")."""
    if now.tzinfo is None:
        raise ValueError("now 须带时区（UTC）")
    return now.astimezone(dt.UTC)


def utc(at: dt.datetime) -> dt.datetime:
    """A time read from the store: SQLite gives it without a zone, and it is UTC."""
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def local(now: dt.datetime, config: PushSettings) -> dt.datetime:
    return now.astimezone(ZoneInfo(config.timezone))


def in_quiet_hours(now: dt.datetime, config: PushSettings) -> bool:
    if config.quiet_hours is None:
        return False
    start, end = config.quiet_hours
    t = local(now, config).time()
    return (start <= t or t < end) if start > end else (start <= t < end)


def quiet_until(now: dt.datetime, config: PushSettings) -> dt.datetime:
    """``now`` outside quiet hours; else the end of the quiet hours it falls in (UTC)."""
    if not in_quiet_hours(now, config):
        return now
    _, end = config.quiet_hours
    here = local(now, config)
    day = here.date() if here.time() < end else here.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=here.tzinfo).astimezone(dt.UTC)


def cap_window_start(now: dt.datetime, config: PushSettings) -> dt.datetime:
    """The start of the frequency cap's window: local midnight ``cap_days - 1`` days before today, so that
    a bundle of day D lets the next through on day D + cap_days whatever the hour of either run."""
    here = local(now, config)
    day = here.date() - dt.timedelta(days=config.cap_days - 1)
    return dt.datetime.combine(day, dt.time(0), tzinfo=here.tzinfo).astimezone(dt.UTC)


def repeat_due(pushed_at: dt.datetime, now: dt.datetime, config: PushSettings) -> bool:
    """Whether an item pushed at ``pushed_at`` and unchanged since may be pushed again (by local days)."""
    days = (local(now, config).date() - local(utc(pushed_at), config).date()).days
    return days >= config.repeat_days


def backoff(attempts: int, config: PushSettings, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failure: exponential with full jitter,
    uniform in [0, min(cap, base · 2^(attempts−1))] (AWS Architecture Blog, "Exponential Backoff And Jitter")."""
    ceiling = min(config.retry_cap, config.retry_base * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(0, ceiling)
