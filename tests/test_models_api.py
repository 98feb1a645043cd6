"""Analysts over HTTP: start a ranker training run (a background job kept in the database), follow it to its
registered model or its reason for failing, read the registry, promote and roll back (audited)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from models.features import SCHEMA_HASH
from models.registry import Artifact, schema_hash
from service import knowledge
from service import model_registry as registry
from service.app import create_app
from service.http import auth
from service.jobs import training
from service.ranking import PERIOD_DAYS
from service.store import session_scope
from service.store.models import AuditRecord, Enterprise, TrainingJob, utcnow
from service.synth.params import REFERENCE_DATE

UNTIL = REFERENCE_DATE.replace(month=5, day=1)  # three periods of 45 days hold pushes in the 300-firm city
ROLES = ("analyst", "admin", "officer", "system", "enterprise")


class Api:
    """A test client with one key per role; every POST gets a fresh Idempotency-Key unless one is given."""

    def __init__(self, app, engine, record: bool = True):
        self.app, self.engine, self.client = app, engine, app.test_client()
        self.started: list[int] = []  # jobs handed to the recording runner (queued, never run)
        self.keys, self.prefixes = {}, {}
        with session_scope(engine) as s:
            uscc = s.scalar(select(Enterprise.uscc).limit(1))
            if uscc is None:  # an empty store: one firm for the enterprise key
                uscc = "9132010200056FYU00"
                s.add(Enterprise(uscc=uscc, name="测试企业有限公司", region="320102", industry="C3911",
                                 established_on=dt.date(2015, 1, 1)))  # fmt: skip
                s.flush()
            for role in ROLES:
                prefix, secret = auth.create_key(s, role, enterprise_uscc=uscc if role == "enterprise" else None)
                self.keys[role], self.prefixes[role] = secret, prefix
        self._fresh = iter(range(10**6))
        if record:
            self.runner(self.started.append)

    def runner(self, run) -> None:
        """Run training jobs with ``run(job_id)`` (or ``run(engine, job_id)`` when it is a module runner)."""
        self.app.extensions["zhida.training_runner"] = (
            run if run in (training.run_now, training.start_thread) else (lambda engine, job_id: run(job_id))
        )

    def call(self, method: str, url: str, role: str = "analyst", body=None, idem: str | None = None, data=None):
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if method == "POST" and idem != "":
            headers["Idempotency-Key"] = idem or f"k{next(self._fresh)}"
        if data is not None:
            return self.client.open(url, method=method, data=data, headers=headers, content_type="application/json")
        return self.client.open(url, method=method, json=body, headers=headers)

    def actor(self, role: str = "analyst") -> str:
        return f"{role}:{self.prefixes[role]}"

    def jobs(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(TrainingJob))

    def audit(self, prefix: str = "model.") -> list[AuditRecord]:
        with session_scope(self.engine) as s:
            rows = list(
                s.scalars(select(AuditRecord).where(AuditRecord.action.like(f"{prefix}%")).order_by(AuditRecord.seq))
            )
            s.expunge_all()
        return rows


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(folder))
    return folder


@pytest.fixture
def api(city, db_url, models_dir):
    """The 300-firm city, its knowledge graph in ZHIDA_MODELS_DIR, an app whose runner only records jobs."""
    knowledge.build(city, REFERENCE_DATE).save(models_dir / "graph.pickle")
    return Api(create_app({"DATABASE_URL": db_url, "TESTING": True}), city)


@pytest.fixture
def bare(engine, db_url, models_dir):
    """An empty store with a graph file present (requests refused before any training)."""
    (models_dir / "graph.pickle").write_bytes(b"not a graph")
    return Api(create_app({"DATABASE_URL": db_url, "TESTING": True}), engine)


def test_an_analyst_trains_a_ranker_and_reads_the_registered_model_back(api):
    api.runner(training.run_now)
    body = {"until": UNTIL.isoformat(), "period_days": 45, "seed": 3}
    r = api.call("POST", "/api/models/ranker/training", body=body, idem="train-1")
    assert r.status_code == 202, r.json
    job_id = r.json["id"]
    assert r.headers["Location"] == f"/api/models/training/{job_id}" == r.json["url"]
    assert r.json["status"] == "queued" and r.json["requested_by"] == api.actor()
    assert r.json["params"] == {"until": "2026-05-01", "period_days": 45, "seed": 3}

    again = api.call("POST", "/api/models/ranker/training", body=body, idem="train-1")
    assert again.status_code == 202 and again.data == r.data and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == r.headers["Location"] and api.jobs() == 1  # the same job, not a second run

    job = api.call("GET", f"/api/models/training/{job_id}", role="officer").json
    assert job["status"] == "done" and job["status_label"] == "已完成" and job["error"] is None
    assert job["started_at"] and job["finished_at"] >= job["started_at"] >= job["created_at"]
    version = job["model"]["version"]
    assert job["model"]["status"] == "candidate" and job["model"]["url"] == f"/api/models/ranker/{version}"
    result = job["result"]
    assert result["version"] == version and result["window"]["until"] == "2026-05-01"
    assert set(result["rows"]) == {"train", "valid", "test"} and result["rows"]["test"]["queries"] > 0
    assert set(result["figures"]["overall"]) == {"ranker", "popularity", "tag_overlap", "ppr", "eligible_by_amount"}
    assert isinstance(result["gap_closed"], float) and result["best_baseline"] in result["figures"]["overall"]

    model = api.call("GET", job["model"]["url"]).json
    assert model["status"] == "candidate" and model["schema_hash"] == SCHEMA_HASH and model["schema_current"]
    assert model["trained_until"] == result["window"]["valid_from"] and model["params"]["seed"] == 3
    assert (
        model["metrics"]["figures"]["overall"]["ranker"]["ndcg@10"] == result["figures"]["overall"]["ranker"]["ndcg@10"]
    )
    listed = api.call("GET", "/api/models?kind=ranker").json
    assert [m["version"] for m in listed["items"]] == [version] and listed["production"] == {}
    actions = {(a.action, a.actor) for a in api.audit()}
    assert actions == {("model.training", api.actor()), ("model.register", api.actor())}

    same = api.call("POST", "/api/models/ranker/training", body=body, idem="train-2")  # the same data and seed
    job = api.call("GET", same.headers["Location"]).json
    assert job["status"] == "done" and job["model"]["version"] == version and "未重复登记" in job["progress"]
    assert len(registry.versions(api.engine)) == 1


def test_a_worker_runs_the_job_to_done(api, db_url):
    """As served: the app only queues the run (no runner, no thread of its own); a worker beside it (`zhida
    worker`, here in a thread) takes the durable job and trains."""
    from service.jobs.worker import Worker

    api = Api(create_app({"DATABASE_URL": db_url, "TESTING": True}), api.engine, record=False)  # as served
    assert api.app.extensions["zhida.training_runner"] is None
    body = {"until": UNTIL.isoformat(), "period_days": 45, "seed": 5}
    r = api.call("POST", "/api/models/ranker/training", role="admin", body=body)
    assert r.status_code == 202 and r.json["status"] == "queued"  # answered before training
    worker = Worker(api.engine, poll=0.2)
    worker.start_thread()
    try:
        deadline = time.monotonic() + 300
        while True:
            job = api.call("GET", r.headers["Location"]).json
            if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            assert job["status"] in ("queued", "running")
            time.sleep(0.5)
    finally:
        worker.stop()
        worker.join(60)
    assert job["status"] == "done", job
    assert job["requested_by"] == api.actor("admin") and job["model"]["status"] == "candidate"
    assert [v.version for v in registry.versions(api.engine, "ranker")] == [job["model"]["version"]]
    assert api.jobs() == 1
    durable = api.call("GET", "/api/jobs?kind=training", role="officer").json["items"]
    assert [(j["state"], j["result"]["training_job"], j["result"]["model"]["version"]) for j in durable] == [
        ("done", job["id"], job["model"]["version"])
    ]


def test_one_training_run_at_a_time(api):
    first = api.call("POST", "/api/models/ranker/training", body={"seed": 1}, idem="a")
    assert first.status_code == 202 and api.started == [first.json["id"]]
    second = api.call("POST", "/api/models/ranker/training", body={"seed": 2}, idem="b")
    assert second.status_code == 409 and second.json["job_id"] == first.json["id"]
    assert f"已有训练任务 {first.json['id']} 排队中" in second.json["detail"] and api.actor() in second.json["detail"]
    replay = api.call("POST", "/api/models/ranker/training", body={"seed": 1}, idem="a")
    assert replay.data == first.data and api.jobs() == 1 and api.started == [first.json["id"]]
    # the refusal is the answer of key "b": once the first run is over, a new key is needed
    with session_scope(api.engine) as s:
        s.get(TrainingJob, first.json["id"]).status = "failed"
    assert api.call("POST", "/api/models/ranker/training", body={"seed": 2}, idem="b").status_code == 409
    assert api.call("POST", "/api/models/ranker/training", body={"seed": 2}, idem="c").status_code == 202


def test_two_requests_at_once_queue_one_job(engine, tmp_path):
    """The check and the database's index: the second of two concurrent submissions is refused, naming the first."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    from service.errors import Conflict
    from service.store import write_scope

    params = {"until": "2026-05-01", "period_days": 45, "seed": 1}
    inside, release = Event(), Event()

    def first() -> int:
        with write_scope(engine) as s:
            job = training.submit(s, "ranker", params, "analyst:a", tmp_path / "graph.pickle")
            inside.set()
            release.wait(10)  # the second submits meanwhile, before this one commits
            return job.id

    def second() -> None:
        inside.wait(10)
        with write_scope(engine) as s:
            training.submit(s, "ranker", params, "analyst:b", tmp_path / "graph.pickle")

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        time.sleep(0.5)
        release.set()
        job_id = a.result()
        with pytest.raises(Conflict, match=f"已有训练任务 {job_id} 排队中（analyst:a"):
            b.result()
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TrainingJob)) == 1


