"""``zhida evaluate``: score a registered ranker and every baseline on a held-out period, by slice, with a
chart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from service.cli import parse_day, store_engine, workers_option


@click.command("evaluate")
@click.option("--from", "start", required=True, metavar="YYYY-MM-DD", help="评估期第一天（此前的记录算作历史）")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="评估期结束日（不含；默认今天）")
@click.option("--version", default=None, help="评估此版本的排序模型（默认在用的模型；没有则只评估基线）")
@click.option(
    "--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, help="画出 NDCG@10 对比图（PNG）"
)
@click.option(
    "--json", "as_json", type=click.Path(dir_okay=False, path_type=Path), default=None, help="指标写入 JSON 文件"
)
@click.option("--graph", "graph_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="知识图谱文件（默认 $ZHIDA_MODELS_DIR/graph.pickle）")  # fmt: skip
@workers_option
def cli(start: str, until: str | None, version: str | None, plot: Path | None, as_json: Path | None,
        graph_path: Path | None, workers: int) -> None:  # fmt: skip
    """在留出期上评估排序模型与各基线：NDCG@5/10、MAP、recall@10、覆盖率，分全部、非免申即享、冷启动。"""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from models.features import SCHEMA_HASH
    from models.registry import ModelError
    from service import knowledge
    from service.errors import ServiceError
    from service.model_registry import load_production, load_version
    from service.plots import PlotError, evaluation_chart
    from service.ranking import SLICES, evaluate_period

    first, last = parse_day(start, "--from"), parse_day(until, "--until")
    if first >= last:
        raise click.BadParameter(f"评估期的第一天 {first} 应早于结束日 {last}", param_hint="--from")
    started = time.perf_counter()

    def say(text: str) -> None:
        click.echo(f"[{time.perf_counter() - started:5.1f}s] {text}", err=True)

    engine = store_engine()
    try:
        kg = KnowledgeGraph.load(graph_path or knowledge.default_path())
        artifact = (
            load_version(engine, "ranker", version, SCHEMA_HASH)
            if version
            else load_production(engine, "ranker", SCHEMA_HASH)
        )
        if artifact is None:
            say("没有在用的排序模型：只评估基线")
        report = evaluate_period(engine, kg, first, last, artifact, progress=say, workers=workers)
    except (GraphError, ServiceError, ModelError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(report.table())
    if as_json:
        as_json.write_text(json.dumps(report.__dict__, ensure_ascii=False, indent=1), encoding="utf-8")
    if plot:
        try:
            evaluation_chart(report.figures, plot, f"{report.scorer}：{first} 至 {last}", SLICES)
        except PlotError as e:
            raise click.ClickException(str(e)) from None
    overall = report.figures["overall"]
    gap = f"，缩小与完美排序差距的 {report.gap_closed:.0%}" if report.gap_closed is not None else ""
    best = max((m["ndcg@10"], s) for s, m in overall.items() if s != "ranker")
    ranker_part = f"排序模型 NDCG@10 {overall['ranker']['ndcg@10']:.3f}，" if "ranker" in overall else ""
    click.echo(
        f"评估 {report.scorer}（{first} 至 {last}）：{ranker_part}最佳基线 {best[1]} {best[0]:.3f}{gap}"
        f"{f'；图 {plot}' if plot else ''}，用时 {time.perf_counter() - started:.1f} s"
    )
