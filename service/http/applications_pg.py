"""即申即办 on PostgreSQL, on the driver: the whole request in one transaction and two or three round trips.

Through a SQLAlchemy session a decision took eight round trips and most of its CPU in
building, sending and reading statements. Here psycopg runs the same transaction in
pipeline mode, and writes the same plan the session path writes
(:mod:`matcher.settlement` plans, :mod:`service.ledger.executor` says what each row holds):

1. BEGIN, the idempotency claim, the new rows' ids, the applicant with the measure's current
   version and its supplements, the facts and the rosters on record, and what the plan rests on
   (payouts, the group's account, budgets) — one query, one round trip;
2. the rule engine decides and the planner plans in Python (:mod:`service.http.verdicts`,
   shared with the session path); the application, the decision rows, the stored answer, the
   audit append and COMMIT go together and are answered together.

A plan that pays adds one round trip: the rows, then per grant the budget reserved and the
payout inserted in one statement, and the group's account moved (compare-and-set). Should
any of these find the ledger changed since step 1 (a concurrent writer), the transaction
rolls back and the request starts again from step 1 with a fresh read.

What the idempotency layer guarantees holds here too (see :mod:`service.http.idempotency`):
the claim is a transaction-scoped advisory lock, so a twin that holds it, or a live
stored answer, gets the twin's answer; the stored answer is a plain INSERT, so should a
twin's answer have committed meanwhile, the unique (caller, key) constraint fails this
transaction, everything in it rolls back and the twin's answer is returned; a refusal
rolls back and is kept in a transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import namedtuple
from decimal import Decimal

import psycopg
from flask import current_app, make_response, request

from graph.errors import GraphError
from matcher.errors import MatcherError
from matcher.facts import close, pick
from matcher.settlement import Claim, Ledger, Paid, Part, Unit, decide_unit, period_of, plan
from matcher.spec import PERIODS
from service import audit
from service.errors import Conflict, ServiceError
from service.http.guard import current_principal
from service.http.idempotency import answer_row, answer_twin, lock_words, request_key, store_refusal
from service.http.verdicts import answer, application_row, asked, check_access, judge, name_missing
from service.ledger.executor import ATTEMPTS, Stale, Target, Written, audit_entry, decision_values
from service.ledger.facts import Subject, VersionRef, spec_of, typed_facts

_READ = """
WITH claim AS MATERIALIZED (
    SELECT pg_try_advisory_xact_lock(%(hi)s, %(lo)s) AS claimed,
           (SELECT expires_at FROM idempotency_keys WHERE principal = %(principal)s AND key = %(key)s) AS expires,
           nextval('applications_id_seq') AS application_id,
           nextval('decisions_id_seq') AS decision_id
), head AS MATERIALIZED (
    SELECT e.id AS e_id, e.uscc, e.region, e.industry, e.established_on,
           pv.id AS pv_id, pv.policy_id, pv.version, pv.spec_hash, pv.exclusive_group
    FROM enterprises e
    JOIN policies p ON p.slug = %(slug)s
    JOIN policy_versions pv ON pv.policy_id = p.id AND pv.version = p.current_version
    WHERE e.uscc = %(uscc)s
), sup AS MATERIALIZED (
    SELECT spv.id, spv.policy_id, spv.version, spv.spec_hash, sp.slug, nextval('decisions_id_seq') AS decision_id
    FROM policy_versions spv JOIN policies sp ON sp.id = spv.policy_id AND sp.current_version = spv.version
    WHERE spv.supplement_of = %(slug)s AND sp.status = 'published'
), unit AS MATERIALIZED (
    SELECT policy_id FROM head UNION ALL SELECT policy_id FROM sup
), ledger AS MATERIALIZED (
    SELECT
      (SELECT json_agg(json_build_array(s.id, s.policy_id, s.version, s.spec_hash, s.slug, s.decision_id)
                       ORDER BY s.slug)
       FROM sup s) AS supplements,
      (SELECT json_agg(json_build_array(py.policy_id, py.period, py.id, py.seq, py.amount::text, py.clawed::text,
                                        py.status))
       FROM payouts py, head h
       WHERE py.enterprise_id = h.e_id AND py.period = ANY(%(periods)s)
         AND py.policy_id IN (SELECT policy_id FROM unit)) AS paid,
      (SELECT json_agg(json_build_array(g.period, g.paid::text, g.best::text, bp.slug))
       FROM group_claims g JOIN policies bp ON bp.id = g.best_policy_id, head h
       WHERE g.enterprise_id = h.e_id AND g.exclusive_group = h.exclusive_group
         AND g.period = ANY(%(periods)s)) AS claims{budgets}
)
SELECT claim.claimed, claim.expires, claim.application_id, head.e_id, head.uscc, head.region, head.industry,
       head.established_on, head.pv_id, head.policy_id, head.version, head.spec_hash, claim.decision_id,
       ledger.supplements::text, ledger.paid::text, ledger.claims::text, {ledger_budgets}::text,
       (SELECT json_agg(json_build_array(fv.field, fv.value, fv.source, fv.as_of, fv.recorded_at, fv.id))
        FROM field_values fv WHERE fv.enterprise_id = head.e_id AND fv.as_of <= %(as_of)s)::text AS facts,
       (SELECT json_agg(json_build_array(rp.roster, rp.as_of))
        FROM roster_publications rp WHERE rp.as_of <= %(as_of)s)::text AS rosters
