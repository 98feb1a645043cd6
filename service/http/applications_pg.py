"""即申即办 on PostgreSQL, on the driver: the whole request in one transaction and two round trips.

Through a SQLAlchemy session a decision took eight round trips and most of its CPU in
building, sending and reading statements. Here psycopg runs the same transaction in
pipeline mode:

1. BEGIN, the idempotency claim, the two new rows' ids and the applicant with the policy's
   current version, the facts and any payout already made — one query, one round trip;
2. the rule engine decides in Python (:mod:`service.http.verdicts`, shared with the session
   path), then the application, the decision, the stored answer, the audit append and
   COMMIT go together and are answered together.

A decision that pays adds one: the application and decision rows, then the budget
reserved and the payout inserted in one statement (:func:`service.ledger.payouts.settle`'s steps).

What the idempotency layer guarantees holds here too (see :mod:`service.http.idempotency`):
the claim is a transaction-scoped advisory lock, so a twin that holds it, or a live
stored answer, gets the twin's answer; the stored answer is a plain INSERT, so should a
twin's answer have committed meanwhile, the unique (caller, key) constraint fails this
transaction, everything in it rolls back and the twin's answer is returned; a refusal
rolls back and is kept in a transaction of its own. The audit records are appended by
``zhida_audit_append`` right before COMMIT in the same pipeline, so its lock is held
for the server's own time, with no round trip inside.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import namedtuple

import psycopg
from flask import current_app, make_response, request

from graph.errors import GraphError
from matcher.errors import MatcherError
from matcher.spec import PERIODS
from service import audit
from service.errors import ServiceError
from service.http.guard import current_principal
from service.http.idempotency import answer_row, answer_twin, lock_words, request_key, store_refusal
from service.http.verdicts import answer, asked, check_access, judge, name_missing, review_note, stored_declared
from service.ledger.facts import applicant_of, spec_of
from service.ledger.payouts import EXHAUSTED, decision_row, period_of, refusal, repeat, unmet

_READ = """
WITH claim AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock(%(hi)s, %(lo)s) AS claimed,
           (SELECT expires_at FROM idempotency_keys WHERE principal = %(principal)s AND key = %(key)s) AS expires,
           nextval('applications_id_seq') AS application_id,
           nextval('decisions_id_seq') AS decision_id
), head AS MATERIALIZED (
    SELECT e.id AS e_id, e.uscc, e.region, e.industry, e.established_on,
           pv.id AS pv_id, pv.policy_id, pv.version, pv.spec_hash,
           (SELECT json_agg(json_build_array(py.period, py.id, py.status)) FROM payouts py
            WHERE py.policy_id = pv.policy_id AND py.enterprise_id = e.id AND py.period = ANY(%(periods)s)) AS paid
    FROM enterprises e
    JOIN policies p ON p.slug = %(slug)s
    JOIN policy_versions pv ON pv.policy_id = p.id AND pv.version = p.current_version
    WHERE e.uscc = %(uscc)s
)
SELECT claim.claimed, claim.expires, claim.application_id, claim.decision_id, head.e_id, head.uscc, head.region,
       head.industry, head.established_on, head.pv_id, head.policy_id, head.version, head.spec_hash, head.paid,
       fv.field, fv.value, fv.source, fv.as_of, fv.recorded_at, fv.id AS fv_id
FROM claim
LEFT JOIN head ON true
LEFT JOIN field_values fv ON fv.enterprise_id = head.e_id AND fv.as_of <= %(as_of)s
"""  # each CTE evaluated once (the claim is volatile); one row per fact, or one with no fact. ``paid``: this
# enterprise's payouts under the policy in each period a decision today could fall in, [[period, id, status]]
_Read = namedtuple(
    "_Read",
    "claimed expires application_id decision_id e_id uscc region industry established_on"
    " pv_id policy_id version spec_hash paid field value source as_of recorded_at fv_id",
)  # _READ's columns, named once (the driver's namedtuple rows would name them on every call)
_SPEC = "SELECT spec FROM policy_versions WHERE id = %s"
_FORGET_EXPIRED = "DELETE FROM idempotency_keys WHERE principal = %(principal)s AND key = %(key)s"
_NEW_APPLICATION = """
INSERT INTO applications (id, enterprise_id, policy_version_id, declared, commitment_accepted, status, created_at)
VALUES (%(a_id)s, %(a_enterprise_id)s, %(a_policy_version_id)s, %(a_declared)s::json, true, %(a_status)s,
        %(a_created_at)s)
"""
_NEW_DECISION = """
INSERT INTO decisions (id, application_id, enterprise_id, policy_version_id, outcome, amount, trace, missing,
                       as_of, decided_at)
VALUES (%(d_id)s, %(d_application_id)s, %(d_enterprise_id)s, %(d_policy_version_id)s, %(d_outcome)s, %(d_amount)s,
        %(d_trace)s::json, %(d_missing)s::json, %(d_as_of)s, %(d_decided_at)s)
