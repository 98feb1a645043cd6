"""Shared fixtures: a fresh, migrated store per test, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, select

from service.app import create_app
from service.http import auth
from service.io.importer import import_enterprises, import_events, import_policies
from service.io.rosters import import_rosters
from service.store import make_engine, session_scope, upgrade
from service.store.models import Enterprise
from service.synth.params import REFERENCE_DATE

PG_ENV = "ZHIDA_TEST_POSTGRES_URL"
PG_SKIP = f"{PG_ENV} not set: PostgreSQL cases skipped (set it to a PostgreSQL URL to run them)"


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    make_engine(url).dispose()  # the cached engine must not reuse connections to dropped tables


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """An empty database URL; each test gets its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'zhida.sqlite3'}"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP)
    _reset_postgres(url)
    return url


@pytest.fixture
def engine(db_url):
    """A migrated store."""
    upgrade(db_url)
    return make_engine(db_url)


@pytest.fixture
def city(engine, small_world):
    """The 300-firm city imported as the platform holds it: policies, register, rosters, events."""
    from service.io.world import import_world

    import_world(engine, small_world)
    return engine


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """A generated city of 300 enterprises (generated once per test session)."""
    from service.synth.world import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(300, 11, "南京市", out)
    return out


HELD_OUT_ISSUER = "北京市发展和改革委员会"  # the policy tagger's tests hold this body's cards out of training


@pytest.fixture(scope="session")
def held_out_tagger():
    """A policy tagger trained once per session on the Beijing cards of every issuer but one (a few seconds)."""
    from models import policy_data, policy_tagger

    return policy_tagger.fit([e for e in policy_data.corpus() if e.group != HELD_OUT_ISSUER])


@pytest.fixture
def tagger_dir(held_out_tagger, tmp_path, monkeypatch):
    """ZHIDA_MODELS_DIR holding the session's tagger as the one in use."""
    from models import policy_tagger

    folder = tmp_path / "models"
    policy_tagger.save(held_out_tagger, folder)
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(folder))
    return folder


# -- the API tests' world: an imported small city behind the app, and a key of every role ----------------


@pytest.fixture
def app(engine, db_url, small_world):
    import_policies(engine, small_world / "policies")
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    import_events(engine, small_world / "events.jsonl")
    return create_app({"DATABASE_URL": db_url, "TESTING": True})


@pytest.fixture
def keys(app, engine):
    with session_scope(engine) as s:
        usccs = s.scalars(select(Enterprise.uscc).order_by(Enterprise.id).limit(2)).all()
        out = {role: auth.create_key(s, role)[1] for role in ("admin", "officer", "analyst", "system")}
        out["enterprise"] = auth.create_key(s, "enterprise", enterprise_uscc=usccs[0])[1]
    out["own"], out["other"] = usccs
    return out
