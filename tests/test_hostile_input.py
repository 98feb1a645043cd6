"""What issue 14 found by attacking the API, each reproduced: every request below answered 500 (or, for a
sweep with an empty body and a 5 MB body of unknown keys, did real work) on the starting commit. Each must
answer 4xx as ``application/problem+json`` with a Chinese detail, and write nothing."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, inspect, select, table

from service.store import session_scope
from service.store.models import Enterprise

HAN = re.compile(r"[\u4e00-\u9fff]")


def _counts(engine) -> dict[str, int]:
    # a refusal kept as the answer of its Idempotency-Key is no change of state (docs/api.md, idempotency)
    skip = ("alembic_version", "api_keys", "idempotency_keys")
    names = [n for n in inspect(engine).get_table_names() if n not in skip]
    with engine.connect() as conn:
        return {n: conn.execute(select(func.count()).select_from(table(n))).scalar_one() for n in names}


def _send(client, method: str, url: str, key: str | None, body: bytes | None = None, **headers):
    headers = {**({"Authorization": f"Bearer {key}"} if key else {}), **headers}
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Idempotency-Key", "hostile-1")
    return client.open(url, method=method, data=body, headers=headers)


def _refused(r, status: int | tuple[int, ...] | None = None) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    if status is not None:
        assert r.status_code in ((status,) if isinstance(status, int) else status), r.get_data(as_text=True)[:300]
    assert r.mimetype == "application/problem+json"
    assert HAN.search(r.json["detail"]), r.json
    assert "Traceback" not in r.get_data(as_text=True)


def _deep(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


NUL, SURROGATE = "\\u0000", "\\ud800"  # as they arrive: JSON escapes (a lone surrogate cannot be UTF-8)


def test_nul_and_lone_surrogates_in_bodies_are_refused_and_write_nothing(app, keys, engine):
    c = app.test_client()
    with session_scope(engine) as s:
        payout_id = 1  # a payout id need not exist: the body is refused before the id is looked up
        uscc = s.scalar(select(Enterprise.uscc).order_by(Enterprise.id).limit(1))
    before = _counts(engine)
    for bad in (NUL, SURROGATE):
        cases = [
            ("/api/applications", "enterprise", f'{{"policy_id": "x{bad}", "commitment": true, "declared": {{}}}}'),
            (
                "/api/applications",
                "enterprise",
                f'{{"policy_id": "xina-jiuye-buzhu", "commitment": true, "declared": {{"graduates_hired": "3{bad}"}}}}',
            ),  # fmt: skip
            (f"/api/payouts/{payout_id}/clawback", "officer", f'{{"reason": "核查{bad}"}}'),
            (f"/api/payouts/{payout_id}/revision", "officer", f'{{"reason": "复核{bad}"}}'),
            ("/api/reviews/1", "officer", f'{{"action": "reject", "comment": "不符合{bad}"}}'),
            (
                f"/api/enterprises/{uscc}/declarations",
                "enterprise",
                f'{{"commitment": true, "facts": {{"graduates_hired": "2{bad}"}}}}',
            ),  # fmt: skip
            ("/api/sweeps", "officer", f'{{"policy_id": "a{bad}", "dry_run": true}}'),
        ]
        for url, role, body in cases:
            r = _send(c, "POST", url, keys[role], body.encode())
            _refused(r)
    assert _counts(engine) == before


@pytest.mark.parametrize(
    "url, role",
    [
        ("/api/enterprises?q=%00", "officer"),
        ("/api/enterprises?q=" + "企" * 600, "officer"),  # over the length of any parameter
        ("/api/policies/%00", "officer"),
        ("/api/policies?mode=%00", "officer"),
        ("/api/reference/search?q=%00", None),
        ("/api/reference/industries/%00", None),
        ("/policies/%00", None),
        ("/api/applications/2147483648", "officer"),
        ("/api/applications/99999999999999999999999", "officer"),
        ("/api/models/training/2147483648", "analyst"),
    ],
)
def test_bad_characters_and_huge_ids_in_urls_are_refused(app, keys, url, role):
    r = _send(app.test_client(), "GET", url, keys[role] if role else None)
    if url.startswith("/policies/"):  # a page: an HTML error page, in Chinese
        assert r.status_code in (400, 404) and r.mimetype == "text/html" and HAN.search(r.get_data(as_text=True))
        return
    _refused(r, (400, 404))


def test_json_nested_100000_deep_is_refused_on_every_post(app, keys, engine):
    c = app.test_client()
    before = _counts(engine)
    for url, role in [
        ("/api/applications", "enterprise"),
        ("/api/sweeps", "officer"),
        ("/api/reviews/1", "officer"),
        ("/api/payouts/1/clawback", "officer"),
        ("/api/models/ranker/training", "analyst"),
        (f"/api/enterprises/{keys['own']}/declarations", "enterprise"),
    ]:
        _refused(_send(c, "POST", url, keys[role], _deep(100_000)))
        _refused(_send(c, "POST", url, keys[role], ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()))
    assert _counts(engine) == before


@pytest.mark.parametrize("value", ["1e30", "1" * 400, "-1e30", "NaN", "Infinity"])
def test_declared_money_out_of_any_range_is_refused(app, keys, engine, value):
    before = _counts(engine)
    body = json.dumps({"commitment": True, "facts": {"rd_expense_last_year": value}}).encode()
    r = _send(app.test_client(), "POST", f"/api/enterprises/{keys['own']}/declarations", keys["enterprise"], body)
    _refused(r, (400, 422))
    raw = f'{{"policy_id": "xina-jiuye-buzhu", "commitment": true, "declared": {{"rd_expense_last_year": {value}}}}}'
    _refused(_send(app.test_client(), "POST", "/api/applications", keys["enterprise"], raw.encode()), (400, 422))
    assert _counts(engine) == before


def test_a_sweep_names_its_scope(app, keys, engine):
    """An empty body ran a real sweep of every automatic policy; now all policies only when asked by name."""
    c = app.test_client()
    before = _counts(engine)
    for body in (b"", b"{}", b'{"dry_run": false}'):
        r = _send(c, "POST", "/api/sweeps", keys["officer"], body, **{"Idempotency-Key": f"s-{len(body)}"})
        _refused(r, (400, 422))
        assert "policy_id" in r.get_data(as_text=True) or "scope" in r.get_data(as_text=True)
    assert _counts(engine) == before
    r = _send(c, "POST", "/api/sweeps", keys["officer"], b'{"scope": "all", "dry_run": true}',
              **{"Idempotency-Key": "s-all"})  # fmt: skip
    assert r.status_code in (200, 201, 202), r.get_data(as_text=True)[:300]


def test_a_body_over_one_megabyte_is_413_and_unknown_keys_are_refused(app, keys, engine):
    c = app.test_client()
    before = _counts(engine)
    huge = json.dumps({"policy_id": "xina-jiuye-buzhu", "commitment": True, "junk": "x" * 5_000_000}).encode()
    _refused(_send(c, "POST", "/api/applications", keys["enterprise"], huge), 413)
    small = json.dumps({"policy_id": "xina-jiuye-buzhu", "commitment": True, "is_admin": True}).encode()
    r = _send(c, "POST", "/api/applications", keys["enterprise"], small)
    _refused(r, (400, 422))
    assert "is_admin" in r.get_data(as_text=True)
    assert _counts(engine) == before


def test_unknown_paths_and_methods_answer_in_chinese(app, keys):
    c = app.test_client()
    _refused(_send(c, "GET", "/api/nowhere", keys["officer"]), 404)
    _refused(_send(c, "DELETE", "/api/policies", keys["officer"]), 405)
    _refused(_send(c, "PUT", "/api/applications", keys["enterprise"], b"{}"), 405)
    page = c.get("/nowhere")
    assert page.status_code == 404 and page.mimetype == "text/html" and HAN.search(page.get_data(as_text=True))


def test_an_enterprise_cannot_learn_whether_another_enterprises_application_exists(app, keys, engine):
    """One rule (docs/api.md): an enterprise key asking for an object of another enterprise gets the same 404
    as for an object that does not exist."""
    c = app.test_client()
    body = json.dumps({"uscc": keys["other"], "policy_id": "xina-jiuye-buzhu", "commitment": True}).encode()
    r = _send(c, "POST", "/api/applications", keys["system"], body, **{"Idempotency-Key": "other-1"})
    assert r.status_code in (200, 201), r.get_data(as_text=True)[:300]
    theirs = r.json["application_id"]
    mine = _send(c, "GET", f"/api/applications/{theirs}", keys["enterprise"])
    missing = _send(c, "GET", "/api/applications/2000000000", keys["enterprise"])
    assert mine.status_code == missing.status_code == 404
    assert mine.json["type"] == missing.json["type"]


def test_an_enterprise_key_naming_another_enterprise_gets_the_same_403_whether_it_exists_or_not(app, keys):
    c = app.test_client()
    nobody = "91350100M000100Y43"  # a valid code no enterprise holds
    for uscc in (keys["other"], nobody):
        r = _send(c, "GET", f"/api/enterprises/{uscc}", keys["enterprise"])
        assert r.status_code == 403 and r.json["detail"] == "企业密钥只能访问本企业的数据"
        body = json.dumps({"uscc": uscc, "policy_id": "xina-jiuye-buzhu", "commitment": True}).encode()
        r = _send(c, "POST", "/api/applications", keys["enterprise"], body, **{"Idempotency-Key": f"n-{uscc}"})
        assert r.status_code == 403 and r.json["detail"] == "企业密钥只能为本企业申报"
    assert _send(c, "GET", f"/api/enterprises/{nobody}", keys["officer"]).status_code == 404  # staff may know


def test_reasons_and_comments_copied_into_the_audit_log_are_bounded(app, keys, engine):
    c = app.test_client()
    before = _counts(engine)
    long = "理" * 501
    for url, role, body in [
        ("/api/payouts/1/clawback", "officer", {"reason": long}),
        ("/api/reviews/1", "officer", {"action": "reject", "comment": long}),
        ("/api/models/ranker/rollback", "analyst", {"reason": long}),
        (f"/api/enterprises/{keys['own']}/listings", "officer", {"list": "dishonest_debtors", "reason": long}),
    ]:
        r = _send(c, "POST", url, keys[role], json.dumps(body).encode())
        _refused(r, 400)
        assert r.json["field"] in ("reason", "comment") and "500" in r.json["detail"]
    assert _counts(engine) == before
