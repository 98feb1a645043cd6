"""The application's PostgreSQL role: everything it needs to run, and no way to rewrite the audit trail.

zhida runs with two roles. The owner (who runs ``zhida db upgrade``) owns the
tables; the application role (``ZHIDA_DATABASE_URL`` of the running service)
gets SELECT/INSERT/UPDATE/DELETE on the domain tables but only SELECT and INSERT
on ``audit_log`` and only SELECT on ``alembic_version``. Because it does not own
the tables it can neither drop nor disable the append-only triggers either
(migration 0002): editing history needs the owner's credentials, which the
service never holds.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from service.errors import BadRequest

APP_ROLE_ENV = "ZHIDA_APP_ROLE"
APPEND_ONLY = ("audit_log",)
READ_ONLY = ("alembic_version",)


def _refuse(message: str):
    raise BadRequest(message, field="role")


def grant_app_role(engine: Engine, role: str, schema: str = "public") -> list[str]:
    """Give ``role`` the application's privileges on the current schema; returns the statements run.

    Refuses a superuser, the tables' owner or a member of the owner's role: any of
    those could edit the audit log however it is granted. Run again after each
    upgrade (``zhida db upgrade`` does so when ``ZHIDA_APP_ROLE`` is set).
    """
    if engine.dialect.name != "postgresql":
        _refuse("应用角色仅适用于 PostgreSQL（SQLite 没有角色；其审计表由触发器保护）")
    if not role or not role.strip():
        _refuse("请给出应用角色名")
    with engine.begin() as conn:
        found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if found is None:
            _refuse(f"角色 {role} 不存在：请先由管理员执行 CREATE ROLE {role} LOGIN PASSWORD '…'")
        if found.rolsuper:
            _refuse(f"角色 {role} 是超级用户，可以修改审计记录，不能作为应用角色")
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE schemaname = :s AND tablename = 'audit_log'"), {"s": schema}
        ).scalar()
        if owner is None:
            _refuse(f"模式 {schema} 中没有 audit_log 表：请先运行 zhida db upgrade")
        if conn.execute(text("SELECT pg_has_role(:r, :o, 'USAGE')"), {"r": role, "o": owner}).scalar():
            _refuse(f"角色 {role} 是表所有者 {owner} 或其成员，可以禁用审计触发器，不能作为应用角色")
        quote = engine.dialect.identifier_preparer.quote
        r, s = quote(role), quote(schema)
        statements = [
            f"GRANT USAGE ON SCHEMA {s} TO {r}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
            *(f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.{t} FROM {r}" for t in APPEND_ONLY),
            *(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {s}.{t} FROM {r}" for t in READ_ONLY),
        ]
        for statement in statements:
            conn.exec_driver_sql(statement)
    return statements