@pytest.mark.parametrize(
    ("body", "status", "field", "said"),
    [
        ({"until": "2026-13-01"}, 400, "until", "不是有效日期"),
        ({"until": "20260501"}, 400, "until", "YYYY-MM-DD"),
        ({"until": 20260501}, 400, "until", "YYYY-MM-DD"),
        ({"until": "tomorrow"}, 422, "until", "不能晚于今天"),
        ({"period_days": PERIOD_DAYS[0] - 1}, 422, "period_days", "应在 7 到 366 之间"),
        ({"period_days": 400}, 422, "period_days", "应在 7 到 366 之间"),
        ({"period_days": "60"}, 400, "period_days", "应为整数"),
        ({"seed": True}, 400, "seed", "应为整数"),
        ({"seed": -1}, 422, "seed", "应在 0 到"),
        ({"until": "2026-05-01", "learning_rate": 0.1}, 400, "learning_rate", "未知字段"),
        ({"until": "x" * 10_000}, 400, "until", "（共 10002 个字符）"),  # named, not sent back whole
        ({"seed": 10**500}, 422, "seed", "个字符）"),
    ],
)
def test_bad_input_is_refused_in_chinese_and_creates_nothing(bare, body, status, field, said):
    if body.get("until") == "tomorrow":
        body = {"until": (dt.date.today() + dt.timedelta(days=1)).isoformat()}
    r = bare.call("POST", "/api/models/ranker/training", body=body)
    assert r.status_code == status and r.json.get("field") == field and said in r.json["detail"], r.json
    assert r.mimetype == "application/problem+json" and len(r.json["detail"]) < 200
    assert bare.jobs() == 0 and bare.audit() == [] and bare.started == []


