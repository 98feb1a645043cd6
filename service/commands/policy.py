"""``zhida policy``: validate policy specs and run the test cases they carry."""

from __future__ import annotations

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
    """运行政策文件自带的测试用例（默认：随包发布的政策）。"""
    from matcher.policytest import run_cases
    from matcher.spec import load_specs

    paths = paths or (shipped_policies(),)
    passed = failed = 0
    bad_files = []
    for path in paths:
        specs, errs = load_specs(path)
        bad_files.extend(errs)
        for spec in specs:
            for r in run_cases(spec):
                if r.passed:
                    passed += 1
                else:
                    failed += 1
                    click.echo(f"FAIL {r.source}: {r.name}: {r.detail}", err=True)
    for e in bad_files:
        click.echo(f"ERROR {e}", err=True)
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or bad_files else 0)
