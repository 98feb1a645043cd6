"""``zhida policy``: validate policy specs and run the test cases they carry."""

from __future__ import annotations

import datetime as dt
import sys
from importlib import resources
from pathlib import Path

import click


def shipped_policies() -> Path:
    return Path(str(resources.files("matcher").joinpath("policies")))


@click.group("policy")
def cli() -> None:
    """政策规格：校验与测试。"""


@cli.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def check_cmd(paths) -> None:
    """校验政策文件（字段、类型、区划、行业、金额、测试用例）。"""
    from matcher.spec import load_specs

    total, errors = 0, []
    for path in paths:
        specs, errs = load_specs(path)
        total += len(specs)
        errors.extend(errs)
    for e in errors:
        click.echo(str(e), err=True)
    files = len({e.source for e in errors})
    click.echo(f"校验完成：{total} 项政策通过，{files} 个文件有 {len(errors)} 处错误")
    sys.exit(1 if errors else 0)


@cli.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def test_cmd(paths) -> None:
    """运行政策文件自带的测试用例和 scenarios/ 中的情景（默认：随包发布的政策）。"""
    from matcher.policytest import run_path

    paths = paths or (shipped_policies(),)
    results, errors = [], []
    for path in paths:
        rs, es = run_path(path, dt.date.today())
        results.extend(rs)
        errors.extend(es)
    for r in results:
        kind = "情景" if r.kind == "scenario" else "用例"
        if r.passed:
            click.echo(f"PASS {r.source}: {kind} {r.name}")
        else:
            click.echo(f"FAIL {r.source}: {kind} {r.name}: {r.detail}")
    for e in errors:
        click.echo(f"ERROR {e}", err=True)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    scenarios = sum(r.kind == "scenario" for r in results)
    wrong = f"，{len(errors)} 处文件错误" if errors else ""
    click.echo(f"{passed} passed, {failed} failed（用例 {len(results) - scenarios} 个，情景 {scenarios} 个{wrong}）")
    sys.exit(1 if failed or errors else 0)


@cli.command("decide")
@click.option("--uscc", required=True, help="企业统一社会信用代码")
@click.option("--policy", "slug", required=True, help="政策 id")
@click.option("--as-of", "as_of", default=None, help="按此日期的数据判定（默认今天）")
@click.option("--version", type=int, default=None, help="政策版本（默认现行版本）")
def decide_cmd(uscc: str, slug: str, as_of: str | None, version: int | None) -> None:
    """判定一家在库企业是否符合一项政策，并给出逐条理由。"""
    import datetime as dt

    from matcher import uscc as uscc_codes
    from matcher.errors import InvalidUSCC
    from service.errors import ServiceError
    from service.ledger.facts import decide_stored
    from service.store import database_url, make_engine, session_scope, upgrade

    try:
        code = uscc_codes.validate(uscc)
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except (InvalidUSCC, ValueError) as e:
        raise click.BadParameter(str(e)) from None
    url = database_url()
    upgrade(url)
    try:
        with session_scope(make_engine(url)) as session:
            d, pv = decide_stored(session, code, slug, day, version)
    except ServiceError as e:
        raise click.UsageError(str(e)) from None
    labels = {"eligible": "符合", "not_eligible": "不符合", "undetermined": "待补充材料"}
    amount = f"，金额 {d.amount} 元" if d.amount is not None else ""
    click.echo(f"{pv.name}（第 {pv.version} 版，按 {day} 的数据）：{labels[d.outcome]}{amount}")
    for leaf in d.trace:
        mark = {True: "✓", False: "✗", None: "?"}[leaf.outcome]
        click.echo(f"  {mark} {leaf.sentence}")
    for step in d.steps:
        click.echo(f"  = {step.sentence}")
    if d.missing:
        click.echo("需补充：" + "、".join(d.missing_labels))
