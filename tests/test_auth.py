"""API keys: hashed at rest, scoped, revocable; and the CLI that makes them."""

import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from service.cli import main
from service.errors import BadRequest, NotFound
from service.http import auth
from service.store import session_scope
from service.store.models import ApiKey, Enterprise

USCC = "9132010200056FYU00"


@pytest.fixture
def enterprise_id(engine):
    with session_scope(engine) as s:
        ent = Enterprise(uscc=USCC, name="测试企业有限公司", region="320102", industry="C3911")
        s.add(ent)
        s.flush()
        return ent.id


def test_secret_is_not_stored_and_verifies(engine):
    with session_scope(engine) as s:
        prefix, secret = auth.create_key(s, "officer", label="科技局")
    with engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_keys")) for v in row)
    assert secret not in dump and secret.split("_", 2)[2] not in dump  # the random part may itself hold "_"
    principal = auth.authenticate(engine, secret)
    assert principal.role == "officer" and principal.key_prefix == prefix


def test_wrong_and_revoked_keys_fail(engine, monkeypatch):
    with session_scope(engine) as s:
        prefix, secret = auth.create_key(s, "system")
    assert auth.authenticate(engine, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert auth.authenticate(engine, "nonsense") is None
    assert auth.authenticate(engine, secret) is not None
    with session_scope(engine) as s:
        auth.revoke(s, prefix)
    assert auth.authenticate(engine, secret) is not None  # verified a moment ago: trusted for RECHECK_SECONDS
    clock = time.monotonic()
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock + auth.RECHECK_SECONDS + 0.1)
    assert auth.authenticate(engine, secret) is None  # re-checked: revoked
    assert auth.authenticate(engine, secret) is None  # and a refusal is never remembered as valid


def test_last_use_is_recorded_at_most_every_few_minutes(engine, monkeypatch):
    with session_scope(engine) as s:
        prefix, secret = auth.create_key(s, "system")

    def last_used():
        with session_scope(engine) as s:
            return s.scalar(select(ApiKey.last_used_at).where(ApiKey.prefix == prefix))

    assert last_used() is None
    auth.authenticate(engine, secret)
    first = last_used()
    assert first is not None
    auth._RECENT.clear()
    auth.authenticate(engine, secret)
    assert last_used() == first  # within TOUCH_EVERY: no write


def test_enterprise_key_reaches_only_its_own_enterprise(engine, enterprise_id):
    with session_scope(engine) as s:
        _, secret = auth.create_key(s, "enterprise", enterprise_uscc=USCC)
        _, staff_secret = auth.create_key(s, "analyst")
    principal = auth.authenticate(engine, secret)
    staff = auth.authenticate(engine, staff_secret)
    assert principal.enterprise_uscc == USCC
    assert principal.can_access_enterprise(enterprise_id)
    assert not principal.can_access_enterprise(enterprise_id + 1)
    assert staff.can_access_enterprise(enterprise_id + 1)


@pytest.mark.parametrize(
    "role, uscc, error",
    [
        ("superuser", None, BadRequest),
        ("enterprise", None, BadRequest),
        ("enterprise", "91350100M000100Y44", BadRequest),
        ("enterprise", "91350100M000100Y43", NotFound),
        ("officer", USCC, BadRequest),
    ],
)
def test_bad_key_requests_are_refused(engine, enterprise_id, role, uscc, error):
    with pytest.raises(error), session_scope(engine) as s:
        auth.create_key(s, role, enterprise_uscc=uscc)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar() == 0


def test_database_refuses_an_enterprise_key_without_enterprise(engine):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(ApiKey(prefix="deadbeef", key_hash="0" * 64, role="enterprise"))


def test_cli_upgrade_create_list_revoke(db_url, monkeypatch):
    monkeypatch.setenv("ZHIDA_DATABASE_URL", db_url)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(main, ["keys", "create", "--role", "admin", "--label", "运维"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("zk_")
    listed = runner.invoke(main, ["keys", "list"])
    prefix = secret.split("_")[1]
    assert prefix in listed.stdout and "有效" in listed.stdout and secret not in listed.stdout
    assert runner.invoke(main, ["keys", "revoke", prefix]).exit_code == 0
    assert "已吊销" in runner.invoke(main, ["keys", "list"]).stdout
    bad = runner.invoke(main, ["keys", "create", "--role", "enterprise"])
    assert bad.exit_code != 0 and "enterprise" in bad.output
