"""The OpenAPI document against the server. schemathesis runs the whole document against the app: no answer is
a 5xx, every status is documented, and every answer fits the schema documented for its status and media type
(errors: problem+json; success answers: service.http.answers). As an admin, so that every operation gets past
its role check; the role matrix (test_role_matrix.py) covers the others. Beside it: every operation documents
a real schema for each 2xx it names, and real answers of the main endpoints, called with valid input, fit them."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator, FormatChecker
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlalchemy import select, update

EXAMPLES = 12  # per operation: the whole document in about a minute per database
METHODS = ("get", "put", "post", "delete", "patch")
PROFILE = {"region": "320114", "industry": "C3911", "established_on": "2019-04-12", "employees": 86,
           "insured_employees": 80, "revenue": "46000000", "rd_expense": "900000", "qualifications": "high_tech",
           "on_dishonesty_list": False, "in_abnormal_operation": False}  # fmt: skip


@pytest.fixture
def world(tmp_path, small_world, monkeypatch):
    """The imported small city on SQLite (the PostgreSQL store answers the same API: test_same_answers.py), its
    rosters and its knowledge graph (so that /v1 answers), the measures kept open past today, an admin key."""
    from service import knowledge
    from service.app import create_app
    from service.http import auth
    from service.io.importer import import_enterprises, import_events, import_policies
    from service.io.rosters import import_rosters
    from service.jobs.worker import run_now
    from service.store import make_engine, session_scope, upgrade
    from service.synth.params import REFERENCE_DATE

    policies = tmp_path / "policies"
    shutil.copytree(small_world / "policies", policies)
    for path in policies.glob("*.yaml"):  # open for applications today
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("valid_to: '2026-12-31'", "valid_to: '2030-12-31'"), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    import_policies(engine, policies)
    import_enterprises(engine, small_world / "enterprises.csv")
    import_rosters(engine, small_world / "rosters", REFERENCE_DATE)
    import_events(engine, small_world / "events.jsonl")
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    knowledge.build(engine, dt.date.today()).save(tmp_path / "models" / "graph.pickle")
    app = create_app(
        {
            "DATABASE_URL": url,
            "TESTING": True,
            "RATE_LIMIT": "100000 per minute",
            "APPROVAL_THRESHOLD": "1000",  # a sweep holds its payouts in batches: those answers are reached too
            "JOB_RUNNER": run_now,  # a job queued by a request runs at once (zhida worker's work)
        }
    )
    with session_scope(engine) as s:
        key = auth.create_key(s, "admin")[1]
    return SimpleNamespace(app=app, engine=engine, key=key)


def test_no_operation_answers_5xx_or_breaks_its_schema(world):
    app, key = world.app, world.key
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    seen = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        seen += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.headers = {
                **(case.headers or {}),
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])

        run()
    assert seen >= 30  # every operation of the document was run


# -- every success answer has a real schema --------------------------------------------------------------------


def _pointer(spec: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _shape_problems(spec: dict, schema: dict) -> list[str]:
    """Why a JSON body's schema says too little: each alternative must be an object listing its members, with
    the ones always sent required (not an empty schema, nor an open object with no properties)."""
    if "$ref" in schema:
        return _shape_problems(spec, _pointer(spec, schema["$ref"]))
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        return [p for alt in alternatives for p in _shape_problems(spec, alt)]
    if schema.get("type") != "object":
        return [f"not an object: {schema}"]
    if not schema.get("properties"):
        return ["an object with no properties"]
    if not schema.get("required"):
        return ["no member required"]
    if schema.get("additionalProperties") is not False:
        return ["members beyond those listed allowed"]
    return []


def test_every_operation_documents_a_schema_for_each_success_answer(world):
    spec = world.app.test_client().get("/openapi.json").get_json()
    problems = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            name = f"{method.upper()} {path}"
            success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
            if not success:
                problems.append(f"{name}: no success answer documented")
            for status, response in success.items():
                content = response.get("content") or {}
                if status == "204":
                    if content:
                        problems.append(f"{name} 204: a body documented for no content")
                    continue
                if not content:
                    problems.append(f"{name} {status}: no body documented")
                for media, body in content.items():
                    schema = body.get("schema") or {}
                    if not schema:
                        problems.append(f"{name} {status} {media}: empty schema")
                    elif media == "application/json":
                        problems += [f"{name} {status}: {p}" for p in _shape_problems(spec, schema)]
    assert not problems, "\n".join(problems)
    for ref in set(_refs(spec)):  # and every reference points into the document
        _pointer(spec, ref)


# -- real answers fit them -------------------------------------------------------------------------------------

CHECKER = FormatChecker()  # date, and date-time as RFC 3339 wants it (jsonschema checks it only with an extra)


@CHECKER.checks("date-time", raises=ValueError)
def _moment(value) -> bool:
    return not isinstance(value, str) or ("T" in value and dt.datetime.fromisoformat(value).tzinfo is not None)


def _errors(spec: dict, path: str, method: str, status: int, body) -> list[str]:
    """Where ``body`` breaks the schema documented for ``method path`` answering ``status`` (KeyError: the
    status is not documented)."""
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": spec["components"]}, format_checker=CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(body)]


class Caller:
    """Calls the API as an admin and checks each answer against the document."""

    def __init__(self, world):
        self.client = world.app.test_client()
        self.headers = {"Authorization": f"Bearer {world.key}"}
        self.spec = self.client.get("/openapi.json").get_json()
        self.checked: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, path: str, status: int, url: str | None = None, body=None, **params):
        url = url or path.format(**params)
        headers = dict(self.headers)
        if method == "post":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        r = self.client.open(url, method=method.upper(), json=body, headers=headers)
        assert r.status_code == status, (method, url, r.get_json())
        answer = r.get_json()
        errors = _errors(self.spec, path, method, status, answer)
        assert not errors, (method, url, errors)
        self.checked.add((method, path, status))
        return answer


def _graduate_employer(engine) -> tuple[str, int]:
    """A firm in good standing that hired graduates: 一次性吸纳就业补贴 pays it at once."""
    from service.store import current_facts, session_scope
    from service.store.models import Enterprise

    with session_scope(engine) as s:
        for ent in s.scalars(select(Enterprise).order_by(Enterprise.id)):
            vals = {name: text for name, (text, _, _) in current_facts(s, ent.id).items()}
            if (
                int(vals.get("graduates_hired", "0")) >= 1
                and vals.get("on_dishonesty_list") == "false"
                and vals.get("in_abnormal_operation") == "false"
            ):
                return ent.uscc, int(vals["graduates_hired"])
    pytest.skip("no enterprise with graduates in this world")


def test_real_answers_fit_their_documented_schemas(world):
    from service.store import session_scope
    from service.store.models import Budget, Payout

    call = Caller(world)
    for path in ("/api/health", "/healthz", "/readyz", "/api/reference/fields"):
        call("get", path, 200)
    call("get", "/api/reference/industries/{code}", 200, code="C3911")
    call("get", "/api/reference/regions/{code}", 200, code="000000")
    call("get", "/api/reference/regions/{code}", 200, code="320114")
    search = "/api/reference/search"
    assert call("get", search, 200, url=f"{search}?kind=region&name=雨花台区")["items"]
    assert call("get", search, 200, url=f"{search}?kind=industry&name=软件开发")["items"]

    policies = call("get", "/api/policies", 200)["items"]
    modes = {p["id"]: p["mode"] for p in policies}
    call("get", "/api/policies/{slug}", 200, slug=policies[0]["id"])
    call("get", "/api/policies/{slug}", 200, slug="yanfa-feiyong-buzhu")
    firms = call("get", "/api/enterprises", 200, url="/api/enterprises?per_page=3")["items"]
    call("get", "/api/enterprises/{uscc}", 200, uscc=firms[0]["uscc"])

    # /v1: a stored firm's pages (with the cursor), a profile's page, self-tests, search
    matches = "/v1/enterprises/{uscc}/matches"
    page = call("get", matches, 200, url=f"/v1/enterprises/{firms[0]['uscc']}/matches?limit=3")
    assert page["items"] and page["next_cursor"]
    call("get", matches, 200, url=f"/v1/enterprises/{firms[0]['uscc']}/matches?limit=3&cursor={page['next_cursor']}")
    call("post", "/v1/match", 200, url="/v1/match?decision=eligible,undetermined&limit=5", body={"profile": PROFILE})
    call("get", "/v1/enterprises/{uscc}/self-test/{policy_id}", 200, uscc=firms[0]["uscc"], policy_id=policies[0]["id"])
    short = {k: v for k, v in PROFILE.items() if k != "rd_expense"}
    for profile in (PROFILE, short):  # not met (with the distance); unknown (with what to declare)
        call("post", "/v1/self-test", 200, body={"policy_id": "yanfa-feiyong-buzhu", "profile": profile})
    for q in ("成立两年的小型软件企业有什么研发补贴", "高新技术企业 雨花台区 100人", "南京的餐饮企业"):
        call("get", "/v1/policies/search", 200, url=f"/v1/policies/search?q={q}")

    # 即申即办 and the review queue
    uscc, graduates = _graduate_employer(world.engine)
    apply = {"uscc": uscc, "policy_id": "xina-jiuye-buzhu", "commitment": True}
    paid = call("post", "/api/applications", 201, body=apply)
    assert paid["outcome"] == "paid" and paid["amount"] == f"{min(graduates * 1000, 100000)}.00"
    assert call("post", "/api/applications", 201, body=apply)["outcome"] == "already_paid"
    call("get", "/api/applications/{application_id}", 200, application_id=paid["application_id"])
    pending = []
    for slug in sorted(s for s, mode in modes.items() if mode == "review"):
        got = call("post", "/api/applications", 201, body={**apply, "policy_id": slug})
        if got["outcome"] == "pending_review":
            pending.append(got["application_id"])
    assert pending, "no review measure took the firm's application"
    assert len(call("get", "/api/reviews", 200)["items"]) == len(pending)
    reviewed = "/api/reviews/{application_id}"
    call("post", reviewed, 200, body={"action": "reject", "comment": "材料不全"}, application_id=pending[0])
    if len(pending) > 1:
        call("post", reviewed, 200, body={"action": "approve", "comment": "同意"}, application_id=pending[1])

    # 免申即享: a dry run, a sweep whose payouts wait in batches, a batch approved
    rehearsal = call("post", "/api/sweeps", 202, body={"scope": "all", "dry_run": True})
    call("get", "/api/jobs/{job_id}", 200, job_id=rehearsal["id"])
    queued = call("post", "/api/sweeps", 202, body={"scope": "all"})
    done = call("get", "/api/jobs/{job_id}", 200, job_id=queued["id"])
    assert done["state"] == "done", done
    swept = done["result"]
    call("get", "/api/jobs", 200, url="/api/jobs?kind=sweep&limit=1")
    batches = sorted({i["batch_id"] for i in swept["items"] if i["batch_id"] is not None})
    assert len(batches) >= 2
    call("get", "/api/payout-batches", 200, url="/api/payout-batches?all=1")
    call("post", "/api/payout-batches/{batch_id}", 200, body={"action": "approve"}, batch_id=batches[0])

    # payouts: a revision and a clawback of a confirmed payout, a held one stopped
    with session_scope(world.engine) as s:  # the bank confirms the application's payout (as reconcile does)
        payout = s.get(Payout, paid["payout_id"])
        moved = {"reserved": Budget.reserved - payout.amount, "paid": Budget.paid + payout.amount}
        s.execute(update(Budget).where(Budget.policy_id == payout.policy_id).values(**moved))
        payout.status = "confirmed"
        held = s.scalar(select(Payout.id).where(Payout.batch_id == batches[1], Payout.status == "held").limit(1))
    call("post", "/api/payouts/{payout_id}/revision", 201, body={"reason": "核验数据更新"}, payout_id=paid["payout_id"])
    clawback = "/api/payouts/{payout_id}/clawback"
    taken = call("post", clawback, 201, body={"reason": "虚假申报", "amount": "500.00"}, payout_id=paid["payout_id"])
    assert taken["action"] == "clawed_back"
    assert call("post", clawback, 201, body={"reason": "虚假申报"}, payout_id=held)["action"] == "stopped"
    call("get", "/api/payouts", 200, url=f"/api/payouts?uscc={uscc}")

    # the firm declares, then an officer lists it
    declared = {"commitment": True, "facts": {"graduates_hired": graduates}}
    call("post", "/api/enterprises/{uscc}/declarations", 201, body=declared, uscc=uscc)
    listing = {"list": "in_abnormal_operation", "reason": "现场核查发现"}
    call("post", "/api/enterprises/{uscc}/listings", 201, body=listing, uscc=uscc)
    call("get", matches, 200, url=f"/v1/enterprises/{uscc}/matches?limit=2")  # refused whatever the rules say

    call("get", "/api/models", 200)
    call("get", "/api/models/training", 200)
    assert len(call.checked) >= 30


def test_model_answers_fit_their_documented_schemas(world):
    """A ranker trained over HTTP (in the request, with the test runner): the job, the registry, a promotion."""
    from service.jobs import training
    from service.synth.params import REFERENCE_DATE

    world.app.extensions["zhida.training_runner"] = training.run_now
    call = Caller(world)
    until = REFERENCE_DATE.replace(month=5, day=1).isoformat()  # three periods of 45 days hold pushes
    body = {"until": until, "period_days": 45, "seed": 3}
    queued = call("post", "/api/models/{kind}/training", 202, body=body, kind="ranker")
    job = call("get", "/api/models/training/{job_id}", 200, job_id=queued["id"])
    assert job["status"] == "done", job["error"]
    call("get", "/api/models/training", 200)
    version = job["model"]["version"]
    call("get", "/api/models/{kind}/{version}", 200, kind="ranker", version=version)
    call("post", "/api/models/{kind}/{version}/promotion", 200, body={"reason": "好于基线"}, kind="ranker",
         version=version)  # fmt: skip
    assert call("get", "/api/models", 200)["production"] == {"ranker": version}


def test_push_answers_fit_their_documented_schemas(world, monkeypatch):
    """政策包 push over HTTP: a round into the inbox, the inbox, preferences, webhooks, the outbox and a retry."""
    from service import knowledge
    from service.http import auth
    from service.push.inbox import InboxChannel
    from service.push.rounds import run_round
    from service.store import session_scope
    from service.store.models import Enterprise, OutboxMessage
    from service.synth.params import REFERENCE_DATE

    monkeypatch.setenv("ZHIDA_PUSH_WEBHOOK_PRIVATE", "1")
    call = Caller(world)
    firms = call("get", "/api/enterprises", 200, url="/api/enterprises?per_page=20")["items"]
    now = dt.datetime(REFERENCE_DATE.year, REFERENCE_DATE.month, REFERENCE_DATE.day, 3, tzinfo=dt.UTC)
    kg = knowledge.build(world.engine, REFERENCE_DATE)
    report = run_round(world.engine, kg, REFERENCE_DATE, now, usccs=[f["uscc"] for f in firms],
                       channels=[InboxChannel(world.engine)])  # fmt: skip
    assert report.sent > 0
    with session_scope(world.engine) as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.state == "sent").limit(1))
        uscc = s.scalar(select(Enterprise.uscc).where(Enterprise.id == row.enterprise_id))
        row.state = "dead"  # as after its last failed attempt
        row_id = row.id
        key = auth.create_key(s, "enterprise", uscc)[1]
    inbox = call("get", "/api/inbox", 200, url=f"/api/inbox?uscc={uscc}")
    assert inbox["items"] and inbox["items"][0]["items"]
    mine = Caller(world)
    mine.headers = {"Authorization": f"Bearer {key}"}
    first = inbox["items"][0]
    mine("post", "/api/inbox/{entry_id}/read", 200, body={"policy_id": first["items"][0]["policy_id"]},
         entry_id=first["id"])  # fmt: skip
    mine("get", "/api/inbox", 200)
    prefs = "/api/enterprises/{uscc}/push-preferences"
    call("get", prefs, 200, uscc=uscc)
    mine("put", prefs, 200, body={"channels": {"sms": False}}, uscc=uscc)
    hooks = "/api/enterprises/{uscc}/webhooks"
    made = mine("post", hooks, 201, body={"url": "https://127.0.0.1:9/hook", "description": "测试"}, uscc=uscc)
    mine("get", hooks, 200, uscc=uscc)
    r = mine.client.delete(f"/api/enterprises/{uscc}/webhooks/{made['id']}", headers=mine.headers)
    assert r.status_code == 204 and not r.data
    call("get", "/api/push/messages", 200, url="/api/push/messages?state=dead")
    call("post", "/api/push/messages/{message_row}/retry", 200, message_row=row_id)


def test_a_wrong_answer_breaks_its_schema(world):
    """The schemas are strict enough to catch a wrong answer: money as a number, a member missing or added,
    a null where none can be."""
    call = Caller(world)
    spec = call.spec
    firm = call("get", "/api/enterprises", 200, url="/api/enterprises?per_page=1")["items"][0]
    page = call("get", "/v1/enterprises/{uscc}/matches", 200, url=f"/v1/enterprises/{firm['uscc']}/matches?limit=1")
    item = page["items"][0]
    wrong = [
        {**page, "total": "3"},
        {**page, "extra": 1},
        {k: v for k, v in page.items() if k != "next_cursor"},
        {**page, "items": [{**item, "amount": 9000.0}]},
        {**page, "items": [{**item, "amount": "9000"}]},
        {**page, "items": [{**item, "decision": "maybe"}]},
        {**page, "items": [{**item, "trace": None}]},
        {**page, "as_of": "30/11/2026"},
    ]
    for body in wrong:
        assert _errors(spec, "/v1/enterprises/{uscc}/matches", "get", 200, body), body


def test_the_documented_values_are_the_codes():
    """The enums the answers' schemas name without importing their modules are those modules' own."""
    from service import search
    from service.http import answers

    assert answers.SEARCH_OUTCOMES == tuple(search.OUTCOME_LABELS)
    assert answers.LEFT_OUT_REASONS == tuple(search.LEFT_OUT_LABELS)
    from service.jobs import queue
    from service.push.bundle import GROUPS
    from service.store import models

    assert answers.JOB_STATES == tuple(queue.STATE_LABELS)
    assert answers.PUSH_GROUPS == tuple(GROUPS)
    assert answers.OUTBOX_STATES == models.OUTBOX_STATES
