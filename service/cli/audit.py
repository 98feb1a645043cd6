"""``zhida audit``: export the signed head of the audit chain, and verify the chain against it."""

from __future__ import annotations

import json
import sys
import time
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
        progress = _Progress(audit.count(session))
        problem = audit.verify(session, cp, progress=progress)
    if problem:
        click.echo(f"审计链校验失败：{problem}")
        sys.exit(1)
    against = f"，包含检查点第 {cp['seq']} 条" if cp else "（未提供检查点，无法发现整链重写）"
    click.echo(f"审计链完整：{progress.checked} 条记录{against}")


PROGRESS_EVERY = 1.0  # seconds between two progress lines on stderr


class _Progress:
    """Records checked so far, on stderr at most every :data:`PROGRESS_EVERY` seconds (a short chain shows none)."""

    def __init__(self, total: int) -> None:
        self.total, self.checked = total, 0
        self._shown = time.monotonic()

    def __call__(self, checked: int) -> None:
        self.checked = checked
        now = time.monotonic()
        if now - self._shown >= PROGRESS_EVERY:
            self._shown = now
            share = f"（{100 * checked // self.total}%）" if self.total else ""
            click.echo(f"已校验 {checked:,} / {self.total:,} 条{share}…", err=True)
