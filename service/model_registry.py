"""The model registry: every trained model on record, one promoted to production per kind, rollbacks.

The file holds the model (``models.registry``); the ``model_registry`` table says which files exist, what
they were trained on and which one serves. Promotion and rollback are audited and happen in one transaction,
and the database's own index allows one production model per kind. A model is loaded only with the feature
schema hash the caller computes features with.
"""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import select

from models.registry import Artifact, ModelError, load, save
from service import audit
from service.errors import BadRequest, Conflict, NotFound
from service.store import session_scope, write_scope
from service.store.models import ModelVersion, utcnow

STATUS_LABELS = {"candidate": "候选", "production": "在用", "retired": "已退役"}


def serving_schema(kind: str) -> str | None:
    """The feature schema hash this code serves ``kind`` with (None for a kind it does not serve)."""
    if kind == "ranker":
        from models.features import SCHEMA_HASH

        return SCHEMA_HASH
    return None


def models_dir() -> Path:
    from service.settings import settings

    return Path(settings().models_dir)


def register(engine, artifact: Artifact, directory: Path | None = None, actor: str = "system:train") -> ModelVersion:
    """Save the file and record it as a candidate (a retrained model never serves until promoted)."""
    path = save(artifact, directory or models_dir())
    with write_scope(engine) as session:  # joins the caller's transaction (a training job's) when there is one
        if session.scalar(
            select(ModelVersion).where(ModelVersion.kind == artifact.kind, ModelVersion.version == artifact.version)
        ):
            raise BadRequest(f"模型 {artifact.kind} {artifact.version} 已登记（同一版本不重复登记）", field="version")
        row = ModelVersion(
            kind=artifact.kind,
            version=artifact.version,
            artifact_path=str(path),
            metrics=json_safe(artifact.metrics),
            status="candidate",
            schema_hash=artifact.schema_hash,
            params=artifact.params,
            trained_from=artifact.trained_from,
            trained_until=artifact.trained_until,
        )
        session.add(row)
        audit.append(session, actor, "model.register", f"{artifact.kind}:{artifact.version}", {"path": str(path)})
        session.flush()
        session.expunge(row)
        return row


def versions(engine, kind: str | None = None) -> list[ModelVersion]:
    """The versions of ``kind`` (of every kind when None), oldest first."""
    stmt = select(ModelVersion).order_by(ModelVersion.kind, ModelVersion.id)
    if kind is not None:
        stmt = stmt.where(ModelVersion.kind == kind)
    with session_scope(engine) as session:
        rows = list(session.scalars(stmt))
        for r in rows:
            session.expunge(r)
        return rows


def get(engine, kind: str, version: str) -> ModelVersion:
    with session_scope(engine) as session:
        row = session.scalar(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.version == version))
        if row is None:
            raise NotFound(f"没有登记的模型 {kind} {version}")
        session.expunge(row)
        return row


def production(engine, kind: str) -> ModelVersion | None:
    with session_scope(engine) as session:
        row = session.scalar(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.status == "production"))
        if row is not None:
            session.expunge(row)
        return row


def promote(
    engine,
    kind: str,
    version: str,
    by: str,
    reason: str | None = None,
    expected_schema: str | None = None,
    action: str = "model.promote",
) -> ModelVersion:
    """Make ``version`` the one that serves; the one serving before is retired (and can be rolled back to).

    ``expected_schema``: refuse a model trained on another feature schema than the one the code serves with
    (see :func:`serving_schema`). ``reason`` goes to the audit record. Joins the caller's write transaction."""
    if not by or not by.strip():
        raise BadRequest("须说明由谁推广模型（--by）", field="by")
    with write_scope(engine) as session:
        row = session.scalar(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.version == version))
        if row is None:
            raise NotFound(f"没有登记的模型 {kind} {version}")
        if expected_schema is not None and row.schema_hash != expected_schema:
            raise Conflict(
                f"模型 {kind} {version} 的特征结构 {row.schema_hash or '未记录'} 与当前代码的 "
                f"{expected_schema} 不一致，不能推广（请用当前代码重新训练）",
                field="version",
            )
        if not Path(row.artifact_path).exists():
            raise BadRequest(f"模型文件 {row.artifact_path} 不存在，不能推广", field="version")
        current = session.scalar(
            select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.status == "production").with_for_update()
        )
        if current is not None and current.id != row.id:
            current.status = "retired"
            session.flush()  # the one-production index is checked at each statement
        row.status, row.promoted_at, row.promoted_by = "production", utcnow(), by.strip()
        audit.append(
            session,
            by.strip(),
            action,
            f"{kind}:{version}",
            {"previous": current.version if current is not None else None, "reason": reason},
        )
        session.flush()
        session.expunge(row)
        return row


def rollback(engine, kind: str, by: str, reason: str | None = None, expected_schema: str | None = None) -> ModelVersion:
    """Serve again the model that served before the current one (audited as ``model.rollback``)."""
    with write_scope(engine) as session:
        rows = list(
            session.scalars(
                select(ModelVersion)
                .where(ModelVersion.kind == kind, ModelVersion.promoted_at.is_not(None))
                .order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc())
            )
        )
    current = next((r for r in rows if r.status == "production"), None)
    earlier = [r for r in rows if r.status == "retired" and (current is None or r.promoted_at < current.promoted_at)]
    if not earlier:
        raise BadRequest(f"{kind} 没有此前推广过的模型可以回滚", field="kind")
    return promote(engine, kind, earlier[0].version, by, reason, expected_schema, action="model.rollback")


def load_production(engine, kind: str, expected_schema: str) -> Artifact | None:
    """The promoted model of ``kind``, refused if its feature schema is not ``expected_schema``; None if none."""
    row = production(engine, kind)
    if row is None:
        return None
    artifact = load(row.artifact_path, expected_schema)
    if artifact.version != row.version:
        raise ModelError(f"模型文件 {row.artifact_path} 的版本为 {artifact.version}，登记为 {row.version}")
    return artifact


def load_version(engine, kind: str, version: str, expected_schema: str) -> Artifact:
    """A registered model by version (any status), refused if its feature schema is not ``expected_schema``."""
    with session_scope(engine) as session:
        row = session.scalar(select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.version == version))
        if row is None:
            raise NotFound(f"没有登记的模型 {kind} {version}（zhida models list 列出已登记的模型）")
        path = row.artifact_path
    return load(path, expected_schema)


def json_safe(value):
    """``value`` with NaN and infinities as None (JSON has no such numbers; a metric over no query is NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return json_safe(value.item())
    return value
