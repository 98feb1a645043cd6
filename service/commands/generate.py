"""``zhida generate``: write a realistic synthetic city."""

from __future__ import annotations

import time
from pathlib import Path

import click

STAGES = {"enterprises": "生成企业", "policies": "生成政策", "events": "生成互动记录"}


@click.command("generate")
@click.option("--enterprises", "n", default=2000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--city", default="南京市", show_default=True, help="地级市名称，如 南京市")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
def cli(n: int, seed: int, city: str, out: Path) -> None:
    """生成合成数据：enterprises.csv、policies/*.yaml、events.jsonl。"""
    from graph import UnknownCode
    from service.synth.world import generate_world

    started = time.perf_counter()
    last = {}

    def progress(stage, done, total):
        if last.get(stage) == done:
            return
        last[stage] = done
        pct = 100 * done // max(total, 1)
        click.echo(f"  {STAGES[stage]} {done}/{total} ({pct}%)", err=True)

    try:
        summary = generate_world(n, seed, city, out, progress=progress)
    except UnknownCode as e:
        raise click.BadParameter(str(e), param_hint="--city") from None
    click.echo(
        f"已生成 {summary['city']}：企业 {summary['enterprises']} 家，政策 {summary['policies']} 项，"
        f"互动记录 {summary['events']} 条，输出到 {out}，用时 {time.perf_counter() - started:.1f} s"
    )
