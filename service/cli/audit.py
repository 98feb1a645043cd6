"""``zhida audit``: export the signed head of the audit chain, and verify the chain against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from service.cli import store_engine


@click.group("audit")
def cli() -> None:
    """审计留痕：检查点与校验。"""


@cli.command("checkpoint")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="写入文件（默认打印到标准输出）"
)
def checkpoint_cmd(out: Path | None) -> None:
    """导出签名的链头（序号、哈希），请保存在数据库之外。"""
    from service import audit
    from service.errors import ServiceError
    from service.store import session_scope

    try:
        with session_scope(store_engine()) as session:
            cp = audit.checkpoint(session)
    except ServiceError as e:
        raise click.UsageError(str(e)) from None
    text = json.dumps(cp, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"检查点已写入 {out}：第 {cp['seq']} 条，哈希 {cp['hash'][:16]}…")
    else:
        click.echo(text)


@cli.command("verify")
@click.option(
    "--checkpoint",
    "cp_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="之前导出的检查点文件",
)
def verify_cmd(cp_path: Path | None) -> None:
    """校验整条审计链；指出第一条被修改、删除、插入或调换的记录。"""
    from service import audit
    from service.errors import ServiceError
    from service.store import session_scope

    cp = None
    if cp_path is not None:
        try:
            cp = json.loads(cp_path.read_text(encoding="utf-8"))
            audit.check_signature(cp)
        except (ValueError, ServiceError) as e:
            raise click.UsageError(f"检查点 {cp_path}：{e}") from None
    with session_scope(store_engine()) as session:
        problem = audit.verify(session, cp)
        n = audit.count(session)
    if problem:
        click.echo(f"审计链校验失败：{problem}")
        sys.exit(1)
    against = f"，包含检查点第 {cp['seq']} 条" if cp else "（未提供检查点，无法发现整链重写）"
    click.echo(f"审计链完整：{n} 条记录{against}")
