"""``zhida demo``: from nothing to a running city in one command.

Creates the SQLite database, generates a synthetic city, imports it (policies,
enterprises, the rosters as of the reference date, events), creates one demo key
per role and serves the app on 127.0.0.1, with a background-job worker in a
thread of the same process (``POST /api/sweeps`` and training requests are jobs).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import click


def _stage(msg: str) -> None:
    click.echo(f"· {msg}", err=True)


@click.command("demo")
@click.option(
    "--dir",
    "workdir",
    default="zhida-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="演示数据与数据库所在目录",
)
@click.option("--enterprises", default=2000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--city", default="南京市", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="只准备数据，不启动 Web 服务")
def cli(workdir: Path, enterprises: int, seed: int, city: str, port: int, no_serve: bool) -> None:
    """一键演示：建库、生成城市、导入、创建演示密钥并启动服务。"""
    from service.app import create_app
    from service.errors import ServiceError
    from service.http import auth
    from service.io.world import demo_city
    from service.ledger.sweeps import run_sweep
    from service.store import make_engine, session_scope

    if not no_serve:
        _check_port(port)
    started = time.perf_counter()
    try:
        built = demo_city(workdir, enterprises, seed, city, progress=_stage)
    except ServiceError as e:
        raise click.ClickException(f"演示数据导入失败：{e}") from None
    url, db_file = built.url, built.database
    engine = make_engine(url)
    ent_report = built.reports["enterprises"]

    _stage("创建演示密钥")
    with session_scope(engine) as session:
        first_uscc = next(iter(_first_enterprise(session)))
        keys = {
            role: auth.create_key(session, role, label="demo")[1] for role in ("admin", "officer", "analyst", "system")
        }
        keys["enterprise"] = auth.create_key(session, "enterprise", enterprise_uscc=first_uscc, label="demo")[1]

    _stage(f"免申即享扫描（单项政策新增兑现超过 {DEMO_THRESHOLD} 元的，待审批）")
    reports = run_sweep(engine, approval_threshold=DEMO_THRESHOLD, actor="system:demo")
    paid = sum(r.outcomes.get("paid", 0) for r in reports)
    money = sum((r.money for r in reports), Decimal("0.00"))
    waiting = [r for r in reports if r.batch_id]

    app = create_app({"DATABASE_URL": url})
    elapsed = time.perf_counter() - started
    base = f"http://127.0.0.1:{port}/"
    click.echo("")
    click.echo(f"zhida 演示已就绪（{elapsed:.1f} s）：{base}")
    click.echo(f"数据库：{db_file}")
    click.echo(f"企业 {ent_report.enterprises} 家；演示企业 {first_uscc}")
    click.echo("演示密钥（请求头 Authorization: Bearer <密钥>）：")
    for role, secret in keys.items():
        click.echo(f"  {role:<10} {secret}")
    click.echo(
        f"免申即享：{len(reports)} 项政策，已兑现 {paid} 笔 {money} 元；"
        f"待审批批次 {len(waiting)} 个（{sum((r.held_money for r in waiting), Decimal('0.00'))} 元）"
    )
    click.echo("试一试：")
    click.echo(f"  curl -H 'Authorization: Bearer {keys['officer']}' {base}api/policies")
    click.echo(f"  curl -H 'Authorization: Bearer {keys['officer']}' {base}api/payout-batches")
    click.echo(
        f"  curl -X POST -H 'Authorization: Bearer {keys['enterprise']}' -H 'Idempotency-Key: demo-1' "
        f'-H \'Content-Type: application/json\' -d \'{{"policy_id": "xina-jiuye-buzhu", "commitment": true}}\' '
        f"{base}api/applications"
    )
    click.echo(
        f"  curl -X POST -H 'Authorization: Bearer {keys['officer']}' -H 'Idempotency-Key: demo-2' "
        f'-H \'Content-Type: application/json\' -d \'{{"scope": "all", "dry_run": true}}\' {base}api/sweeps'
        "    # 202：后台任务，按 Location 查看进度与结果"
    )
    click.echo(f"  curl -H 'Authorization: Bearer {keys['officer']}' {base}api/jobs")
    if no_serve:
        return
    from service.jobs.worker import Worker

    Worker(engine).start_thread()  # the demo's one process also runs the background jobs
    app.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


DEMO_THRESHOLD = Decimal("1000000.00")


def _check_port(port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise click.UsageError(f"端口 {port} 已被占用，请用 --port 指定其他端口") from None


def _first_enterprise(session):
    from sqlalchemy import select

    from service.store.models import Enterprise

    return session.scalars(select(Enterprise.uscc).order_by(Enterprise.id).limit(1))
