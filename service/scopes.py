"""The business-scope classifier at work: its training data, the saved model, files and stored enterprises.

``models.scope_classifier`` is the model and never reads the service; here it gets the generator's
scopes (``service.synth.enterprises.business_scope``), is saved to and found in ``ZHIDA_MODELS_DIR``
by version, classifies JSON Lines files and tags the stored enterprises whose recorded industry is
missing or doubtful (``zhida scope …``, docs/scope-classifier.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from graph import industries
from graph.errors import UnknownCode
from matcher.facts import pick
from models import scope_classifier as sc
from service.io.importer import RowError
from service.settings import settings

VARIANTS = 4  # generated scopes per 小类: business_scope's variants 0…3, each in both wordings
TAG_MIN_SCORE = 0.2  # the 2nd and 3rd 大类 become tags too when at least this likely
CHUNK = 2000  # firms classified at a time by `zhida scope tag`
Say = Callable[[str], None]


def generated_scopes() -> list[tuple[str, str]]:
    """``(scope, 小类)`` for every 小类 of the standard, as the generator writes them."""
    from service.synth.enterprises import business_scope

    classes = [c.code for c in industries().at_level(3)]
    return [(business_scope(c, v, std), c) for c in classes for v in range(VARIANTS) for std in (True, False)]


def models_dir() -> Path:
    return Path(settings().models_dir)


def current_path(directory: Path | None = None) -> Path:
    """Where the model of this code and data is saved (its version is a hash of both)."""
    return sc.path_for(directory or models_dir(), sc.expected_version(generated_scopes()))


def train(directory: Path | None = None) -> tuple[sc.ScopeClassifier, Path, float]:
    """Train on the standard and the generated scopes, save; (model, file, seconds)."""
    started = time.perf_counter()
    model = sc.train(generated_scopes(), n_jobs=-1)
    return model, sc.save(model, directory or models_dir()), time.perf_counter() - started


def load_or_train(model_file: Path | None = None, *, say: Say = lambda _: None) -> sc.ScopeClassifier:
    """The model in ``model_file``, else the saved one of this version, else a new one (trained, saved, said)."""
    if model_file is not None:
        return sc.load(model_file)
    path = current_path()
    if path.exists():
        return sc.load(path)
    say(f"未找到当前版本的经营范围分类模型（{path}），先训练，约需十余秒……")
    model, saved, seconds = train()
    say(f"已训练并保存 {saved}（用时 {seconds:.1f} s）")
    return model


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class ScopeRow:
    id: str | int
    business_scope: str
    industry: str | None  # the recorded 大类, or None


def read_rows(path: Path) -> tuple[list[ScopeRow], list[RowError]]:
    """The lines of a JSON Lines file of ``{id, business_scope, industry?}``, and every bad line's error."""
    rows, errors = [], []
    name = str(path)
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                errors.append(
                    RowError(name, number, None, f"不是 UTF-8 编码的文本（第 {e.start + 1} 字节）{_gbk_hint(raw)}")
                )
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            row = _row(text)
            if isinstance(row, str):
                errors.append(RowError(name, number, None, row))
            else:
                rows.append(row)
    return rows, errors


def _gbk_hint(raw: bytes) -> str:
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        return ""
    return "，看来是 GBK/GB18030 编码：请另存为 UTF-8（如 iconv -f GB18030 -t UTF-8）"


