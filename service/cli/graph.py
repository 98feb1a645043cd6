"""``zhida graph``: build, update and read the knowledge graph (enterprises, policies, tags, departments)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from service.cli import parse_day, store_engine

STAGES = {"policies": "读入政策", "enterprises": "读入企业与标签", "received": "读入兑付记录"}


def _path(value: Path | None) -> Path:
    from service.knowledge import default_path

    return value or default_path()


def _load(path: Path):
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph

    try:
        return KnowledgeGraph.load(path)
    except GraphError as e:
        raise click.ClickException(str(e)) from None


def _summary(kg) -> str:
    from graph.knowledge import EDGE_KINDS, NODE_KINDS

    stats = kg.stats()
    nodes = "、".join(f"{NODE_KINDS[k]} {v:,}" for k, v in stats["nodes"].items())
    edges = "、".join(f"{EDGE_KINDS[k]} {v:,}" for k, v in stats["edges"].items())
    return f"节点：{nodes}；边：{edges}"


@click.group("graph")
def cli() -> None:
    """知识图谱：企业、政策、标签、部门与文件之间的关系。"""


GRAPH_OPTION = click.option(
    "--graph",
    "graph_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="图谱文件（默认 $ZHIDA_MODELS_DIR/graph.pickle）",
)


@cli.command("build")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="企业标签按此日的事实推导（默认今天）")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="写入的图谱文件")
def build_cmd(as_of: str | None, out: Path | None) -> None:
    """从数据库构建整张图谱并保存（带格式版本）。"""
    from service import knowledge

    day = parse_day(as_of, "--as-of")
    started = time.perf_counter()
    shown = set()

    def progress(stage, done, total):
        key = (stage, done)
        if key not in shown and (done in (0, total) or done % 50_000 == 0):
            shown.add(key)
            click.echo(
                f"[{time.perf_counter() - started:5.1f}s] {STAGES.get(stage, stage)} {done:,}/{total:,}", err=True
            )

    kg = knowledge.build(store_engine(), day, progress=progress)
    path = kg.save(_path(out))
    click.echo(
        f"知识图谱已构建（企业标签截至 {day}）：{_summary(kg)}；写入 {path}，用时 {time.perf_counter() - started:.1f} s"
    )


@cli.command("update")
@GRAPH_OPTION
def update_cmd(graph_path: Path | None) -> None:
    """把上次构建或更新以来数据库中的变化（企业、政策、标签、兑付）逐项写入图谱，不重建。"""
    from service import knowledge

    path = _path(graph_path)
    kg = _load(path)
    started = time.perf_counter()
    since = kg.updated_at
    counts = knowledge.refresh(kg, store_engine())
    kg.save(path)
    click.echo(
        f"图谱已更新（{since:%Y-%m-%d %H:%M:%S} UTC 以来）：企业 {counts['enterprises']} 家、"
        f"政策 {counts['policies']} 项、兑付 {counts['received']} 笔；用时 {time.perf_counter() - started:.2f} s"
    )


@cli.command("stats")
@GRAPH_OPTION
def stats_cmd(graph_path: Path | None) -> None:
    """图谱概况：各类节点与边的数量、构建与更新时间。"""
    kg = _load(_path(graph_path))
    click.echo(
        f"{_summary(kg)}；企业标签截至 {kg.as_of}，构建于 {kg.built_at:%Y-%m-%d %H:%M} UTC，"
        f"更新于 {kg.updated_at:%Y-%m-%d %H:%M} UTC（其后变更 {kg.changes} 项）"
    )


@cli.command("explain")
@click.argument("uscc")
@click.option("--policy", "slug", default=None, help="只解释这一项政策（默认：候选政策中图谱最相关的几项）")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 100), help="解释几项候选政策")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", help="按此日的图谱快照与事实（默认今天）")
@GRAPH_OPTION
def explain_cmd(uscc: str, slug: str | None, limit: int, as_of: str | None, graph_path: Path | None) -> None:
    """某企业的候选政策：图谱给出的理由，加上规则引擎的核验结果与依据。"""
    from graph.features import FeatureIndex
    from service import knowledge

    day = parse_day(as_of, "--as-of")
    kg = _load(_path(graph_path))
    index = FeatureIndex(kg, day)
    profile = index.profiles.get(uscc)
    if profile is None:
        raise click.BadParameter(f"图谱中没有企业 {uscc}（可先运行 zhida graph update）", param_hint="USCC")
    if slug is not None:
        if slug not in index.pol_ix:
            raise click.BadParameter(f"图谱中没有政策 {slug!r}", param_hint="--policy")
        chosen = [slug]
    else:
        chosen = [index.policies[p] for p in index.rank_hint(profile, index.candidates(profile, day))[:limit]]
    idf = dict(zip(index.tag_ix, index.idf, strict=True))
    engine = store_engine()
    for s in chosen:
        found = knowledge.explain_match(engine, kg, uscc, s, day, idf)
        click.echo(f"【{s}】{found['sentence']}")
    click.echo(f"共解释 {len(chosen)} 项政策（企业 {uscc}，截至 {day}）")
