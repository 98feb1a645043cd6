"""``zhida train``: train the ranker on the interactions on record, evaluate it against the baselines on a
later period, and register it (never promoted by training: ``zhida models promote``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from service.cli import parse_day, store_engine, workers_option


@click.command("train")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="测试期的结束日（默认今天）；其后的记录不用")
@click.option(
    "--period-days", default=60, show_default=True, type=click.IntRange(7, 366), help="验证期与测试期各多少天"
)
@click.option("--seed", default=1, show_default=True, type=int, help="随机种子：相同数据与种子得到相同模型")
@click.option("--graph", "graph_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="知识图谱文件（默认 $ZHIDA_MODELS_DIR/graph.pickle；没有则先构建）")  # fmt: skip
@click.option("--no-register", is_flag=True, help="只训练与评估，不登记模型")
@workers_option
def cli(until: str | None, period_days: int, seed: int, graph_path: Path | None, no_register: bool, workers: int):
    """训练排序模型（LightGBM lambdarank）：按时间划分训练、验证、测试三期，早停，与基线比较。"""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from service import knowledge
    from service.errors import ServiceError
    from service.model_registry import register, versions
    from service.ranking import train_ranker

    day = parse_day(until, "--until")
    started = time.perf_counter()

    def say(text: str) -> None:
        click.echo(f"[{time.perf_counter() - started:5.1f}s] {text}", err=True)

    engine = store_engine()
    path = graph_path or knowledge.default_path()
    try:
        kg = KnowledgeGraph.load(path)
    except GraphError:
        say(f"没有可用的知识图谱（{path}），先从数据库构建……")
        kg = knowledge.build(engine, day)
        kg.save(path)
    try:
        report = train_ranker(engine, kg, day, period_days, seed, progress=say, workers=workers)
    except ServiceError as e:
        raise click.ClickException(str(e)) from None
    click.echo(report.table())
    registered = f"已登记为候选模型（推广：zhida models promote ranker {report.version} --by 姓名）"
    if no_register:
        registered = "未登记"
    elif any(r.version == report.version for r in versions(engine, "ranker")):
        registered = "同一版本（相同的数据、参数与种子）已登记过，不重复登记"
    else:
        register(engine, report.artifact)
    best = report.artifact.metrics["best_baseline"]
    click.echo(
        f"排序模型 {report.version}：测试期 NDCG@10 {report.figures['overall']['ranker']['ndcg@10']:.3f}，"
        f"最佳基线 {best} {report.figures['overall'][best]['ndcg@10']:.3f}，缩小差距 {report.gap_closed:.0%}；"
        f"{registered}"
        f"，用时 {time.perf_counter() - started:.1f} s"
    )