"""
_PAID_BEFORE = """
SELECT id, status FROM payouts WHERE policy_id = %(policy_id)s AND enterprise_id = %(enterprise_id)s
AND period = %(period)s
"""
_RESERVE_AND_PAY = """
WITH reserved AS (
    UPDATE budgets SET reserved = reserved + %(amount)s
    WHERE policy_id = %(policy_id)s AND total - reserved - paid >= %(amount)s RETURNING policy_id
), payout AS (
    INSERT INTO payouts (policy_id, enterprise_id, period, amount, status, decision_id, created_at, updated_at)
    SELECT %(policy_id)s, %(enterprise_id)s, %(period)s, %(amount)s, 'decided', %(decision_id)s, %(now)s, %(now)s
    FROM reserved
    ON CONFLICT (policy_id, enterprise_id, period) DO NOTHING RETURNING id
)
SELECT EXISTS (SELECT FROM reserved), (SELECT id FROM payout)
"""  # the budget reserved by a conditional UPDATE (with the CHECK, never overspent), then the payout
_UNRESERVE = "UPDATE budgets SET reserved = reserved - %(amount)s WHERE policy_id = %(policy_id)s"
_STORE_ANSWER = """
INSERT INTO idempotency_keys (principal, key, request_hash, status, response_status, response_body, response_type,
                              created_at, expires_at)
VALUES (%(k_principal)s, %(k_key)s, %(k_request_hash)s, %(k_status)s, %(k_response_status)s, %(k_response_body)s,
        %(k_response_type)s, %(k_created_at)s, %(k_expires_at)s)
