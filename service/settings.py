"""Every environment variable zhida reads, in one place (documented in docs/configuration.md).

:func:`settings` reads them when called, so a test or a command that sets one sees it;
nothing else in the service reads ``os.environ``. A malformed value is a
:class:`~service.errors.SetupError` naming the variable, said plainly by the CLI.
"""

from __future__ import annotations

import os
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
        scheduler_timezone=zone,
        schedules=schedules,
    )


def use_catalog(paths: str | None = None) -> None:
    """Install the effective field catalog: the shipped one plus ``paths`` or ``ZHIDA_CATALOG``'s files.
    A problem in a file is a :class:`SetupError` listing each one (file, entry, reason)."""
    from matcher import catalog

    try:
        catalog.use(paths if paths is not None else settings().catalog)
    except catalog.CatalogError as e:
        raise SetupError(str(e)) from None
