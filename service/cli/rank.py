"""``zhida rank``: score every candidate policy of some or all enterprises with the promoted ranker."""

from __future__ import annotations

import time
from pathlib import Path

import click

from service.cli import parse_day, store_engine


@click.command("rank")
@click.option("--enterprise", "usccs", multiple=True, metavar="USCC", help="只为这家企业排序（可多次给出）")
@click.option("--all", "everyone", is_flag=True, help="为全部企业排序")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="输出 CSV 文件")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="按此日的图谱快照与事实（默认今天）")
@click.option("--graph", "graph_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="知识图谱文件（默认 $ZHIDA_MODELS_DIR/graph.pickle）")  # fmt: skip
def cli(usccs: tuple[str, ...], everyone: bool, out: Path, as_of: str | None, graph_path: Path | None) -> None:
    """写出 uscc,policy_id,score,decision：每家企业的全部候选政策，按在用排序模型打分（没有则按最佳基线并提示）。"""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from models.registry import ModelError
    from service import knowledge
    from service.errors import ServiceError
    from service.ranking import rank

    if bool(usccs) == everyone:
        raise click.UsageError("请给出 --enterprise USCC 或 --all（二选一）")
    day = parse_day(as_of, "--as-of")
    started = time.perf_counter()

    def say(text: str) -> None:
        click.echo(f"[{time.perf_counter() - started:5.1f}s] {text}", err=True)

    try:
        kg = KnowledgeGraph.load(graph_path or knowledge.default_path())
    except GraphError as e:
        raise click.ClickException(str(e)) from None
    try:
        report = rank(store_engine(), kg, day, out, list(usccs) or None, progress=say)
    except (ServiceError, ModelError) as e:
        raise click.ClickException(str(e)) from None
    if report.warning:
        click.echo(f"注意：{report.warning}", err=True)
    click.echo(
        f"已为 {report.enterprises} 家企业的 {report.rows} 项候选政策打分（{report.scorer}），"
        f"写入 {out}，用时 {time.perf_counter() - started:.1f} s"
    )
