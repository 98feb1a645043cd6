"""``zhida serve``: the web app and API with Flask's server (use gunicorn in production)."""

from __future__ import annotations

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def cli(host: str, port: int) -> None:
    """运行 Web 应用与 API。"""
    from service.app import create_app

    app = create_app()
    click.echo(f"zhida 已启动: http://{host}:{port}/", err=True)
    app.run(host=host, port=port, threaded=True, use_reloader=False)
