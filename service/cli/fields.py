"""``zhida fields``: show and validate the effective field catalog (shipped fields plus the deployment's)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group("fields")
def cli() -> None:
    """字段目录：查看与校验。"""


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出完整目录（含记录字段、名单与一致性规则）")
def list_cmd(as_json: bool) -> None:
    """列出生效的字段目录：字段、类型、单位、来源、可否申报、有效范围、缺失含义。"""
    from matcher import catalog

    if as_json:
        click.echo(json.dumps({"files": catalog.FILES, **catalog.describe()}, ensure_ascii=False, indent=2))
        return
    click.echo(f"字段目录（{'、'.join(catalog.FILES)}）")
    for row in catalog.describe()["fields"]:
        span = " 至 ".join(x for x in (row.get("min", ""), row.get("max", "")) if x)
        flags = [
            "必填" if row["required"] else "",
            "可申报" if row["declarable"] else "",
            "以名单为准" if row["absence"] == "roster" else "",
        ]
        click.echo(
            f"  {row['name']:<30} {row['label']}｜{row['type']}"
            f"{'（' + row['unit'] + '）' if row.get('unit') else ''}｜{catalog.SOURCES[row['source']]}"
            f"{'｜' + span if span else ''}{'｜' + '、'.join(f for f in flags if f) if any(flags) else ''}"
        )
        for sub in row.get("fields", []):
            click.echo(f"      .{sub['name']:<26} {sub['label']}｜{sub['type']}")
    for r in catalog.ROSTERS.values():
        member = f"（{catalog.FIELDS[r.field].choice_labels.get(r.member, r.member)}）" if r.member else ""
        click.echo(f"  名单 {r.label}（{r.id}）→ {r.field}{member}｜{catalog.SOURCES[r.source]}")
    for rule in catalog.RULES:
        click.echo(f"  一致性 {rule.id}：{rule.message}")
    click.echo(f"共 {len(catalog.FIELDS)} 个字段、{len(catalog.ROSTERS)} 份名单、{len(catalog.RULES)} 条一致性规则")


@cli.command("check")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--policies",
    "policy_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="同时用该目录校验政策文件（默认：随包发布的政策）",
)
def check_cmd(files, policy_paths) -> None:
    """校验字段目录文件（在生效目录之上叠加 FILES），并用它校验政策文件及其测试用例。"""
    from matcher import catalog
    from matcher.spec import load_specs
    from service.cli.policy import shipped_policies

    try:
        catalog.use([*catalog.FILES[1:], *map(str, files)])
    except catalog.CatalogError as e:
        for problem in e.problems:
            click.echo(problem, err=True)
        click.echo(f"字段目录有 {len(e.problems)} 处错误")
        sys.exit(1)
    total, errors = 0, []
    for path in policy_paths or (shipped_policies(),):
        specs, errs = load_specs(path)
        total += len(specs)
        errors.extend(errs)
    for e in errors:
        click.echo(str(e), err=True)
    click.echo(
        f"字段目录有效：{len(catalog.FIELDS)} 个字段、{len(catalog.ROSTERS)} 份名单；"
        f"政策 {total} 项通过，{len(errors)} 处错误"
    )
    sys.exit(1 if errors else 0)
