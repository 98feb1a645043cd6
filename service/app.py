"""The Flask application factory.

Nothing connects, starts a thread or reads secrets at import: everything
happens in :func:`create_app`, so tests build a fresh app per test.
"""

from __future__ import annotations

import secrets

from flask import Flask
from flask.sessions import SessionInterface

from service.http import problems
from service.jobs import training
from service.settings import settings, use_catalog
from service.store import make_engine, upgrade


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then environment, then ``test_config``."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    config = settings()
    use_catalog(config.catalog)  # the deployment's own fields, before anything reads a fact
    app.config.from_mapping(
        DATABASE_URL=config.database_url,
        SECRET_KEY=config.secret_key,
        ZHIDA_ENV=config.env,
        AUTO_UPGRADE=True,
        APPROVAL_THRESHOLD=config.approval_threshold,
        APPLICATIONS_ON_DRIVER=True,  # PostgreSQL: 即申即办 on the driver (False: the session path, same writes)
        TRAINING_RUNNER=None,  # runner(engine, job_id) for training jobs; None: a thread of this process
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config["SECRET_KEY"]:
        if app.config["ZHIDA_ENV"] == "production":
            raise RuntimeError("ZHIDA_SECRET_KEY 未设置：生产环境必须配置会话密钥")
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # per-process, development only
    app.json.ensure_ascii = False  # Chinese stays readable in JSON
    app.session_interface = _NoSessions()

    if app.config["AUTO_UPGRADE"]:
        upgrade(app.config["DATABASE_URL"])
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["zhida.engine"] = engine
    app.extensions["zhida.training_runner"] = app.config["TRAINING_RUNNER"] or training.start_thread

    problems.init_app(app)

    from service.http import bp as api_bp
    from service.web import bp as web_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(web_bp)
    return app


class _NoSessions(SessionInterface):
    """No cookie sessions: every API request carries its key and the pages keep no state, so
    Flask need not parse and sign a session cookie on every request (a few percent of a decision)."""

    def open_session(self, app, request):
        return None  # Flask then uses its null session, which refuses writes

    def save_session(self, app, session, response):
        pass


def engine_of(app: Flask):
    return app.extensions["zhida.engine"]
