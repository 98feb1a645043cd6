"""``zhida generate``: write a realistic synthetic city."""

from __future__ import annotations

import time
from pathlib import Path

import click

STAGES = {
    "enterprises": "生成企业",
    "policies": "生成政策",
    "events": "模拟推送与申报",
    "write": "写出文件",
}


@click.command("generate")
@click.option("--enterprises", "n", default=2000, show_default=True, type=click.IntRange(min=1), help="企业数量")
@click.option("--seed", default=1, show_default=True, type=int, help="随机种子：相同种子生成完全相同的文件")
@click.option("--city", default="南京市", show_default=True, help="地级市名称（如 南京市）或 6 位代码")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="输出目录")
@click.option(
    "--policies",
    "n_policies",
    default=None,
    type=int,
    help="政策数量：政策目录之外，各区依次发布市级政策的区级版本，直到共 N 项（默认：政策目录）",
)
def cli(n: int, seed: int, city: str, out: Path, n_policies: int | None) -> None:
    """生成合成数据：enterprises.csv、rosters/*.csv（名单）、policies/*.yaml、events.jsonl。"""
    from graph import UnknownCode
    from service.synth.policies import PolicyCountError
    from service.synth.world import generate_world

    started = time.perf_counter()
    shown = set()

    def progress(stage, done, total):
        """One line per stage start and end, to stderr (stdout keeps the summary)."""
        key = (stage, done == total)
        if key in shown:
            return
        shown.add(key)
        state = "完成" if done == total else "开始"
        click.echo(f"[{time.perf_counter() - started:5.1f}s] {STAGES.get(stage, stage)}{state}", err=True)

    try:
        summary = generate_world(n, seed, city, out, progress=progress, n_policies=n_policies)
    except PolicyCountError as e:
        raise click.BadParameter(str(e), param_hint="--policies") from None
    except (UnknownCode, ValueError) as e:
        raise click.BadParameter(str(e), param_hint="--city") from None
    kinds = summary["events_by_kind"]
    versions = f"，区级版本 {summary['district_versions']} 项" if summary["district_versions"] else ""
    click.echo(
        f"已生成 {summary['city']}：企业 {summary['enterprises']} 家，政策 {summary['policies']} 项"
        f"（免申即享 {summary['automatic']} 项{versions}），"
        f"名单 {len(summary['rosters'])} 份（截至 {summary['as_of']}），"
        f"互动记录 {summary['events']} 条"
        f"（推送 {kinds['push']}、申报 {kinds['apply']}、兑付 {kinds['paid']}），"
        f"兑付金额 {summary['paid_yuan']} 元，输出到 {out}，用时 {time.perf_counter() - started:.1f} s"
    )