def test_requests_that_cannot_start_create_nothing(bare, models_dir):
    r = bare.call("POST", "/api/models/ranker/training", data="[1]")
    assert r.status_code == 400 and "JSON 对象" in r.json["detail"]
    r = bare.call("POST", "/api/models/tagger/training", body={})
    assert r.status_code == 404 and "没有可训练的模型类别 tagger" in r.json["detail"]
    r = bare.call("POST", "/api/models/ranker/training", body={}, idem="")
    assert r.status_code == 400 and r.json["field"] == "Idempotency-Key"
    (models_dir / "graph.pickle").unlink()
    r = bare.call("POST", "/api/models/ranker/training", body={})
    assert r.status_code == 409 and "没有知识图谱文件" in r.json["detail"] and "zhida graph build" in r.json["detail"]
    assert bare.jobs() == 0 and bare.audit() == [] and bare.started == []


def test_only_analysts_and_admins_train_and_promote(bare):
    writes = [
        "/api/models/ranker/training",
        "/api/models/ranker/rk-000000000000/promotion",
        "/api/models/ranker/rollback",
    ]
    reads = ["/api/models", "/api/models?kind=ranker", "/api/models/ranker/rk-000000000000", "/api/models/training"]
    for role in ("enterprise", "system", "officer"):
        for url in writes:
            r = bare.call("POST", url, role=role, body={"reason": "试试"})
            assert r.status_code == 403 and f"角色 {role} 无权" in r.json["detail"], (role, url)
    for role in ("enterprise", "system"):
        for url in reads:
            assert bare.call("GET", url, role=role).status_code == 403, (role, url)
    for role in ("analyst", "admin", "officer"):
        assert bare.call("GET", "/api/models", role=role).json == {"total": 0, "production": {}, "items": []}
    assert bare.client.get("/api/models").status_code == 401
    assert bare.client.post("/api/models/ranker/training", json={}).status_code == 401
    assert bare.jobs() == 0 and bare.audit() == []


