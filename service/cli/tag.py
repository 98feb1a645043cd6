"""``zhida tag``: the policy tagger — tag files or stored policies, train it, correct it (docs/policy-tagger.md)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

MAX_SHOWN = 50


@click.group("tag")
def cli() -> None:
    """政策标注：主题（模型）与目标（词典：地区、资质、行业、规模）。"""


def _models_dir(out: Path | None = None) -> Path:
    from service.settings import settings

    return Path(out) if out else Path(settings().models_dir)


def _store_if_configured(no_store: bool = False):
    """The configured store, when there is one: ZHIDA_DATABASE_URL set, or the default SQLite file present."""
    if no_store:
        return None
    from service.settings import DEFAULT_DATABASE_URL, settings

    default_file = Path(DEFAULT_DATABASE_URL.removeprefix("sqlite:///"))
    if settings().database_url == DEFAULT_DATABASE_URL and not default_file.exists():
        return None  # no store here: training does not create one
    from service.cli import store_engine

    return store_engine()


def _say(msg: str) -> None:
    click.echo(msg, err=True)


def read_policy_lines(path: Path) -> tuple[list[dict], list[str]]:
    """The ``{id, title, text}`` lines of a JSON Lines file, or every problem as ``FILE:LINE: 问题``."""
    rows, errors, seen = [], [], {}
    try:
        raw = path.read_bytes()
    except OSError as e:
        return [], [f"{path}: 无法读取：{e.strerror}"]
    for n, line in enumerate(raw.split(b"\n"), 1):
        where = f"{path}:{n}"
        if n == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            errors.append(f"{where}: 不是 UTF-8 编码的文本（本行第 {e.start + 1} 字节）：请另存为 UTF-8")
            continue
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: 不是有效的 JSON（第 {e.colno} 列：{e.msg}）")
            continue
        if not isinstance(row, dict):
            errors.append(f"{where}: 每行应为一个 JSON 对象 {{id, title, text}}")
            continue
        missing = [k for k in ("id", "title", "text") if k not in row]
        if missing:
            errors.append(f"{where}: 缺少字段 {'、'.join(missing)}")
            continue
        pid = row["id"]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)) or (isinstance(pid, str) and not pid.strip()):
            errors.append(f"{where}: id 应为非空文本或整数（收到 {json.dumps(pid, ensure_ascii=False)}）")
            continue
        bad = [k for k in ("title", "text") if not isinstance(row[k], str)]
        if bad:
            errors.append(f"{where}: {'、'.join(bad)} 应为文本")
            continue
        if not (row["title"].strip() or row["text"].strip()):
            errors.append(f"{where}: title 和 text 都是空的，无从标注")
            continue
        key = json.dumps(pid)
        if key in seen:
            errors.append(f"{where}: id {json.dumps(pid, ensure_ascii=False)} 与第 {seen[key]} 行重复")
            continue
        seen[key] = n
        rows.append({"id": pid, "title": row["title"], "text": row["text"]})
    return rows, errors


@cli.command("policies")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="输出的 JSON Lines 文件")
@click.option("--stored", is_flag=True, help="改为标注库中每项政策的当前版本，并把标签存入库中")
@click.option("--model", "version", default=None, help="使用的模型版本（默认：当前在用的版本）")
def policies_cmd(path: Path | None, out: Path | None, stored: bool, version: str | None) -> None:
    """标注政策：PATH 中每行 {id, title, text}，结果写入 --out；或 --stored 标注库中政策。"""
    from service.policy_tagging import load_or_train

    started = time.perf_counter()
    if stored:
        if path is not None or out is not None:
            raise click.UsageError("--stored 标注库中政策，不读 PATH、不写 --out")
        return _tag_stored(version, started)
    if path is None or out is None:
        raise click.UsageError("请给出输入文件 PATH 和 --out 输出文件（或用 --stored 标注库中政策）")
    if not path.exists():
        raise click.BadParameter(f"{path} 不存在", param_hint="PATH")
    rows, errors = read_policy_lines(path)
    if errors:
        for e in errors[:MAX_SHOWN]:
            click.echo(e, err=True)
        if len(errors) > MAX_SHOWN:
            click.echo(f"……另有 {len(errors) - MAX_SHOWN} 处错误未显示", err=True)
        click.echo(f"输入有 {len(errors)} 处错误，未写入任何结果")
        sys.exit(1)
    from matcher.catalog import tag_taxonomy

    try:
        tagger = load_or_train(_models_dir(), version, say=_say)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    taxonomy = tag_taxonomy()
    lines = []
    for start in range(0, len(rows), 200):
        part = rows[start : start + 200]
        for row, result in zip(part, tagger.tag([(r["title"], r["text"]) for r in part], taxonomy)):
            lines.append(json.dumps({"id": row["id"], **result, "model_version": tagger.version}, ensure_ascii=False))
        if len(rows) > 200:
            click.echo(f"  已标注 {min(start + 200, len(rows))}/{len(rows)}", err=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(out)  # all lines or none
    topics = sum(len(json.loads(line)["topics"]) for line in lines)
    click.echo(
        f"标注完成：{len(rows)} 项政策，主题标签 {topics} 个，模型 {tagger.version}，"
        f"写入 {out}，用时 {time.perf_counter() - started:.1f} s"
    )


def _tag_stored(version: str | None, started: float) -> None:
    from matcher.catalog import tag_taxonomy
    from service.cli import store_engine
    from service.policy_tagging import load_or_train, tag_stored

    engine = store_engine()
    try:
        tagger = load_or_train(_models_dir(), version, engine=engine, say=_say)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    report = tag_stored(engine, tagger, tag_taxonomy(), progress=lambda d, t: _say(f"  已标注 {d}/{t}"))
    click.echo(f"{report.line()}，用时 {time.perf_counter() - started:.1f} s")


@cli.command("train")
@click.option(
    "--out", "out", type=click.Path(file_okay=False, path_type=Path), help="模型保存目录（默认 ZHIDA_MODELS_DIR）"
)
@click.option("--no-store", is_flag=True, help="不读库中的人工更正（只用随包数据训练）")
def train_cmd(out: Path | None, no_store: bool) -> None:
    """训练政策标注模型：北京卡片（更正后的标签）、深圳文件、真实措施，及库中政策的人工更正。"""
    from models.policy_data import TOPIC_CODES
    from service.policy_tagging import train

    started = time.perf_counter()
    engine = _store_if_configured(no_store)
    _say("训练中：按发文单位分折的交叉验证校准每个主题的分数和阈值……")
    tagger, ts, path = train(engine, _models_dir(out))
    click.echo(ts.summary())
    from graph.tags import TOPICS

    wide = lambda s, n: s + "\u3000" * (n - len(s))  # Chinese labels line up in full-width spaces
    click.echo(f"{wide('主题', 6)}正例   阈值   折外F1  依据")
    for t in TOPIC_CODES:
        m = tagger.topics[t]
        thr = "  —  " if m.threshold > 1 else f"{m.threshold:.3f}"
        f1 = "  —  " if m.oof_f1 is None else f"{m.oof_f1:.3f}"
        if m.classifier is not None:
            basis = "文本模型 + 关键词"
        elif m.threshold <= 1:
            basis = "仅关键词（正例太少，不学文本）"
        else:
            basis = "正例太少，不标注"
        click.echo(f"{wide(TOPICS[t], 6)}{m.positives:>4}  {thr}  {f1}   {basis}")
    oof = tagger.trained_on["out_of_fold"]
    click.echo(
        f"训练集按发文单位分折的折外成绩（阈值在同一批分数上选定，偏乐观）：micro-F1 {oof['micro_f1']:.3f}，"
        f"macro-F1 {oof['macro_f1']:.3f}（{oof['n']} 篇）；留出发文单位与跨地区的成绩见 bench/eval_policy_tagger.py"
    )
    click.echo(f"训练完成：模型 {tagger.version}，保存于 {path}，用时 {time.perf_counter() - started:.1f} s")


@cli.command("correct")
@click.argument("slug")
@click.argument("topic")
@click.option("--yes/--no", "present", default=None, help="该主题适用（--yes）或不适用（--no）")
@click.option("--reason", required=True, help="更正理由（写入审计日志）")
@click.option("--by", "by", required=True, help="更正人")
def correct_cmd(slug: str, topic: str, present: bool | None, reason: str, by: str) -> None:
    """更正库中政策 SLUG 的主题 TOPIC（如 digital、topic:digital 或 数字化转型）：优先于模型，并用于下次训练。"""
    from graph.tags import TOPICS
    from service.cli import store_engine
    from service.policy_tagging import UnknownPolicy, correct

    if present is None:
        raise click.UsageError("请用 --yes 或 --no 说明该主题是否适用")
    try:
        tag = correct(store_engine(), slug, topic, present, by, reason)
    except UnknownPolicy as e:
        raise click.ClickException(str(e)) from None
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    label = TOPICS[tag.split(":", 1)[1]]
    click.echo(
        f"已记录：政策 {slug} 的主题 {label}（{tag}）{'适用' if present else '不适用'}，更正人 {by}；"
        "该更正优先于模型，下次 zhida tag train 将采用"
    )
