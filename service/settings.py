"""Every environment variable zhida reads, in one place (documented in docs/configuration.md).

:func:`settings` reads them when called, so a test or a command that sets one sees it;
nothing else in the service reads ``os.environ``. A malformed value is a
:class:`~service.errors.SetupError` naming the variable, said plainly by the CLI.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field

from service.errors import SetupError

DEFAULT_DATABASE_URL = "sqlite:///zhida.sqlite3"
# the scheduler's entries (service.jobs.schedule): when each runs, a crontab line or "every 5m"; "off" turns it off
SCHEDULE_VARIABLES = {
    "sweep": "ZHIDA_SCHEDULE_SWEEP",
    "bundles": "ZHIDA_SCHEDULE_BUNDLES",
    "deliveries": "ZHIDA_SCHEDULE_DELIVERIES",
    "publications": "ZHIDA_SCHEDULE_PUBLICATIONS",
    "training": "ZHIDA_SCHEDULE_TRAINING",
    "graph": "ZHIDA_SCHEDULE_GRAPH",
}


@dataclass(frozen=True)
class PushSettings:
    """How 政策包 are delivered and how often (docs/push.md)."""

    cap: int = 1  # ZHIDA_PUSH_CAP: bundles per enterprise …
    cap_days: int = 7  # ZHIDA_PUSH_CAP_DAYS: … in this many days
    repeat_days: int = 30  # ZHIDA_PUSH_REPEAT_DAYS: an unchanged item is not pushed again for this many days
    quiet_hours: tuple[dt.time, dt.time] | None = (dt.time(21), dt.time(8))  # ZHIDA_PUSH_QUIET_HOURS
    timezone: str = "Asia/Shanghai"  # ZHIDA_PUSH_TIMEZONE: the enterprises' local time
    retry_base: float = 60.0  # ZHIDA_PUSH_RETRY_BASE_SECONDS: the first retry waits up to this
    retry_cap: float = 3600.0  # ZHIDA_PUSH_RETRY_CAP_SECONDS: no retry waits longer
    max_attempts: int = 8  # ZHIDA_PUSH_MAX_ATTEMPTS: failures before a message is dead
    timeout: float = 10.0  # ZHIDA_PUSH_TIMEOUT_SECONDS: one webhook or SMS call
    lease: float = 300.0  # ZHIDA_PUSH_LEASE_SECONDS: a claimed message is another run's after this
    webhook_private: bool = False  # ZHIDA_PUSH_WEBHOOK_PRIVATE: webhooks may target private addresses
    public_url: str = "http://127.0.0.1:8000"  # ZHIDA_PUBLIC_URL: where the platform's pages are, for links
    sms_url: str | None = None  # ZHIDA_SMS_URL: the SMS gateway's endpoint (none: no SMS)
    sms_key: str | None = None  # ZHIDA_SMS_API_KEY
    sms_key_header: str = "X-Api-Key"  # ZHIDA_SMS_KEY_HEADER


@dataclass(frozen=True)
class Settings:
    database_url: str  # ZHIDA_DATABASE_URL
    env: str  # ZHIDA_ENV: development | production
    secret_key: str | None  # ZHIDA_SECRET_KEY
    audit_key: str | None  # ZHIDA_AUDIT_KEY: signs audit checkpoints
    approval_threshold: str | None  # ZHIDA_APPROVAL_THRESHOLD: yuan, checked where it is used
    app_role: str | None  # ZHIDA_APP_ROLE: the PostgreSQL role the service runs as
    workers: int | None  # ZHIDA_WORKERS: gunicorn workers for `zhida serve`
    access_log: str | None  # ZHIDA_ACCESS_LOG: a path, or - for stderr
    catalog: str | None = None  # ZHIDA_CATALOG: the deployment's field catalog file(s), ":"-separated
    models_dir: str = "zhida-models"  # ZHIDA_MODELS_DIR: trained taggers and graphs, by version
    redis_url: str | None = None  # ZHIDA_REDIS_URL: rate-limit counters shared by every process
    rate_limit: str = "600 per minute"  # ZHIDA_RATE_LIMIT: per API key (or per address without one)
    cors_origins: tuple[str, ...] = ()  # ZHIDA_CORS_ORIGINS: ","-separated origins allowed to call the API
    push: PushSettings = field(default_factory=PushSettings)  # the push and SMS variables: PushSettings
    scheduler_timezone: str = "Asia/Shanghai"  # ZHIDA_SCHEDULER_TIMEZONE: the clock the scheduler's times are read on
    schedules: dict[str, str] = field(default_factory=dict)  # SCHEDULE_VARIABLES: an entry's time, when set

    @property
    def production(self) -> bool:
        return self.env == "production"


def _text(environ, name: str) -> str | None:
    value = environ.get(name)
    return value if value is not None and value.strip() else None


def settings(environ=None) -> Settings:
    """The settings as the environment gives them now."""
    env = os.environ if environ is None else environ
    workers = _text(env, "ZHIDA_WORKERS")
    if workers is not None:
        try:
            workers = int(workers)
        except ValueError:
            raise SetupError(f"ZHIDA_WORKERS 应为正整数（收到 {workers!r}）") from None
        if workers < 1:
            raise SetupError(f"ZHIDA_WORKERS 应为正整数（收到 {workers}）")
    mode = _text(env, "ZHIDA_ENV") or "development"
    if mode not in ("development", "production"):
        raise SetupError(f"ZHIDA_ENV 应为 development 或 production（收到 {mode!r}）")
    limit = _text(env, "ZHIDA_RATE_LIMIT") or "600 per minute"
    try:
        from limits import parse_many

        parse_many(limit)
    except ValueError:
        raise SetupError(f"ZHIDA_RATE_LIMIT 应形如 600 per minute 或 10/second（收到 {limit!r}）") from None
    origins = tuple(o.strip().rstrip("/") for o in (_text(env, "ZHIDA_CORS_ORIGINS") or "").split(",") if o.strip())
    bad = [o for o in origins if not o.startswith(("http://", "https://")) or o.count("/") != 2]
    if bad:
        raise SetupError(f"ZHIDA_CORS_ORIGINS 应为以逗号分隔的来源，如 https://a.example.cn（收到 {bad[0]!r}）")
    zone = _text(env, "ZHIDA_SCHEDULER_TIMEZONE") or "Asia/Shanghai"
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        raise SetupError(f"ZHIDA_SCHEDULER_TIMEZONE 应为时区名，如 Asia/Shanghai（收到 {zone!r}）") from None
    schedules = {entry: _text(env, name) for entry, name in SCHEDULE_VARIABLES.items() if _text(env, name)}
    return Settings(
        database_url=_text(env, "ZHIDA_DATABASE_URL") or DEFAULT_DATABASE_URL,
        env=mode,
        secret_key=_text(env, "ZHIDA_SECRET_KEY"),
        audit_key=_text(env, "ZHIDA_AUDIT_KEY"),
        approval_threshold=_text(env, "ZHIDA_APPROVAL_THRESHOLD"),
        app_role=_text(env, "ZHIDA_APP_ROLE"),
        workers=workers,
        access_log=_text(env, "ZHIDA_ACCESS_LOG"),
        catalog=_text(env, "ZHIDA_CATALOG"),
        models_dir=_text(env, "ZHIDA_MODELS_DIR") or "zhida-models",
        redis_url=_text(env, "ZHIDA_REDIS_URL"),
        rate_limit=limit,
        cors_origins=origins,
        push=push_settings(env),
        scheduler_timezone=zone,
        schedules=schedules,
    )


def _number(env, name: str, default, kind=int, low=1):
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value != value or value < low or value == float("inf"):
        what = "整数" if kind is int else "数值"
        raise SetupError(f"{name} 应为不小于 {low} 的{what}（收到 {raw!r}）")
    return value


def _quiet_hours(env) -> tuple[dt.time, dt.time] | None:
    raw = _text(env, "ZHIDA_PUSH_QUIET_HOURS")
    if raw is None:
        return PushSettings.quiet_hours
    if raw.strip().lower() in ("off", "none", "0"):
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", raw)
    try:
        start, end = dt.time(int(m[1]), int(m[2])), dt.time(int(m[3]), int(m[4]))
    except (TypeError, ValueError):
        raise SetupError(f"ZHIDA_PUSH_QUIET_HOURS 应形如 21:00-08:00，或 off（收到 {raw!r}）") from None
    if start == end:
        raise SetupError(f"ZHIDA_PUSH_QUIET_HOURS 的起止时间不能相同（收到 {raw!r}），不设免打扰请用 off")
    return start, end


def push_settings(env) -> PushSettings:
    """The variables of :class:`PushSettings` (docs/push.md, docs/configuration.md)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zone = _text(env, "ZHIDA_PUSH_TIMEZONE") or PushSettings.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SetupError(f"ZHIDA_PUSH_TIMEZONE 应为时区名，如 Asia/Shanghai（收到 {zone!r}）") from None
    base = _number(env, "ZHIDA_PUSH_RETRY_BASE_SECONDS", PushSettings.retry_base, float, 0.001)
    cap = _number(env, "ZHIDA_PUSH_RETRY_CAP_SECONDS", max(PushSettings.retry_cap, base), float, 0.001)
    if cap < base:
        raise SetupError(f"ZHIDA_PUSH_RETRY_CAP_SECONDS（{cap}）不能小于 ZHIDA_PUSH_RETRY_BASE_SECONDS（{base}）")
    flag = (_text(env, "ZHIDA_PUSH_WEBHOOK_PRIVATE") or "0").strip().lower()
    if flag not in ("0", "1", "true", "false", "yes", "no"):
        raise SetupError(f"ZHIDA_PUSH_WEBHOOK_PRIVATE 应为 1 或 0（收到 {flag!r}）")
    urls = {}
    for name in ("ZHIDA_PUBLIC_URL", "ZHIDA_SMS_URL"):
        url = _text(env, name)
        if url is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url.strip()):
            raise SetupError(f"{name} 应为 http:// 或 https:// 开头的地址（收到 {url!r}）")
        urls[name] = url.strip().rstrip("/") if url else None
    return PushSettings(
        cap=_number(env, "ZHIDA_PUSH_CAP", PushSettings.cap),
        cap_days=_number(env, "ZHIDA_PUSH_CAP_DAYS", PushSettings.cap_days),
        repeat_days=_number(env, "ZHIDA_PUSH_REPEAT_DAYS", PushSettings.repeat_days, low=0),
        quiet_hours=_quiet_hours(env),
        timezone=zone,
        retry_base=base,
        retry_cap=cap,
        max_attempts=_number(env, "ZHIDA_PUSH_MAX_ATTEMPTS", PushSettings.max_attempts),
        timeout=_number(env, "ZHIDA_PUSH_TIMEOUT_SECONDS", PushSettings.timeout, float, 0.001),
        lease=_number(env, "ZHIDA_PUSH_LEASE_SECONDS", PushSettings.lease, float, 1),
        webhook_private=flag in ("1", "true", "yes"),
        public_url=urls["ZHIDA_PUBLIC_URL"] or PushSettings.public_url,
        sms_url=urls["ZHIDA_SMS_URL"],
        sms_key=_text(env, "ZHIDA_SMS_API_KEY"),
        sms_key_header=_text(env, "ZHIDA_SMS_KEY_HEADER") or PushSettings.sms_key_header,
    )


def use_catalog(paths: str | None = None) -> None:
    """Install the effective field catalog: the shipped one plus ``paths`` or ``ZHIDA_CATALOG``'s files.
    A problem in a file is a :class:`SetupError` listing each one (file, entry, reason)."""
    from matcher import catalog

    try:
        catalog.use(paths if paths is not None else settings().catalog)
    except catalog.CatalogError as e:
        raise SetupError(str(e)) from None