def test_a_failed_job_keeps_its_chinese_reason(api, models_dir):
    api.runner(training.run_now)
    too_early = {"until": "2025-02-01", "period_days": 45}  # not three periods of pushes before this day
    r = api.call("POST", "/api/models/ranker/training", body=too_early)
    assert r.status_code == 202
    job = api.call("GET", r.headers["Location"]).json
    assert job["status"] == "failed" and job["status_label"] == "失败" and job["model"] is None
    assert "不足以按 45 天一期划分训练、验证、测试三期" in job["error"] and job["finished_at"]
    assert registry.versions(api.engine, "ranker") == []

    (models_dir / "graph.pickle").write_bytes(b"truncated")  # a failed job does not block the next one
    r = api.call("POST", "/api/models/ranker/training", body={"until": UNTIL.isoformat()})
    assert r.status_code == 202
    job = api.call("GET", r.headers["Location"]).json
    assert job["status"] == "failed" and "无法读取" in job["error"] and "zhida graph build" in job["error"]
    listed = api.call("GET", "/api/models/training?kind=ranker").json
    assert [j["status"] for j in listed["items"]] == ["failed", "failed"]


def test_a_job_left_by_a_dead_process_is_marked_failed_when_read(bare):
    long_ago = utcnow() - training.STALE - dt.timedelta(seconds=1)
    with session_scope(bare.engine) as s:
        params = {"until": "2026-05-01", "period_days": 45, "seed": 1}
        jobs = [
            TrainingJob(kind="ranker", status="running", requested_by="analyst:dead", params=params, graph_path="g",
                        created_at=long_ago, started_at=long_ago, heartbeat_at=long_ago, owner="elsewhere:1"),
        ]  # fmt: skip
        s.add_all(jobs)
        s.flush()
        dead = jobs[0].id
    job = bare.call("GET", f"/api/models/training/{dead}").json
    assert job["status"] == "failed" and "服务进程在训练中退出" in job["error"] and job["finished_at"]

    with session_scope(bare.engine) as s:  # one queued by a process that died before it started it
        queued = TrainingJob(kind="ranker", status="queued", requested_by="analyst:dead", params=params,
                             graph_path="g", created_at=long_ago, heartbeat_at=long_ago)  # fmt: skip
        s.add(queued)
        s.flush()
        queued = queued.id
    r = bare.call("POST", "/api/models/ranker/training", body={})  # not blocked by the dead job
    assert r.status_code == 202, r.json
    job = bare.call("GET", f"/api/models/training/{queued}").json
    assert job["status"] == "failed" and "训练开始前退出" in job["error"]

    with session_scope(bare.engine) as s:  # a job whose process still beats stays running
        s.get(TrainingJob, r.json["id"]).status = "done"
        alive = TrainingJob(kind="ranker", status="running", requested_by="analyst:alive", params=params,
                            graph_path="g", created_at=long_ago, heartbeat_at=utcnow(), owner="here:2")  # fmt: skip
        s.add(alive)
        s.flush()
        alive = alive.id
    assert bare.call("GET", f"/api/models/training/{alive}").json["status"] == "running"
    assert bare.call("POST", "/api/models/ranker/training", body={}).status_code == 409
    assert bare.call("GET", "/api/models/training/999").status_code == 404


