"""``zhida scope``: business scope (经营范围) → industry 大类 — classify a file, train, tag stored enterprises."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli import store_engine

MAX_SHOWN = 50
MODEL_OPTION = click.option(
    "--model",
    "model_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="使用这个模型文件（默认：ZHIDA_MODELS_DIR 中与当前代码和数据对应的版本，没有则先训练）",
)


def _say(message: str) -> None:
    click.echo(message, err=True)


def _model(model_file: Path | None):
    from service import scopes

    try:
        return scopes.load_or_train(model_file, say=_say)
    except ValueError as e:
        raise click.ClickException(str(e)) from None


@click.group("scope")
def cli() -> None:
    """经营范围 → 国民经济行业大类：分类文件、训练模型、给库中企业打标签。"""


@cli.command("classify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出的 JSON Lines")
@MODEL_OPTION
def classify_cmd(path: Path, out: Path, model_file: Path | None) -> None:
    """按经营范围判断行业大类：每行 {id, business_scope, industry?}，输出前三个大类、是否存疑及理由。"""
    from service import scopes

    rows, errors = scopes.read_rows(path)
    if errors:
        for err in errors[:MAX_SHOWN]:
            _say(str(err))
        if len(errors) > MAX_SHOWN:
            _say(f"……另有 {len(errors) - MAX_SHOWN} 处错误未显示")
        click.echo(f"未分类：{len(errors)} 行有误，未写入 {out}")
        sys.exit(1)
    model = _model(model_file)
    records = scopes.classify(model, rows)
    scopes.write_jsonl(out, records)
    flagged = sum(r["flagged"] for r in records)
    click.echo(f"已分类 {len(records)} 条，行业存疑 {flagged} 条，写入 {out}；模型 {model.version_}")


@cli.command("train")
def train_cmd() -> None:
    """训练经营范围分类模型，保存为 scope-classifier-<版本>.joblib，并报告留出数据上的效果。"""
    from models import scope_classifier as sc
    from models import scope_eval
    from service import scopes

    _say("训练经营范围分类模型……")
    model, path, seconds = scopes.train()
    held = model.report_["held_out"]
    t = model.thresholds_
    click.echo(f"模型 {model.version_}：训练文档 {model.report_['documents']} 篇，用时 {seconds:.1f} s，已保存 {path}")
    click.echo(
        f"留出数据（按中类整体留出的生成经营范围 {held['n']} 条）：首选准确率 {held['top1']:.1%}，"
        f"前三准确率 {held['top3']:.1%}"
    )
    click.echo(
        f"行业存疑标记：{sc.describe_flag(t)}；留出的一致企业误报 {t['false_flag']:.1%}，"
        f"登记行业随机改错的检出 {t['detection']:.1%}（同门类内改错 {t['detection_same_section']:.1%}）"
    )
    licences = scope_eval.evaluate(model, scope_eval.licence_set())
    click.echo(
        f"手写执照风格留出集（{licences['n']} 条）：首选准确率 {licences['top1']:.1%}，"
        f"前三准确率 {licences['top3']:.1%}；误报 {licences['false_flag']:.1%}，检出 {licences['detection']:.1%}"
    )


@cli.command("tag")
@MODEL_OPTION
def tag_cmd(model_file: Path | None) -> None:
    """给库中行业缺失或与经营范围明显不符的企业写入模型标签（记录模型版本）。"""
    from service import scopes

    model = _model(model_file)

    def progress(done: int, total: int) -> None:
        _say(f"  已分类 {done}/{total}")

    report = scopes.tag_enterprises(store_engine(), model, progress=progress)
    for example in report.examples:
        _say(f"  {example}")
    click.echo(report.summary())
