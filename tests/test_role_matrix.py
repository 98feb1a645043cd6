"""Each role reaches exactly the endpoints docs/api.md says it may: the table there is the specification,
read here row by row, and every API route must have a row. No key and a revoked key get 401 wherever a
key is needed; a role the row does not name gets 403; an enterprise key naming another enterprise gets 403."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.http import auth
from service.store import session_scope

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"
ROLES = ("admin", "officer", "analyst", "system", "enterprise")
CALLERS = (*ROLES, "none", "revoked")
STAFF = {"admin", "officer", "analyst", "system"}


def _rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(GET|POST|PUT|DELETE) (/api/[^`]*)` \| ([^|]+) \|", line)
        if m:
            path = re.sub(r"\[.*$", "", m.group(2).split("?")[0])  # the optional query is not the route
            rows.append((m.group(1), path, m.group(3).strip()))
    return rows


def _allowed(who: str) -> set[str]:
    if who == "anyone":
        return set(CALLERS)
    if who.startswith("any key"):
        return set(ROLES)
    if who.startswith("staff"):
        return STAFF | ({"enterprise"} if "enterprise itself" in who else set())
    named = {r.strip() for r in who.replace("the enterprise itself", "enterprise").split(",")}
    assert named <= set(ROLES), who
    return named


ROWS = _rows()


def test_the_table_names_every_api_route(app):
    documented = {(method, path) for method, path, _ in ROWS}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        path = path.replace("{application_id}", "{id}").replace("{payout_id}", "{id}")
        path = path.replace("{batch_id}", "{id}").replace("{job_id}", "{id}").replace("{slug}", "{id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            loose = {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in documented}
            assert (method, re.sub(r"\{[^}]+\}", "{}", path)) in loose, f"{method} {path} 不在 docs/api.md 的表中"


@pytest.fixture
def callers(app, keys, engine):
    out = {role: keys[role] for role in ROLES}
    with session_scope(engine) as s:
        prefix, secret = auth.create_key(s, "officer")
    with session_scope(engine) as s:
        auth.revoke(s, prefix)
    out["revoked"], out["none"] = secret, None
    return out


def _url(path: str, own: str) -> str:
    fills = {"{uscc}": own, "{code}": "3911", "{kind}": "ranker", "{version}": "rk-none", "{id}": "1",
             "{application_id}": "1"}  # fmt: skip
    for hole, value in fills.items():
        path = path.replace(hole, value)
    if "/reference/regions/" in path:
        path = path.replace("3911", "320102")
    if "/policies/" in path:
        path = path.replace("/1", "/xina-jiuye-buzhu")
    return path


@pytest.mark.parametrize("method, path, who", ROWS, ids=[f"{m} {p}" for m, p, _ in ROWS])
def test_each_role_reaches_exactly_what_the_table_says(app, keys, callers, method, path, who):
    c = app.test_client()
    allowed = _allowed(who)
    url = _url(path, keys["own"])
    for caller in CALLERS:
        headers = {"Idempotency-Key": f"m-{caller}"}
        if callers[caller]:
            headers["Authorization"] = f"Bearer {callers[caller]}"
        r = c.open(url, method=method, json={} if method in ("POST", "PUT") else None, headers=headers)
        if caller in allowed:
            assert r.status_code not in (401, 403), (caller, method, url, r.status_code, r.json)
        elif caller in ("none", "revoked"):
            assert r.status_code == 401, (caller, method, url, r.status_code)
        else:
            assert r.status_code == 403, (caller, method, url, r.status_code, r.json)
        assert r.status_code < 500, (caller, method, url, r.get_data(as_text=True)[:300])


@pytest.mark.parametrize("method, path, who", [r for r in ROWS if "{uscc}" in r[1]], ids=lambda x: str(x)[:60])
def test_an_enterprise_key_never_acts_on_another_enterprise(app, keys, method, path, who):
    c = app.test_client()
    url = _url(path, keys["other"])
    headers = {"Authorization": f"Bearer {keys['enterprise']}", "Idempotency-Key": "other"}
    r = c.open(url, method=method, json={"commitment": True, "facts": {"graduates_hired": 1}}
               if method == "POST" else None, headers=headers)  # fmt: skip
    assert r.status_code == 403, (method, url, r.status_code)