FROM claim
LEFT JOIN head ON true
LEFT JOIN ledger ON true
"""  # each CTE evaluated once (the claim is volatile); one row. The facts and the ledger come as JSON text,
# parsed with one json.loads each (money as text: JSON numbers would come back as floats; dates and times as ISO
# text, which orders like the values within one session's time zone). ``paid`` and ``claims`` cover every period
# a decision today may fall in.
_BUDGETS = """,
      (SELECT json_agg(json_build_array(b.policy_id, (b.total - b.reserved - b.paid)::text))
       FROM budgets b WHERE b.policy_id IN (SELECT policy_id FROM unit)) AS budgets"""
_READS = (
    _READ.format(budgets="", ledger_budgets="NULL"),  # first: the budgets' conditional UPDATE has the last word
    _READ.format(budgets=_BUDGETS, ledger_budgets="ledger.budgets"),  # after a reservation failed: plan on them
)
_Read = namedtuple(
    "_Read",
    "claimed expires application_id e_id uscc region industry established_on pv_id policy_id version spec_hash"
    " decision_id supplements paid claims budgets facts rosters",
)  # _READ's columns, named once (the driver's namedtuple rows would name them on every call)
_SPEC = "SELECT spec FROM policy_versions WHERE id = %s"
_FORGET_EXPIRED = "DELETE FROM idempotency_keys WHERE principal = %(principal)s AND key = %(key)s"
_NEW_APPLICATION = """
INSERT INTO applications (id, enterprise_id, policy_version_id, declared, commitment_accepted, status, created_at)
VALUES (%(a_id)s, %(a_enterprise_id)s, %(a_policy_version_id)s, %(a_declared)s::json, true, %(a_status)s,
        %(a_created_at)s)
"""
_DECISION_COLUMNS = (
    "id application_id enterprise_id policy_version_id outcome amount trace missing as_of decided_at settlement reason"
    " steps facts"
).split()
_JSON_COLUMNS = ("trace", "missing", "steps", "facts")
_RESERVE_AND_PAY = """
WITH reserved AS (
    UPDATE budgets SET reserved = reserved + %(amount)s
    WHERE policy_id = %(policy_id)s AND total - reserved - paid >= %(amount)s RETURNING policy_id
), payout AS (
    INSERT INTO payouts (policy_id, enterprise_id, period, seq, amount, clawed, status, decision_id, created_at,
                         updated_at)
    SELECT %(policy_id)s, %(enterprise_id)s, %(period)s, %(seq)s, %(amount)s, 0, 'decided', %(decision_id)s, %(now)s,
           %(now)s
    FROM reserved
    ON CONFLICT (policy_id, enterprise_id, period, seq) DO NOTHING RETURNING id
)
SELECT EXISTS (SELECT FROM reserved), (SELECT id FROM payout)
"""  # the budget reserved by a conditional UPDATE (with the CHECK, never overspent), then the payout
_NEW_CLAIM = """
INSERT INTO group_claims (enterprise_id, exclusive_group, period, paid, best, best_policy_id, updated_at)
SELECT %(enterprise_id)s, %(group)s, %(period)s, %(paid)s, %(best)s, id, %(now)s
FROM policies WHERE slug = %(best_policy)s
ON CONFLICT (enterprise_id, exclusive_group, period) DO NOTHING RETURNING 1
"""
_MOVE_CLAIM = """
UPDATE group_claims SET paid = %(paid)s, best = %(best)s, updated_at = %(now)s,
       best_policy_id = (SELECT id FROM policies WHERE slug = %(best_policy)s)
WHERE enterprise_id = %(enterprise_id)s AND exclusive_group = %(group)s AND period = %(period)s
  AND paid = %(expected)s