def test_a_running_job_beats_until_it_stops(engine, monkeypatch):
    monkeypatch.setattr(training, "HEARTBEAT", dt.timedelta(milliseconds=50))
    then = utcnow() - dt.timedelta(minutes=1)
    with session_scope(engine) as s:
        job = TrainingJob(kind="ranker", status="running", requested_by="analyst:x", params={}, graph_path="g",
                          created_at=then, heartbeat_at=then, owner="me:1")  # fmt: skip
        s.add(job)
        s.flush()
        job_id = job.id
    beat = training._Heartbeat(engine, job_id, "me:1")
    beat.start()
    time.sleep(0.4)
    beat.stop()
    with session_scope(engine) as s:
        at = s.get(TrainingJob, job_id).heartbeat_at
    assert (at if at.tzinfo else at.replace(tzinfo=dt.UTC)) > then + dt.timedelta(seconds=50)


def _artifact(version: str, schema: str = SCHEMA_HASH) -> Artifact:
    return Artifact(
        kind="ranker",
        version=version,
        model={"weights": [1]},
        schema_hash=schema,
        feature_names=("tag_overlap",),
        params={"seed": 1},
        trained_from=dt.date(2025, 1, 1),
        trained_until=dt.date(2025, 12, 31),
        metrics={"ndcg@10": 0.71, "window": {"until": "2026-03-01"}},
    )


def test_promotion_and_rollback_over_http_are_audited(bare, models_dir):
    for v in ("rk-1", "rk-2"):
        registry.register(bare.engine, _artifact(v), models_dir)
    registry.register(bare.engine, _artifact("rk-old", schema_hash(("tag_overlap",))), models_dir)
    url = "/api/models/ranker/{}/promotion"

    assert bare.call("POST", url.format("rk-1"), body={}).json["field"] == "reason"
    assert bare.call("POST", url.format("rk-1"), body={"reason": "  "}).status_code == 400
    assert bare.call("POST", url.format("rk-1"), body={"reason": "好", "by": "别人"}).json["field"] == "by"
    missing = bare.call("POST", url.format("rk-9"), body={"reason": "上线"})
    assert missing.status_code == 404 and missing.json["detail"] == "没有登记的模型 ranker rk-9"
    old = bare.call("POST", url.format("rk-old"), body={"reason": "上线"})
    assert old.status_code == 409 and "特征结构" in old.json["detail"] and "不能推广" in old.json["detail"]
    nothing = bare.call("POST", "/api/models/ranker/rollback", body={"reason": "回滚"})
    assert nothing.status_code == 400 and "没有此前推广过的模型可以回滚" in nothing.json["detail"]
    assert registry.production(bare.engine, "ranker") is None and bare.audit("model.promote") == []

    one = bare.call("POST", url.format("rk-1"), body={"reason": "首个上线"}, idem="p1")
    assert one.status_code == 200 and one.json["status"] == "production" and one.json["status_label"] == "在用"
    assert one.json["promoted_by"] == bare.actor() and one.json["schema_current"] is True
    assert bare.call("POST", url.format("rk-1"), body={"reason": "首个上线"}, idem="p1").data == one.data
    two = bare.call("POST", url.format("rk-2"), role="admin", body={"reason": "新版更好"})
    assert two.json["status"] == "production" and two.json["promoted_by"] == bare.actor("admin")
    listed = bare.call("GET", "/api/models?kind=ranker", role="officer").json
    assert listed["production"] == {"ranker": "rk-2"} and listed["total"] == 3
    assert {m["version"]: m["status"] for m in listed["items"]} == {"rk-1": "retired", "rk-2": "production",
                                                                  "rk-old": "candidate"}  # fmt: skip
    assert {m["version"]: m["schema_current"] for m in listed["items"]}["rk-old"] is False
    back = bare.call("POST", "/api/models/ranker/rollback", body={"reason": "新版投诉多"})
    assert back.status_code == 200 and back.json["version"] == "rk-1" and back.json["status"] == "production"
    assert bare.call("GET", "/api/models/ranker/rk-2").json["status"] == "retired"
    one_model = bare.call("GET", "/api/models/ranker/rk-1").json
    assert one_model["window"] == {"until": "2026-03-01"} and one_model["trained_until"] == "2025-12-31"

    audited = [(a.action, a.actor, a.subject, a.payload) for a in bare.audit() if a.action != "model.register"]
    assert audited == [
        ("model.promote", bare.actor(), "ranker:rk-1", {"previous": None, "reason": "首个上线"}),
        ("model.promote", bare.actor("admin"), "ranker:rk-2", {"previous": "rk-1", "reason": "新版更好"}),
        ("model.rollback", bare.actor(), "ranker:rk-1", {"previous": "rk-2", "reason": "新版投诉多"}),
    ]
    unknown = bare.call("GET", "/api/models/ranker/rk-9")
    assert unknown.status_code == 404 and unknown.json["detail"] == "没有登记的模型 ranker rk-9"


