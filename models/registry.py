"""A trained model's file: the model and what it needs to be trusted — its feature schema, window, figures.

One joblib file per version (``<kind>-<version>.joblib`` under ``ZHIDA_MODELS_DIR``). :func:`load` refuses a
file of another format, and a model whose feature schema hash is not the one the caller computes features
with: a model served features of another shape ranks silently wrong, so it must fail loudly instead. The
database's ``model_registry`` (``service.model_registry``) records which version is promoted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import joblib

FORMAT = 1


class ModelError(ValueError):
    """A model file that cannot be used, said in Chinese with what to do."""


@dataclass
class Artifact:
    kind: str  # ranker, …
    version: str
    model: object
    schema_hash: str
    feature_names: tuple[str, ...]
    params: dict = field(default_factory=dict)
    trained_from: dt.date | None = None
    trained_until: dt.date | None = None
    metrics: dict = field(default_factory=dict)
    trained_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.version}.joblib"


def schema_hash(feature_names, definition: str = "") -> str:
    """The hash of a feature schema: the names in order and the text that defines them."""
    text = json.dumps({"features": list(feature_names), "definition": definition}, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def save(artifact: Artifact, directory: str | Path) -> Path:
    """Write atomically; the same version is never overwritten with other contents."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / artifact.filename
    state = {"format": FORMAT, **{k: getattr(artifact, k) for k in Artifact.__dataclass_fields__}}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".model-", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: str | Path, expected_schema: str | None = None) -> Artifact:
    """The artifact in ``path``; with ``expected_schema``, refused unless it was trained on that schema."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"模型文件 {path} 不存在：请先训练（zhida train）或检查 ZHIDA_MODELS_DIR")
    try:
        state = joblib.load(path)
    except Exception as e:  # truncated, foreign
        raise ModelError(f"模型文件 {path} 无法读取（{type(e).__name__}）：请重新训练") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else None
        raise ModelError(f"模型文件 {path} 的格式版本为 {found}，本程序读取版本 {FORMAT}：请重新训练")
    artifact = Artifact(**{k: state[k] for k in Artifact.__dataclass_fields__})
    if expected_schema is not None and artifact.schema_hash != expected_schema:
        raise ModelError(
            f"模型 {artifact.kind} {artifact.version} 的特征结构（{artifact.schema_hash}）与当前特征定义"
            f"（{expected_schema}）不一致，拒绝加载：请用当前代码重新训练"
        )
    return artifact
