"""The built-in job kinds that are not training (``service.jobs.training``): the 免申即享 sweep and the knowledge
graph's rebuild or update. Each is ``run(engine, params, progress) -> result`` (``service.jobs.registry``) and safe
to run again from the start."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from service.errors import BadRequest, NotFound

# -- sweep -------------------------------------------------------------------------------------------------------


def sweep_params(slug: str | None, as_of: dt.date, dry_run: bool, threshold: Decimal | None, actor: str) -> dict:
    """A sweep job's parameters: the measure (None: every automatic one), the date, dry run or not, the approval
    threshold the server had when it was asked (yuan, text) and who asked (its audit actor)."""
    return {
        "policy_id": slug,
        "as_of": as_of.isoformat(),
        "dry_run": bool(dry_run),
        "approval_threshold": f"{threshold:.2f}" if threshold is not None else None,
        "actor": actor,
    }


def sweep_dedupe_key(params: dict) -> str:
    """Two requests for the same sweep while the first is still queued make one job."""
    p = params
    return f"sweep:{p['policy_id'] or '*'}:{p['as_of']}:{int(p['dry_run'])}:{p['approval_threshold'] or '-'}"


def run_sweep_job(engine, params: dict, progress) -> dict:
    """``service.ledger.sweeps.run_sweep`` with the job's parameters. Safe to run again: the ledger holds one
    grant per measure, enterprise and period, so a rerun after a crash pays only those not yet paid, and a batch
    still awaiting approval is added to, not doubled."""
    from service.ledger.sweeps import run_sweep, sweep_lots

    slug = params.get("policy_id")
    as_of = dt.date.fromisoformat(params["as_of"])
    threshold = params.get("approval_threshold")
    threshold = Decimal(threshold) if threshold is not None else None
    lots = sweep_lots(engine, slug, as_of)
    if slug and not lots:
        raise NotFound(f"{slug} 不是 {as_of} 有效的免申即享政策", field="policy_id")
    progress(f"扫描 {len(lots)} 组政策（截至 {as_of}）", 0.0)

    def say(name: str, done: int, total: int) -> None:
        at = lots.index(name) if name in lots else 0
        fraction = (at + (done / total if total else 1)) / max(1, len(lots))
        progress(f"{name}：已处理 {done}/{total} 家", min(fraction, 0.999))

    reports = run_sweep(
        engine,
        slug,
        as_of,
        dry_run=params["dry_run"],
        actor=params.get("actor") or "system:job",
        progress=say,
        approval_threshold=threshold,
    )
    if slug and not reports:
        raise NotFound(f"{slug} 不是 {as_of} 有效的免申即享政策", field="policy_id")
    return sweep_answer(reports, as_of, params["dry_run"], threshold)


def sweep_answer(reports, as_of: dt.date, dry_run: bool, threshold: Decimal | None) -> dict:
    """Per measure: eligible, undetermined with the facts they miss, outcomes, amount paid, amount held and its
    batch — what ``POST /api/sweeps`` answered when it ran the sweep itself; now the job's result."""
    items = [
        {
            "policy_id": r.policy_id,
            "name": r.name,
            "eligible": r.eligible,
            "undetermined": r.undetermined,
            "missing": dict(r.missing.most_common()),
            "outcomes": dict(r.outcomes),
            "amount": f"{r.money:.2f}",
            "held_amount": f"{r.held_money:.2f}",
            "batch_id": r.batch_id,
            "summary": r.line(),
        }
        for r in reports
    ]
    total = sum((r.money for r in reports), Decimal("0.00"))
    paid = sum(r.outcomes.get("paid", 0) + r.outcomes.get("would_pay", 0) for r in reports)
    held = sum(r.outcomes.get("held", 0) for r in reports)
    held_money = sum((r.held_money for r in reports), Decimal("0.00"))
    waiting = f"，待审批 {held} 笔 {held_money} 元" if held else ""
    summary = (
        f"扫描{'模拟' if dry_run else '完成'}：{len(reports)} 项政策，{'可兑现' if dry_run else '新兑现'} {paid} 笔，"
        f"金额 {total} 元{waiting}"
    )
    return {
        "as_of": as_of.isoformat(),
        "dry_run": dry_run,
        "approval_threshold": f"{threshold:.2f}" if threshold is not None else None,
        "amount": f"{total:.2f}",
        "items": items,
        "summary": summary,
    }


# -- graph_rebuild -----------------------------------------------------------------------------------------------

GRAPH_STAGES = {"policies": "读入政策", "enterprises": "读入企业与标签", "received": "读入兑付记录"}


def graph_params(mode: str = "update", as_of: dt.date | None = None) -> dict:
    """``mode``: ``build`` (the whole graph, enterprises' tags as of ``as_of``, default the run's day) or
    ``update`` (what changed since the saved graph; a build when there is none)."""
    return {"mode": mode, "as_of": as_of.isoformat() if as_of else None}


def run_graph_job(engine, params: dict, progress) -> dict:
    """What ``zhida graph build`` / ``zhida graph update`` do, to ``$ZHIDA_MODELS_DIR/graph.pickle``. Safe to run
    again: the file is replaced whole (a reader never sees half of it), and an update reads what changed since
    the graph saved last."""
    from graph.errors import GraphError
    from graph.knowledge import KnowledgeGraph
    from service import knowledge

    path = knowledge.default_path()
    mode = params.get("mode") or "update"
    if mode not in ("build", "update"):
        raise BadRequest(f"图谱任务的方式应为 build 或 update（收到 {mode!r}）", field="mode")
    if mode == "update":
        try:
            kg = KnowledgeGraph.load(path)
        except GraphError:
            kg = None
        if kg is not None:
            progress(f"读入图谱 {path}，更新 {kg.updated_at:%Y-%m-%d %H:%M:%S} UTC 以来的变化", 0.1)
            counts = knowledge.refresh(kg, engine)
            progress("写入图谱", 0.9)
            kg.save(path)
            return {
                "mode": "update",
                "path": str(path),
                "changed": counts,
                "summary": f"图谱已更新：企业 {counts['enterprises']} 家、政策 {counts['policies']} 项、"
                f"兑付 {counts['received']} 笔",
            }
        progress(f"没有可用的图谱 {path}，从数据库构建整张图谱", 0.0)
    day = dt.date.fromisoformat(params["as_of"]) if params.get("as_of") else dt.date.today()
    weights = {"policies": (0.0, 0.1), "enterprises": (0.1, 0.8), "received": (0.9, 0.05)}

    def say(stage: str, done: int, total: int) -> None:
        start, width = weights.get(stage, (0.0, 0.0))
        progress(f"{GRAPH_STAGES.get(stage, stage)} {done:,}/{total:,}", start + width * (done / total if total else 1))

    kg = knowledge.build(engine, day, progress=say)
    progress("写入图谱", 0.95)
    kg.save(path)
    stats = kg.stats()
    return {
        "mode": "build",
        "path": str(path),
        "as_of": day.isoformat(),
        "nodes": stats["nodes"],
        "edges": stats["edges"],
        "summary": f"知识图谱已构建（企业标签截至 {day}）：节点 {sum(stats['nodes'].values()):,} 个，"
        f"边 {sum(stats['edges'].values()):,} 条",
    }