RETURNING 1
"""  # compare-and-set: the group's account moves only from the amount the plan saw
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
        for attempt in range(ATTEMPTS):
            try:
                return _transaction(engine, conn, ask, principal, key, digest, with_budgets=attempt > 0)
            except Stale:  # the ledger moved under the plan (or a budget ran short): rolled back; read again
                conn.rollback()
        raise Conflict("兑现账目被并发修改，多次重试仍未完成，请稍后重试")
    finally:
        if conn.broken or conn.closed:
            pooled.invalidate()
        pooled.close()


def _transaction(engine, conn: psycopg.Connection, ask, principal: str, key: str, digest: str, with_budgets: bool):
    today = dt.date.today()
    now = dt.datetime.now(dt.UTC)
    who = current_principal()
    actor = f"{who.role}:{who.key_prefix}"
    hi, lo = lock_words(principal, key)
    try:
        with conn.pipeline():
            cur = conn.cursor()
            cur.execute(
                _READS[with_budgets],
                {"hi": hi, "lo": lo, "principal": principal, "key": key}
                | {"slug": ask.policy_id, "as_of": today, "uscc": ask.uscc, "periods": _periods(today)},
            )
            first = _Read._make(cur.fetchone())
            if not first.claimed or (first.expires is not None and first.expires >= now):
                raise _Twin
            if first.expires is not None:  # an expired answer gives way
                cur.execute(_FORGET_EXPIRED, {"principal": principal, "key": key})
            if first.e_id is None:
                name_missing(engine, ask.uscc, ask.policy_id)
            ent = Subject(first.e_id, first.uscc, first.region, first.industry, first.established_on)
            pv = VersionRef(first.pv_id, first.policy_id, first.version, first.spec_hash)
            current = close(pick(_parsed(first.facts)), _parsed(first.rosters), today)  # the rosters settle theirs
            verified, sources = typed_facts(current, ent, today)
            check_access(ent.id)
            sups, paid, claims = (_parsed(x) for x in (first.supplements, first.paid, first.claims))
            budgets = _parsed(first.budgets) if with_budgets else None

            def load(version_id):
                return cur.execute(_SPEC, (version_id,)).fetchone()[0]

            spec = spec_of(pv, load=load)
            judged = judge(spec, ask.declared, verified, sources, today)
            versions = {spec.id: pv}
            supplements = []
            ids = {spec.id: first.decision_id}  # each measure's new decision row
            for pv_id, policy_id, version, digest_, slug, decision_id in sups:
                ref = versions[slug] = VersionRef(pv_id, policy_id, version, digest_)
                supplements.append(spec_of(ref, load=load))
                ids[slug] = decision_id
            unit = Unit(spec, tuple(supplements))
            decisions = decide_unit(unit, judged.facts, today, judged.sources, root=judged.decision)
            ledger = _ledger(paid, claims, budgets, versions, period_of(spec.period, today), spec.exclusive_group)
            p = plan(unit, decisions, judged.facts, ledger, today, today, review=spec.mode == "review")
            app_id = first.application_id
            target = Target(ent.id, ent.uscc, versions, app_id)
            written = _write(cur, target, spec.id, p, ids, judged, now)
            entries = [
                audit_entry(actor, target, p, o, written[o.policy_id].decision_id, written[o.policy_id].payout_id, None)
                for o in p.outcomes
                if o.record
            ]
            resp = make_response(answer(app_id, ent, spec, pv, judged, p, written))
            stored = answer_row(principal, key, digest, resp, now)
            held = written.pop("_held")
            held.add("k", _STORE_ANSWER, {f"k_{name}": value for name, value in stored.items()})
            held.last(cur, audit.server_append_args(entries))
            cur.execute("COMMIT")  # answered, with every write above, at the pipeline's end (its Sync)
        return resp
    except _Twin:
        conn.rollback()
        return answer_twin(engine, principal, key, digest)
    except Stale:
        raise
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


def _parsed(text: str | None) -> list:
    return json.loads(text) if text else []


def _ledger(paid_rows, claim_rows, budget_rows, versions: dict, period: str, group: str | None) -> Ledger:
    """The plan's ground, from the read's JSON (money as text, so exact)."""
    slug_of = {ref.policy_id: slug for slug, ref in versions.items()}
    parts: dict[str, list[Part]] = {}
    for policy_id, p_period, payout_id, seq, amount, clawed, status in paid_rows:
        if p_period == period and policy_id in slug_of:
            parts.setdefault(slug_of[policy_id], []).append(
                Part(payout_id, seq, Decimal(amount), Decimal(clawed), status)
            )
    paid = {}
    for slug, ps in parts.items():
        grant = next((x for x in ps if x.seq == 0), None)
        if grant is not None:
            paid[slug] = Paid(grant.payout_id, grant.status, grant.amount, tuple(sorted(ps, key=lambda x: x.seq)))
    claims = {}
    for c_period, c_paid, c_best, c_slug in claim_rows:
        if c_period == period and group is not None:
            claims[group] = Claim(Decimal(c_paid), Decimal(c_best), c_slug)
    remaining = None  # not read: the reservation decides, and a failed one is planned again on the budgets
    if budget_rows is not None:
        remaining = {slug_of[pid]: Decimal(left) for pid, left in budget_rows if pid in slug_of}
    return Ledger(paid, claims, remaining)


def _write(cur, target: Target, root: str, p, decision_ids, judged, now) -> dict:
    """The plan's rows: application, decisions, then (when it pays) budgets, payouts and the group's account.
    Returns what was written per measure, and the held inserts (``"_held"``) that go out last."""
    held = _Held()
    row = application_row(target.enterprise_id, target.versions[root].id, judged, p.outcome(root).settlement)
    row = row | {"id": target.application_id, "declared": json.dumps(row["declared"])}
    held.add("a", _NEW_APPLICATION, {f"a_{name}": row[name] for name in _app_names()})
    decision_of = {}
    for n, o in enumerate(o for o in p.outcomes if o.record):
        values = decision_values(target, o, now) | {"id": decision_ids[o.policy_id]}
        for name in _JSON_COLUMNS:
            values[name] = json.dumps(values[name], ensure_ascii=False)
        held.add(f"d{n}", _decision_sql(n), {f"d{n}_{c}": values[c] for c in _DECISION_COLUMNS})
        decision_of[o.policy_id] = values["id"]
    payout_of = {}
    if p.grants or p.claim is not None:
        held.now(cur)  # the payouts refer to the decisions, the decisions to the application
    for g in p.grants:
        ref = target.versions[g.policy_id]
        reserved, payout_id = cur.execute(
            _RESERVE_AND_PAY,
            {
                "policy_id": ref.policy_id,
                "enterprise_id": target.enterprise_id,
                "period": g.period,
                "seq": g.seq,
                "amount": g.amount,
                "decision_id": decision_of.get(g.policy_id),
                "now": now,
            },
        ).fetchone()
        if not reserved or payout_id is None:
            raise Stale(f"预算或兑现已变化：{g.policy_id}")
        payout_of[g.policy_id] = payout_id
    if p.claim is not None:
        c = p.claim
        params = {
            "enterprise_id": target.enterprise_id,
            "group": c.group,
            "period": c.period,
            "paid": c.paid,
            "best": c.best,
            "best_policy": c.best_policy,
            "expected": c.expected,
            "now": now,
        }
        if cur.execute(_NEW_CLAIM if c.expected is None else _MOVE_CLAIM, params).fetchone() is None:
            raise Stale(f"同组兑现已变化：{c.group}")
    out = {
        o.policy_id: Written(decision_of.get(o.policy_id), payout_of.get(o.policy_id) or o.payout_id)
        for o in p.outcomes
    }
    out["_held"] = held
    return out


@functools.cache
def _app_names() -> tuple[str, ...]:
    return ("id", "enterprise_id", "policy_version_id", "declared", "status", "created_at")


@functools.cache
def _decision_sql(n: int) -> str:
    columns = ", ".join(_DECISION_COLUMNS)
    values = ", ".join(f"%(d{n}_{c})s" + ("::json" if c in _JSON_COLUMNS else "") for c in _DECISION_COLUMNS)
    return f"INSERT INTO decisions ({columns}) VALUES ({values})"


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
        cur.execute(_last_sql(tuple(self.parts)), self.params | audit_args)


@functools.cache
def _last_sql(parts: tuple[tuple[str, str], ...]) -> str:
    """``WITH`` the inserts, then the audit append. The main query filters on the inserts' counts, so they run
    before the append takes the audit lock (an insert no query reads runs at the statement's end, after the
    append: inside the lock every writer waits for). Each text is prepared once."""
    if not parts:
        return audit.SERVER_APPEND
    ctes = ", ".join(f"{name} AS ({sql} RETURNING 1)" for name, sql in parts)
    done = " + ".join(f"(SELECT count(*) FROM {name})" for name, _ in parts)
    append = "SELECT zhida_audit_append(%(entries)s::json)"
    return f"WITH {ctes} {append} FROM (SELECT {done} AS written) AS rows_first WHERE rows_first.written >= 0"


def _periods(today: dt.date) -> list[str]:
    """Every ledger period a decision made today can fall in (one per kind of spec period)."""
    return sorted({period_of(kind, today) for kind in PERIODS})