def _row(text: str) -> ScopeRow | str:
    """One line as a row, or the reason it is not one."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return f"不是合法的 JSON：{e.msg}（第 {e.colno} 列）"
    except RecursionError:
        return "JSON 嵌套过深"
    if not isinstance(obj, dict):
        return "每行应为一个 JSON 对象"
    missing = [k for k in ("id", "business_scope") if k not in obj]
    if missing:
        return f"缺少字段 {'、'.join(missing)}"
    ident, scope, code = obj["id"], obj["business_scope"], obj.get("industry")
    if isinstance(ident, bool) or not isinstance(ident, str | int) or ident == "":
        return "id 应为非空文本或整数"
    if not isinstance(scope, str) or not sc.clean(scope):
        return "business_scope 应为非空的经营范围文本"
    if code is not None and not isinstance(code, str):
        return "industry 应为行业代码文本（如 I65 或 6513）"
    division = None
    if code and code.strip():
        try:
            division = sc.division_of(code)
        except (UnknownCode, ValueError) as e:
            return f"industry：{e}"
    return ScopeRow(ident, scope, division)


def classify(model: sc.ScopeClassifier, rows: list[ScopeRow]) -> list[dict]:
    """``{id, top: [{industry, label, score}×3], flagged, reason}`` for each row."""
    found = sc.verdicts(model, [r.business_scope for r in rows], [r.industry for r in rows])
    return [
        {
            "id": r.id,
            "top": [{"industry": c, "label": sc.label(c), "score": round(p, 4)} for c, p in v.top],
            "flagged": v.flagged,
            "reason": v.reason,
        }
        for r, v in zip(rows, found)
    ]


def write_jsonl(path: Path, records: list[dict]) -> None:
    """All lines or none: written beside the target, then moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    with open(temporary, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


# --------------------------------------------------------------------------- stored enterprises


@dataclass
class TagReport:
    model_version: str
    checked: int = 0  # enterprises with a business scope
    no_scope: int = 0
    missing: int = 0  # no usable recorded industry: tagged from the scope
    flagged: int = 0  # recorded 大类 doubtful: tagged from the scope
    tags: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    @property
    def tagged(self) -> int:
        return self.missing + self.flagged

    def summary(self) -> str:
        return (
            f"经营范围分类：检查 {self.checked} 家企业，打标签 {self.tagged} 家"
            f"（行业缺失 {self.missing}，行业存疑 {self.flagged}），写入标签 {self.tags} 条，"
            f"无经营范围 {self.no_scope} 家；模型 {self.model_version}，用时 {self.seconds:.1f} s"
        )


def model_tags(verdict: sc.Verdict) -> list[tuple[str, float]]:
    """The tags a firm gets from the model: its top 大类 (and the 2nd and 3rd when at least TAG_MIN_SCORE),
    each with its 门类 scored by the listed 大类 in it, as ``(tag, probability)``."""
    picked = [verdict.top[0]] + [(c, p) for c, p in verdict.top[1:] if p >= TAG_MIN_SCORE]
    sections: dict[str, float] = {}
    for code, p in picked:
        sections[code[0]] = sections.get(code[0], 0.0) + p
    out = [(f"industry:{code}", p) for code, p in picked]
    return out + [(f"industry:{s}", min(1.0, p)) for s, p in sections.items()]


def tag_enterprises(
    engine, model: sc.ScopeClassifier, *, progress: Callable[[int, int], None] | None = None
) -> TagReport:
    """Classify every stored enterprise's current business scope; tag (source ``model``, with the model's
    version) those whose recorded industry is missing or flagged, and clear the model's earlier tags of the
    others, so a rerun leaves one model version's tags. One transaction."""
    from service.store import tags as stored
    from service.store.models import Enterprise, FieldValue

    started = time.perf_counter()
    report = TagReport(model.version_)
    fv = FieldValue
    with engine.connect() as conn:
        recorded = dict(conn.execute(select(Enterprise.id, Enterprise.industry)).all())
        query = select(fv.enterprise_id, fv.field, fv.value, fv.source, fv.as_of, fv.recorded_at, fv.id)
        rows: dict[int, list[tuple]] = {}
        for eid, *row in conn.execute(query.where(fv.field == "business_scope")):
            rows.setdefault(eid, []).append(tuple(row))
    today = dt.date.today()
    scopes = {}
    for eid in recorded:
        found = pick(rows.get(eid, ()), today).get("business_scope")
        if found and sc.clean(found[0]):
            scopes[eid] = found[0]
    report.no_scope = len(recorded) - len(scopes)
    ids = sorted(scopes)
    tags: dict[int, list] = {}
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        codes = [_division_or_none(recorded[eid]) for eid in part]
        for eid, code, verdict in zip(part, codes, sc.verdicts(model, [scopes[e] for e in part], codes)):
            tags[eid] = model_tags(verdict) if code is None or verdict.flagged else []
            if code is None:
                report.missing += 1
            elif verdict.flagged:
                report.flagged += 1
                if len(report.examples) < 5:
                    report.examples.append(f"企业 {eid}：{verdict.reason}")
        if progress is not None:
            progress(min(start + CHUNK, len(ids)), len(ids))
    report.checked = len(ids)
    with engine.begin() as conn:
        report.tags = stored.assign(conn, "enterprise", "model", tags, model_version=model.version_)
    report.seconds = time.perf_counter() - started
    return report


def _division_or_none(code: str | None) -> str | None:
    """The recorded 大类, or None when the record has no usable code (empty, unknown, or only a 门类)."""
    if not code or not str(code).strip():
        return None
    try:
        return sc.division_of(code)
    except (UnknownCode, ValueError):
        return None