def test_the_cli_and_the_api_accept_the_same_periods():
    from service.cli.train import cli

    option = next(p for p in cli.params if p.name == "period_days")
    assert (option.type.min, option.type.max) == PERIOD_DAYS


class _Died(BaseException):
    """A worker killed where it stands."""


def test_a_training_whose_worker_died_is_taken_over_by_the_next_run(api):
    """The durable job is queued again when its worker falls silent; its next run takes the training job over
    from the dead owner and trains it to a registered model."""
    from service.jobs import queue, worker
    from service.store.models import Job

    body = {"until": UNTIL.isoformat(), "period_days": 45, "seed": 4}
    r = api.call("POST", "/api/models/ranker/training", body=body)
    assert r.status_code == 202 and api.started == [r.json["id"]]  # queued; the recording runner ran nothing
    with session_scope(api.engine) as s:
        durable = s.get(TrainingJob, r.json["id"]).job_id
    job = queue.claim(api.engine, "dead:1:1")
    assert job.id == durable and job.kind == "training" and job.params == {"training_job": r.json["id"]}

    def dies(text, fraction=None):
        raise _Died

    with pytest.raises(_Died):
        training.run_training_job(api.engine, dict(job.params), dies)  # the worker dies at the first step
    assert api.call("GET", r.headers["Location"]).json["status"] == "running"  # left by the dead worker
    with session_scope(api.engine) as s:
        s.get(Job, durable).heartbeat_at = utcnow() - queue.STALE - dt.timedelta(seconds=1)
    assert queue.reap_stale(api.engine) == (1, 0)
    assert worker.run_now(api.engine, durable) == "done"
    done = api.call("GET", r.headers["Location"]).json
    assert done["status"] == "done" and done["model"]["status"] == "candidate"
    listed = api.call("GET", f"/api/jobs/{durable}", role="officer").json
    assert listed["attempts"] == 2 and listed["result"]["model"]["version"] == done["model"]["version"]


def test_a_training_whose_last_run_died_is_failed_with_the_reason(bare, tmp_path):
    from service.jobs import queue

    with session_scope(bare.engine) as s:
        tj = training.submit(s, "ranker", {"until": "2026-05-01", "period_days": 45, "seed": 1}, "analyst:a",
                             tmp_path / "graph.pickle")  # fmt: skip
        tj_id, durable = tj.id, tj.job_id
    for n in (1, 2):  # training gets two runs: one that killed its worker may well do it again
        assert queue.claim(bare.engine, f"dead:{n}:1").id == durable
        with session_scope(bare.engine) as s:
            from service.store.models import Job

            s.get(Job, durable).heartbeat_at = utcnow() - queue.STALE - dt.timedelta(seconds=1)
        assert queue.reap_stale(bare.engine) == ((1, 0) if n == 1 else (0, 1))
    job = bare.call("GET", f"/api/models/training/{tj_id}").json
    assert job["status"] == "failed" and job["error"].startswith(
        "训练未完成：运行该任务的工作进程（dead:2:1）已停止响应"
    )
    assert bare.call("POST", "/api/models/ranker/training", body={}).status_code == 202  # not blocked by it
