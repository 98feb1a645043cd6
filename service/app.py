"""The Flask application factory.

Nothing connects, starts a thread or reads secrets at import: everything
happens in :func:`create_app`, so tests build a fresh app per test.
"""

from __future__ import annotations

import secrets

from apiflask import APIFlask
from flask import Flask
from flask.sessions import SessionInterface

from service.http import hardening, openapi, ops, problems
from service.settings import settings, use_catalog
from service.store import make_engine, upgrade


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then environment, then ``test_config``."""
    app = APIFlask(
        __name__,
        title="直达 zhida API",
        version=_version(),
        spec_path="/openapi.json",
        docs_path="/docs",
        json_errors=False,  # every error is problem+json, from service.http.problems
        template_folder="web/templates",
        static_folder="web/static",
    )
    app.json = hardening.StrictJSON(app)
    app.url_map.converters["int"] = hardening.BoundedInt  # before any route is added
    config = settings()
    use_catalog(config.catalog)  # the deployment's own fields, before anything reads a fact
    app.config.from_mapping(
        DATABASE_URL=config.database_url,
        SECRET_KEY=config.secret_key,
        ZHIDA_ENV=config.env,
        AUTO_UPGRADE=True,
        APPROVAL_THRESHOLD=config.approval_threshold,
        APPLICATIONS_ON_DRIVER=True,  # PostgreSQL: 即申即办 on the driver (False: the session path, same writes)
        TRAINING_RUNNER=None,  # runner(engine, training_job_id) after a training request; None: the worker's
        JOB_RUNNER=None,  # runner(engine, job_id) after a request queued a job (tests); None: the worker's
        JSON_SORT_KEYS=False,
        RATE_LIMIT=config.rate_limit,  # per API key, or per address without one
        SERVING_BACKGROUND=True,  # a stale match snapshot answers while its successor is built (service.serving)
        SERVING_FREEZE=False,  # gc.freeze() each snapshot built (a server worker: zhida serve sets it)
        VALIDATION_ERROR_STATUS_CODE=400,  # a body or a parameter of the wrong shape; 422: it means nothing
        DOCS_UI="redoc",
        REDOC_USE_GOOGLE_FONT=False,
        REDOC_STANDALONE_JS="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js",
        INFO={"description": "惠企政策直达平台的接口：政策匹配、即申即办、免申即享、审核、兑付与模型（docs/api.md）。"},
    )
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config["SECRET_KEY"]:
        if app.config["ZHIDA_ENV"] == "production":
            raise RuntimeError("ZHIDA_SECRET_KEY 未设置：生产环境必须配置会话密钥")
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # per-process, development only
    app.session_interface = _NoSessions()

    if app.config["AUTO_UPGRADE"]:
        upgrade(app.config["DATABASE_URL"])
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["zhida.engine"] = engine
    # Background jobs are run by `zhida worker` (docs/jobs.md): never by a thread of a web worker, never by a
    # scheduler here. A runner named in the config runs a job the request queued, after its commit (tests).
    app.extensions["zhida.training_runner"] = app.config["TRAINING_RUNNER"]
    app.extensions["zhida.job_runner"] = app.config["JOB_RUNNER"]

    problems.init_app(app)
    app.spec_processor(openapi.finish)
    limiter = hardening.init_app(app, config)
    ops.init_app(app, limiter)

    from service.http import bp as api_bp
    from service.http.v1 import v1
    from service.serving import ServingCache
    from service.web import bp as web_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(v1)
    app.extensions["zhida.serving"] = ServingCache(
        background=app.config["SERVING_BACKGROUND"], freeze=app.config["SERVING_FREEZE"]
    )  # today's ranked snapshot, built on first use
    app.register_blueprint(web_bp)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zhida")
    except PackageNotFoundError:
        return "0"


class _NoSessions(SessionInterface):
    """No cookie sessions: every API request carries its key and the pages keep no state, so
    Flask need not parse and sign a session cookie on every request (a few percent of a decision)."""

    def open_session(self, app, request):
        return None  # Flask then uses its null session, which refuses writes

    def save_session(self, app, session, response):
        pass


def engine_of(app: Flask):
    return app.extensions["zhida.engine"]