"""  # no ON CONFLICT: a twin's committed answer must fail this transaction
_KEY_CONSTRAINT = "uq_idempotency_keys_principal_key"


class _Twin(Exception):
    """Another request with this key holds the claim or has answered."""


def apply(engine):
    """``POST /api/applications`` on PostgreSQL (the view checks the caller's role first)."""
    principal, key, digest = request_key()
    try:
        ask = asked(request.get_json(silent=True))
    except ServiceError as e:
        return store_refusal(engine, principal, key, digest, make_response(current_app.handle_user_exception(e)))
    pooled = engine.raw_connection()  # from SQLAlchemy's pool: the same checkout checks and fork safety
    conn = pooled.driver_connection
    try:
        return _transaction(engine, conn, ask, principal, key, digest)
    finally:
        if conn.broken or conn.closed:
            pooled.invalidate()
        pooled.close()


def _transaction(engine, conn: psycopg.Connection, ask, principal: str, key: str, digest: str):
    today = dt.date.today()
    now = dt.datetime.now(dt.UTC)
    who = current_principal()
    actor = f"{who.role}:{who.key_prefix}"
    hi, lo = lock_words(principal, key)
    try:
        with conn.pipeline():
            cur = conn.cursor()
            cur.execute(
                _READ,
                {"hi": hi, "lo": lo, "principal": principal, "key": key}
                | {"slug": ask.policy_id, "as_of": today, "uscc": ask.uscc, "periods": _periods(today)},
            )
            rows = [_Read._make(row) for row in cur.fetchall()]
            first = rows[0]
            if not first.claimed or (first.expires is not None and first.expires >= now):
                raise _Twin
            if first.expires is not None:  # an expired answer gives way
                cur.execute(_FORGET_EXPIRED, {"principal": principal, "key": key})
            if first.e_id is None:
                name_missing(engine, ask.uscc, ask.policy_id)
            ent, pv, verified, sources = applicant_of(rows, today)
            check_access(ent.id)
            spec = spec_of(pv, load=lambda version_id: cur.execute(_SPEC, (version_id,)).fetchone()[0])
            judged = judge(spec, ask.declared, verified, sources, today)
            app_id, decision_id = first.application_id, first.decision_id
            held = _Held()
            held.add(
                "a",
                _NEW_APPLICATION,
                {
                    "a_id": app_id,
                    "a_enterprise_id": ent.id,
                    "a_policy_version_id": pv.id,
                    "a_declared": json.dumps(stored_declared(judged)),
                    "a_status": "pending_review" if judged.queued else "decided",
                    "a_created_at": now,
                },
            )
            entries = []
            subject = f"{spec.id}:{ent.uscc}"
            if judged.queued:
                _record(held, decision_id, ent, pv, judged.decision, "eligible", app_id)
                entries.append((actor, "application.pending_review", subject, {"application": app_id}))
                outcome, reason, payout_id = "pending_review", review_note(spec), None
            else:
                audited = (actor, subject, entries)
                outcome, reason, payout_id = _settle(
                    cur, held, ent, pv, spec, judged, app_id, decision_id, now, audited, first.paid or []
                )
            resp = make_response(answer(app_id, ent, spec, pv, judged, outcome, reason, payout_id))
            stored = answer_row(principal, key, digest, resp, now)
            held.add("k", _STORE_ANSWER, {f"k_{name}": value for name, value in stored.items()})
            held.last(cur, audit.server_append_args(entries))
            cur.execute("COMMIT")  # answered, with every write above, at the pipeline's end (its Sync)
        return resp
    except _Twin:
        conn.rollback()
        return answer_twin(engine, principal, key, digest)
    except (ServiceError, MatcherError, GraphError) as e:  # a refusal: nothing it wrote stays; it is the answer
        conn.rollback()
        return store_refusal(engine, principal, key, digest, make_response(current_app.handle_user_exception(e)))
    except psycopg.errors.UniqueViolation as e:
        conn.rollback()
        if e.diag.constraint_name != _KEY_CONSTRAINT:
            raise
        return answer_twin(engine, principal, key, digest)  # its answer committed while we worked
    except BaseException:
        if not conn.broken and not conn.closed:
            conn.rollback()
        raise


class _Held:
    """Inserts held back to go out as one statement with the stored answer and the audit append:
    data-modifying CTEs, whose foreign keys are checked at the statement's end."""

    def __init__(self):
        self.parts: list[tuple[str, str]] = []
        self.params: dict = {}

    def add(self, name: str, sql: str, params: dict) -> None:
        self.parts.append((name, sql))
        self.params.update(params)

    def now(self, cur) -> None:
        """Send the held inserts as they are (pipelined: no wait), before a statement that needs their rows."""
        for _, sql in self.parts:
            cur.execute(sql, self.params)
        self.parts.clear()
        self.params = {}

    def last(self, cur, audit_args: dict) -> None:
        """The held inserts and the audit append in one statement, the transaction's last before COMMIT."""
        ctes = ", ".join(f"{name} AS ({sql})" for name, sql in self.parts)
        cur.execute(_last_sql(ctes), self.params | audit_args)


@functools.cache
def _last_sql(ctes: str) -> str:
    return f"WITH {ctes} {audit.SERVER_APPEND}"  # one text per combination: each is prepared once


def _record(held: _Held, decision_id: int, ent, pv, decision, outcome: str, app_id: int) -> None:
    row = decision_row(ent.id, pv.id, decision, outcome, app_id)
    row |= {"id": decision_id, "trace": json.dumps(row["trace"]), "missing": json.dumps(row["missing"])}
    held.add("d", _NEW_DECISION, {f"d_{name}": value for name, value in row.items()})


def _periods(today: dt.date) -> list[str]:
    """Every ledger period a decision made today can fall in (one per kind of spec period)."""
    return sorted({period_of(kind, today) for kind in PERIODS})


def _settle(cur, held: _Held, ent, pv, spec, judged, app_id: int, decision_id: int, now, audited, paid_before):
    """:func:`service.ledger.payouts.settle` on the driver: the same outcomes, reasons, rows and audit records.
    Returns ``(outcome, reason, payout_id)``; the audit entries go to ``audited = (actor, subject, entries)``."""
    actor, subject, entries = audited
    decision = judged.decision
    reason = refusal(judged.facts)
    if reason is not None:
        _record(held, decision_id, ent, pv, decision, "refused", app_id)
        entries.append((actor, "decision.refused", subject, {"decision": decision_id, "reason": reason}))
        return "refused", reason, None
    if decision.outcome != "eligible":
        _record(held, decision_id, ent, pv, decision, decision.outcome, app_id)
        payload = {"decision": decision_id, "missing": list(decision.missing)}
        entries.append((actor, f"decision.{decision.outcome}", subject, payload))
        return decision.outcome, unmet(decision), None

    period = period_of(spec.period, decision.as_of or dt.date.today())
    key = {"policy_id": pv.policy_id, "enterprise_id": ent.id, "period": period}
    existing = next((found for found in paid_before if found[0] == period), None)  # read with the applicant
    if existing is not None:
        _, existing_id, status = existing
        payload = {"payout": existing_id, "period": period, "application": app_id}
        entries.append((actor, "decision.already_paid", subject, payload))
        return "already_paid", repeat(period, status), existing_id
    amount = decision.amount
    _record(held, decision_id, ent, pv, decision, "eligible", app_id)
    held.now(cur)  # the payout refers to the decision, the decision to the application
    reserved, payout_id = cur.execute(
        _RESERVE_AND_PAY, key | {"amount": amount, "decision_id": decision_id, "now": now}
    ).fetchone()
    if not reserved:
        entries.append((actor, "decision.budget_exhausted", subject, {"decision": decision_id, "amount": amount}))
        return "budget_exhausted", EXHAUSTED, None
    if payout_id is None:  # a concurrent twin committed the same (policy, enterprise, period) first
        cur.execute(_UNRESERVE, {"policy_id": pv.policy_id, "amount": amount})
        twin = cur.execute(_PAID_BEFORE, key).fetchone()
        return "already_paid", repeat(period), twin[0] if twin else None
    payload = {"decision": decision_id, "payout": payout_id, "amount": amount, "period": period}
    entries.append((actor, "payout.decided", subject, payload | {"policy_version": pv.version}))
    return "paid", "", payout_id
