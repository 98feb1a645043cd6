"""The success answers as the OpenAPI document describes them: one marshmallow schema per body the handlers send.

Documentation only. A view names its answer with ``@bp.doc(responses=success(201, ApplicationAnswer, "…"))``;
apiflask puts the schema in ``/openapi.json`` (as ``#/components/schemas/…``) and never dumps a body through
it, so what the handlers return is sent byte for byte as before — unlike ``@bp.output``, which would filter
and reformat every body. tests/test_openapi_fuzz.py checks that every operation documents a schema for each
2xx it names, and that real answers of the main endpoints validate against them (and schemathesis checks every
answer it provokes).

Conventions: every member a handler always sends is required, ``null`` only where it can occur; an object has
exactly the members listed (``additionalProperties: false``) unless it is a map (``Dict``: field name →, policy
id →, status → …) or one of the few free-form records said so (a model's hyperparameters and metrics). Money
is text with two decimals (``"9000.00"``). Dates are ``YYYY-MM-DD``; the model registry's and training jobs'
times are ISO 8601 with an offset; the times of payout batches and policy versions are ISO 8601 as the
database gives them (with an offset on PostgreSQL, without one on SQLite), so only text is promised for them.
"""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Date, DateTime, Dict, Float, Integer, List, Nested, Raw, String
from apiflask.validators import OneOf, Regexp
from marshmallow import INCLUDE, RAISE

from matcher.settlement import LABELS as SETTLEMENTS
from matcher.spec import BENEFIT_TYPES, DECISIONS, MODES, PERIODS, ROUNDINGS
from service.jobs.training import STATUS_LABELS as JOB_STATUSES
from service.model_registry import STATUS_LABELS as MODEL_STATUSES
from service.store.models import BATCH_STATUSES, PAYOUT_STATUSES

MONEY = r"^\d+\.\d{2}$"  # yuan, two decimals, as text: never a float
POLICY_STATUSES = ("draft", "published", "retired")
AMOUNT_BASES = ("decided", "estimate")
SEARCH_OUTCOMES = ("eligible", "undetermined", "not_eligible")  # service.search.OUTCOME_LABELS (checked by a test)
LEFT_OUT_REASONS = ("not_in_force", "not_eligible")  # service.search.LEFT_OUT_LABELS (checked by a test)


def success(status: int, schema, description: str) -> dict:
    """``responses`` for ``@bp.doc``: the success status and the schema of its JSON body (a schema class, or
    ``{"oneOf": [A, B]}`` for an answer of two shapes). Documented, never used to dump the body."""
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


class Answer(Schema):
    class Meta:
        unknown = RAISE  # documented as additionalProperties: false — the members listed are all there is


class Open(Schema):
    class Meta:
        unknown = INCLUDE  # additionalProperties: true — the listed members, and others a trainer may add


# -- members ---------------------------------------------------------------------------------------------------


def _meta(description: str, extra: dict | None = None) -> dict:
    return {"description": description, **(extra or {})} if description else dict(extra or {})


def txt(description: str = "", *, null: bool = False, optional: bool = False, choices=None) -> String:
    validate = OneOf(list(choices)) if choices is not None else None
    return String(required=not optional, allow_none=null, validate=validate, metadata=_meta(description))


def integer(description: str = "", *, null: bool = False, optional: bool = False) -> Integer:
    return Integer(required=not optional, allow_none=null, metadata=_meta(description))


def number(description: str = "", *, null: bool = False, optional: bool = False) -> Float:
    return Float(required=not optional, allow_none=null, metadata=_meta(description))


def boolean(description: str = "", *, null: bool = False) -> Boolean:
    return Boolean(required=True, allow_none=null, metadata=_meta(description))


def ymd(description: str = "", *, null: bool = False, optional: bool = False) -> Date:
    return Date(required=not optional, allow_none=null, metadata=_meta(description))


def moment(description: str = "", *, null: bool = False) -> DateTime:
    """A time with its offset (ISO 8601)."""
    return DateTime(required=True, allow_none=null, metadata=_meta(description))


def db_time(description: str, *, null: bool = False) -> String:
    """A stored time as the database gives it: ISO 8601, with an offset on PostgreSQL, none on SQLite."""
    return String(required=True, allow_none=null, metadata=_meta(f"{description}（ISO 8601；SQLite 存储时不带时区）"))


def money(description: str, *, null: bool = False, optional: bool = False) -> String:
    return String(
        required=not optional,
        allow_none=null,
        validate=Regexp(MONEY),
        metadata=_meta(f"{description}（元，两位小数的文本）"),
    )


def texts(description: str = "", *, optional: bool = False, null: bool = False) -> List:
    return List(String(), required=not optional, allow_none=null, metadata=_meta(description))


def many(schema, description: str = "", *, optional: bool = False) -> List:
    return List(Nested(schema), required=not optional, metadata=_meta(description))


def one(schema, description: str = "", *, null: bool = False, optional: bool = False) -> Nested:
    return Nested(schema, required=not optional, allow_none=null, metadata=_meta(description))


def mapping(values, description: str, *, null: bool = False) -> Dict:
    return Dict(keys=String(), values=values, required=True, allow_none=null, metadata=_meta(description))


def anything(description: str, *, optional: bool = False, kinds: list[dict] | None = None) -> Raw:
    """Any JSON value (JsonLogic, a fact's typed value): what the description says it may be."""
    extra = {"oneOf": kinds} if kinds else None
    return Raw(required=not optional, allow_none=True, metadata=_meta(description, extra))


# -- probes and reference --------------------------------------------------------------------------------------


class Health(Answer):
    status = txt("ok：进程能应答", choices=["ok"])


class Ready(Answer):
    status = txt("ready：数据库可用", choices=["ready"])


class IndustryRef(Answer):
    code = txt("国民经济行业代码（GB/T 4754-2017）")
    name = txt("名称")
    level = txt("层级：门类、大类、中类、小类")
    parent = txt("上级代码（门类为 null）", null=True)


class Industry(IndustryRef):
    ancestors = many(IndustryRef, "上级，由近及远")
    children = many(IndustryRef, "直接下级")


class RegionRef(Answer):
    code = txt("行政区划代码")
    name = txt("名称")
    full_name = txt("全称（含上级）")
    level = txt("层级：省级、地级、县级、全国、功能区等")
    parent = txt("上级代码（省级为 null）", null=True)


class Region(RegionRef):
    ancestors = many(RegionRef, "上级，由近及远")
    children = many(RegionRef, "直接下级")


class IndustrySearch(Answer):
    items = many(IndustryRef, "名称完全相同的行业")


class RegionSearch(Answer):
    items = many(RegionRef, "名称完全相同的行政区划")


class SubField(Answer):
    name = txt("子字段名")
    label = txt("中文名称")
    type = txt("类型")
    unit = txt("单位", null=True)


class CatalogField(Answer):
    name = txt("字段名")
    label = txt("中文名称")
    type = txt("类型：text、uscc、region、industry、date、count、money、percent、bool、enum、set、records")
    unit = txt("单位", null=True)
    source = txt("数据来源")
    source_label = txt("数据来源的中文名称")
    choices = texts("可选值（enum、set）", null=True)
    derived = boolean("由系统计算")
    required = boolean("登记时必填")
    declarable = boolean("企业可自主申报")
    absence = txt("缺失时：unknown（未知）或 roster（不在名单上即为否）")
    min = txt("下限（文本）", null=True)
    max = txt("上限（文本）", null=True)
    fields = List(Nested(SubField), required=True, allow_none=True, metadata={"description": "记录的子字段（records）"})


class CatalogFields(Answer):
    items = many(CatalogField, "字段目录中的每个字段")


# -- policies --------------------------------------------------------------------------------------------------


class PolicySummary(Answer):
    id = txt("政策编号")
    version = integer("当前版本号")
    status = txt("状态", choices=POLICY_STATUSES)
    name = txt("名称")
    mode = txt("办理方式：automatic 免申即享、instant 即申即办、review 审核", choices=MODES)
    mode_label = txt("办理方式的中文名称")
    region = txt("适用地区的行政区划代码")
    valid_from = ymd("生效日")
    valid_to = ymd("截止日")
    document = txt("政策文件")
    document_number = txt("文号")
    department = txt("发布部门")
    benefit_type = txt("支持方式", choices=BENEFIT_TYPES)
    topics = texts("主题")
    budget = money("预算总额")
    budget_remaining = money("剩余预算（有预算记录时）", optional=True)
    spec_hash = txt("规格的 SHA-256")


class PolicyList(Answer):
    total = integer("条数")
    items = many(PolicySummary, "每项政策的当前版本，按编号排序")


class SpecAmount(Answer):
    formula = anything("金额公式（JsonLogic，或定额文本）")
    rounding = txt("取整方式", choices=ROUNDINGS)
    cap = money("上限", optional=True)
    floor = money("下限", optional=True)


class CaseExpect(Answer):
    decision = txt("预期判定", optional=True, choices=DECISIONS)
    outcome = txt("预期兑现结果", optional=True)
    refused = texts("预期拒绝的名单", optional=True)
    amount = money("预期金额", optional=True)
    missing = texts("预期需补充的字段", optional=True)
    reason = texts("解释中应出现的文字", optional=True)
    distance = Dict(keys=String(), values=String(), metadata={"description": "字段或量 → 预期差距"})
    amount_explanation = texts("金额说明中应出现的文字", optional=True)


class SpecCase(Answer):
    name = txt("用例名称")
    facts = mapping(Raw(allow_none=True), "字段名 → 值")
    expect = one(CaseExpect, "预期")
    as_of = ymd("判定日", optional=True)
    parent_amount = money("上级政策的金额（配套政策的用例）", optional=True)


class PolicySpecJson(Answer):
    id = txt("政策编号")
    name = txt("名称")
    document = txt("政策文件")
    document_number = txt("文号")
    department = txt("发布部门")
    region = txt("适用地区的行政区划代码")
    valid_from = ymd("生效日")
    valid_to = ymd("截止日")
    target = txt("支持对象")
    topics = texts("主题")
    mode = txt("办理方式", choices=MODES)
    time_limit_days = integer("承诺办结时限（工作日）")
    benefit_type = txt("支持方式", choices=BENEFIT_TYPES)
    period = txt("兑现周期", choices=PERIODS)
    conditions = anything("申报条件（JsonLogic）")
    amount = one(SpecAmount, "金额")
    budget = money("预算")
    materials = texts("申报材料")
    declarable = texts("企业可自主申报的字段")
    exclusive_group = txt("就高不重复的组", optional=True)
    supplement_of = txt("上级政策（配套政策）", optional=True)
    source_text = txt("政策原文", optional=True)
    tests = many(SpecCase, "规格自带的测试用例")


class PolicyVersionRef(Answer):
    version = integer("版本号")
    spec_hash = txt("规格的 SHA-256")
    published_at = db_time("发布时刻", null=True)


class PolicyDetail(PolicySummary):
    spec = one(PolicySpecJson, "当前版本的规格（docs/policy-spec.md）")
    versions = many(PolicyVersionRef, "全部版本，按版本号排序")


# -- enterprises -----------------------------------------------------------------------------------------------


class EnterpriseSummary(Answer):
    uscc = txt("统一社会信用代码")
    name = txt("企业名称")
    region = txt("注册地行政区划代码")
    region_name = txt("注册地全称")
    industry = txt("国民经济行业代码")
    industry_name = txt("行业名称")
    established_on = ymd("成立日期", null=True)


class EnterpriseList(Answer):
    total = integer("符合筛选条件的企业数")
    page = integer("页码")
    per_page = integer("每页条数")
    items = many(EnterpriseSummary, "本页的企业")


class RosterRef(Answer):
    id = txt("名单编号")
    label = txt("名单名称")
    as_of = ymd("名单日期")


class Fact(Answer):
    value = anything(
        "值：文本；集合为文本列表；记录为对象列表",
        kinds=[{"type": "string"}, {"type": "array"}],
    )
    label = txt("值的中文表述")
    source = txt("来源")
    source_label = txt("来源的中文名称")
    verified = boolean("来自核验数据（否：自主申报）")
    as_of = ymd("数据日期")
    rosters = many(RosterRef, "据以确定此值的名单（由名单决定的字段）", optional=True)


class DerivedFact(Answer):
    value = txt("值（文本）")
    label = txt("值的中文表述")


class EnterpriseProfile(EnterpriseSummary):
    as_of = ymd("画像日期")
    facts = mapping(Nested(Fact), "字段名 → 当日有效的值与来源")
    derived = mapping(Nested(DerivedFact), "系统计算的字段（规模、成立年限等）")


class Listing(Answer):
    uscc = txt("统一社会信用代码")
    list = txt("名单字段", choices=["on_dishonesty_list", "in_abnormal_operation"])
    label = txt("名单名称")
    as_of = ymd("列入日期")
    reason = txt("理由")


# -- applications and reviews ---------------------------------------------------------------------------------


class SupplementOutcome(Answer):
    policy_id = txt("配套政策编号")
    outcome = txt("兑现结果（docs/settlement.md）", choices=SETTLEMENTS)
    outcome_label = txt("兑现结果的中文说明")
    reason = txt("理由（可为空文本）")
    amount = money("本次兑现（或应兑现）的金额", null=True)
    payout_id = integer("兑现编号", null=True)
    winner = txt("就高不重复：代替本项兑现的政策", optional=True)


class ApplicationAnswer(SupplementOutcome):
    application_id = integer("申请编号")
    uscc = txt("统一社会信用代码")
    policy_id = txt("政策编号")
    policy_version = integer("据以判定的政策版本")
    entitlement = money("按规则应得的金额", null=True)
    missing = texts("需补充申报的字段")
    missing_labels = texts("需补充申报的字段（中文）")
    declared = texts("本次申报的字段")
    trace = texts("决定结果的条件（中文）")
    steps = texts("金额的计算步骤（中文）")
    supplements = many(SupplementOutcome, "配套政策的结果")


class PayoutRef(Answer):
    id = integer("兑现编号")
    status = txt("兑现状态", choices=PAYOUT_STATUSES)
    amount = money("金额")
    period = txt("兑现周期（如 2026）")


class ApplicationDetail(Answer):
    application_id = integer("申请编号")
    status = txt("申请状态：pending_review、decided、approved、rejected，或审核后的兑现结果")
    declared = mapping(String(), "申报的字段值（文本）")
    decision = txt("规则判定", null=True, choices=[*DECISIONS, "refused"])
    settlement = txt("兑现结果", null=True, choices=SETTLEMENTS)
    reason = txt("理由", null=True)
    amount = money("金额", null=True)
    trace = texts("决定结果的条件（中文）")
    steps = texts("金额的计算步骤（中文）")
    payout = one(PayoutRef, "兑现", null=True)


class ReviewItem(Answer):
    application_id = integer("申请编号")
    uscc = txt("统一社会信用代码")
    enterprise = txt("企业名称")
    policy_id = txt("政策编号")
    policy = txt("政策名称")
    amount = money("初审金额", null=True)
    received = ymd("受理日")
    due = ymd("承诺办结日")
    overdue = boolean("已超过承诺办结日")
    declared = mapping(String(), "申报的字段值（文本）")
    trace = texts("初审的条件（中文）")


class ReviewQueue(Answer):
    total = integer("待审核的申请数")
    items = many(ReviewItem, "待审核的申请，先到先审")


class ReviewRejected(Answer):
    application_id = integer("申请编号")
    status = txt("rejected", choices=["rejected"])
    comment = txt("审核意见")


class ReviewApproved(Answer):
    application_id = integer("申请编号")
    status = txt("审核后的申请状态：approved，或未能兑现时的兑现结果")
    outcome = txt("兑现结果", choices=SETTLEMENTS)
    outcome_label = txt("兑现结果的中文说明")
    amount = money("金额", null=True)
    payout_id = integer("兑现编号", null=True)
    reason = txt("理由（可为空文本）")
    trace = texts("决定结果的条件（中文）")
    steps = texts("金额的计算步骤（中文）")
    comment = txt("审核意见")


# -- payouts, sweeps, batches ----------------------------------------------------------------------------------


class PayoutItem(Answer):
    id = integer("兑现编号")
    uscc = txt("统一社会信用代码")
    policy_id = txt("政策编号")
    period = txt("兑现周期（如 2026）")
    amount = money("金额")
    status = txt("兑现状态", choices=PAYOUT_STATUSES)
    batch_id = integer("待审批批次", null=True)


class PayoutList(Answer):
    total = integer("条数（至多 500）")
    items = many(PayoutItem, "兑现，新的在前")


class ClawbackStopped(Answer):
    payout_id = integer("兑现编号")
    action = txt("stopped：尚未到账，整笔撤销", choices=["stopped"])
    amount = money("撤销的金额")
    reason = txt("理由")


class ClawbackDone(Answer):
    payout_id = integer("兑现编号")
    action = txt("clawed_back：已到账，追回", choices=["clawed_back"])
    clawback_id = integer("追回记录编号")
    amount = money("追回的金额")
    reason = txt("理由")


class RevisionItem(Answer):
    policy_id = txt("政策编号")
    outcome = txt("复核结果：topped_up、clawed_back、unchanged、refused、budget_exhausted 等", choices=SETTLEMENTS)
    outcome_label = txt("复核结果的中文说明")
    amount = money("补发、追回或维持的金额", null=True)
    reason = txt("理由")
    payout_id = integer("兑现编号", null=True)


class Revision(Answer):
    payout_id = integer("复核的兑现编号")
    items = many(RevisionItem, "本项、配套及同组政策各自的结果")


class SweepItem(Answer):
    policy_id = txt("政策编号")
    name = txt("政策名称")
    eligible = integer("符合条件的企业数")
    undetermined = integer("信息不足的企业数")
    missing = mapping(Integer(), "缺少的字段 → 企业数")
    outcomes = mapping(Integer(), "兑现结果 → 企业数")
    amount = money("本次兑现的金额")
    held_amount = money("待审批的金额")
    batch_id = integer("待审批批次", null=True)
    summary = txt("一句话小结")


class Sweep(Answer):
    as_of = ymd("核验数据的日期")
    dry_run = boolean("只演算，未写入")
    approval_threshold = money("超过即待审批的金额（服务器设置）", null=True)
    amount = money("本次兑现的总金额")
    items = many(SweepItem, "每项政策")


class Batch(Answer):
    id = integer("批次编号")
    policy_id = txt("政策编号")
    status = txt("批次状态", choices=BATCH_STATUSES)
    threshold = money("审批阈值")
    count = integer("兑现笔数")
    amount = money("金额合计")
    by_status = mapping(Integer(), "兑现状态 → 笔数")
    created_by = txt("发起扫描者")
    created_at = db_time("创建时刻")
    decided_by = txt("审批者", null=True)
    decided_at = db_time("审批时刻", null=True)
    comment = txt("审批意见", null=True)


class BatchList(Answer):
    total = integer("条数")
    items = many(Batch, "批次")


# -- models ----------------------------------------------------------------------------------------------------


class Window(Answer):
    train_until = ymd("训练期截止")
    valid_from = ymd("验证期起")
    test_from = ymd("测试期起")
    until = ymd("测试期截止")


class ModelWindow(Answer):
    """A registered model's time split as its trainer recorded it in its metrics (the registry takes any)."""

    train_until = ymd("训练期截止", optional=True)
    valid_from = ymd("验证期起", optional=True)
    test_from = ymd("测试期起", optional=True)
    until = ymd("测试期截止", optional=True)


class PeriodRows(Answer):
    rows = integer("行数")
    queries = integer("查询数（企业-推送）")


class Rows(Answer):
    train = one(PeriodRows, "训练期")
    valid = one(PeriodRows, "验证期")
    test = one(PeriodRows, "测试期")


def figures(*, optional: bool = False) -> Dict:
    return Dict(
        keys=String(),
        values=Dict(keys=String(), values=Dict(keys=String(), values=Float(allow_none=True))),
        required=not optional,
        metadata={
            "description": "切片 → 排序方法 → 指标（ndcg@5、ndcg@10、map、recall@10、coverage、queries；"
            "无查询时为 null）"
        },
    )


class TrainingResult(Answer):
    version = txt("登记的模型版本")
    window = one(Window, "时间划分")
    rows = one(Rows, "各期的行数与查询数")
    figures = figures()
    gap_closed = number("缩小与完美排序差距的比例（NDCG@10）", null=True)
    best_baseline = txt("最佳基线", null=True)
    best_iteration = integer("早停时的迭代数")


class TrainingParams(Answer):
    until = ymd("测试期截止")
    period_days = integer("验证期与测试期各多少天")
    seed = integer("随机种子")


class ModelRef(Answer):
    kind = txt("模型种类")
    version = txt("版本")
    status = txt("状态", choices=MODEL_STATUSES)
    status_label = txt("状态的中文名称")
    url = txt("模型的地址")


class TrainingJob(Answer):
    id = integer("任务编号")
    kind = txt("模型种类")
    status = txt("任务状态", choices=JOB_STATUSES)
    status_label = txt("任务状态的中文名称")
    requested_by = txt("提交者")
    params = one(TrainingParams, "训练参数")
    graph = txt("知识图谱文件")
    created_at = moment("提交时刻")
    started_at = moment("开始时刻", null=True)
    finished_at = moment("结束时刻", null=True)
    progress = txt("最近的进度", null=True)
    model = one(ModelRef, "登记的模型（完成时）", null=True)
    result = one(TrainingResult, "训练结果（完成时）", null=True)
    error = txt("失败原因（中文）", null=True)
    url = txt("任务的地址")


class TrainingJobList(Answer):
    total = integer("条数（至多 50）")
    items = many(TrainingJob, "训练任务，新的在前")


class ModelParams(Open):
    """The trainer's hyperparameters (LightGBM's for a ranker): free-form beyond the members below."""

    seed = integer("随机种子", optional=True)
    period_days = integer("验证期与测试期各多少天", optional=True)
    best_iteration = integer("早停时的迭代数", optional=True)


class ModelMetrics(Open):
    """What the trainer measured: free-form beyond the members below."""

    figures = figures(optional=True)
    window = one(ModelWindow, "时间划分（排序模型四项俱全）", optional=True)
    gap_closed = number("缩小与完美排序差距的比例", null=True, optional=True)
    best_baseline = txt("最佳基线", optional=True)


class Model(Answer):
    kind = txt("模型种类")
    version = txt("版本")
    status = txt("状态", choices=MODEL_STATUSES)
    status_label = txt("状态的中文名称")
    registered_at = moment("登记时刻")
    trained_from = ymd("训练数据起", null=True)
    trained_until = ymd("训练数据止", null=True)
    window = one(ModelWindow, "时间划分（记录于 metrics；排序模型四项俱全）", null=True)
    schema_hash = txt("特征定义的哈希", null=True)
    schema_current = boolean("本服务是否使用这一特征定义（非排序模型为 null）", null=True)
    params = one(ModelParams, "超参数", null=True)
    metrics = one(ModelMetrics, "评估指标")
    promoted_at = moment("上线时刻", null=True)
    promoted_by = txt("上线者", null=True)
    url = txt("模型的地址")


class ModelList(Answer):
    total = integer("条数")
    production = mapping(String(), "模型种类 → 在用的版本")
    items = many(Model, "登记的全部版本")


# -- /v1: matches, self-test, search --------------------------------------------------------------------------


class Subject(Answer):
    kind = txt("enterprise：已登记企业；profile：企业画像", choices=["enterprise", "profile"])
    uscc = txt("统一社会信用代码（已登记企业）", optional=True)
    name = txt("企业名称（已登记企业）", optional=True)


class Scorer(Answer):
    name = txt("排序方法：在用模型的版本，或基线")
    label = txt("排序方法的中文名称")
    warning = txt("没有在用模型时的说明", null=True)


class Filters(Answer):
    decision = texts("判定", optional=True)
    mode = texts("办理方式", optional=True)
    benefit_type = texts("支持方式", optional=True)
    topic = texts("主题", optional=True)
    department = texts("部门", optional=True)


class DecisionCounts(Answer):
    eligible = integer("符合")
    not_eligible = integer("不符合")
    undetermined = integer("待补充信息后确定")


class Condition(Answer):
    path = txt("条件在规则中的位置")
    op = txt("运算")
    field = txt("字段（计算量为 null）", null=True)
    label = txt("比较的量（中文）")
    value = anything("企业的值")
    source = txt("值的来源", null=True)
    threshold = anything("要求")
    outcome = boolean("结果（未知为 null）", null=True)
    sentence = txt("中文句子")
    gap = txt("差距（数值条件未满足时）", null=True)


class PolicyBrief(Answer):
    mode = txt("办理方式", choices=MODES)
    mode_label = txt("办理方式的中文名称")
    benefit_type = txt("支持方式", choices=BENEFIT_TYPES)
    benefit_label = txt("支持方式的中文名称")
    department = txt("发布部门")
    topics = texts("主题")
    valid_from = ymd("生效日")
    valid_to = ymd("截止日")
    application_deadline = ymd("本期申报截止日（推送记录中最近的一期；无则 null）", null=True)
    deadline = ymd("截止日：申报截止日或政策截止日")
    days_left = integer("距截止日的天数")
    exclusive_group = txt("就高不重复的组", null=True)
    supplement_of = txt("上级政策（配套政策）", null=True)


class GraphPath(Answer):
    nodes = texts("节点")
    edges = texts("边的类型")
    text = txt("中文说明")


class GraphReason(Answer):
    sentence = txt("图谱的解释（中文）")
    paths = many(GraphPath, "企业到政策的路径，好的在前")


class MatchItem(Answer):
    policy_id = txt("政策编号")
    name = txt("政策名称")
    position = integer("在筛选后列表中的位置（从 1 起）")
    score = number("排序分数")
    decision = txt("规则判定", choices=DECISIONS)
    decision_label = txt("判定的中文名称")
    refused = txt("无论规则如何都不予支持的原因（失信、经营异常）", null=True)
    trace = texts("决定判定的条件（中文）")
    conditions = many(Condition, "同上，供机器读取")
    missing = texts("需补充的字段")
    missing_labels = texts("需补充的字段（中文）")
    note = txt("说明（可为空文本）")
    amount = money("金额：符合时为判定金额，否则为按已知信息的估算", null=True)
    amount_basis = txt("decided 判定；estimate 估算", null=True, choices=AMOUNT_BASES)
    amount_steps = texts("金额的计算步骤（中文）")
    policy = one(PolicyBrief, "政策概要")
    graph = one(GraphReason, "为什么值得一看（知识图谱）")


class MatchPage(Answer):
    subject = one(Subject, "匹配对象")
    as_of = ymd("判定日")
    scorer = one(Scorer, "排序方法")
    filters = one(Filters, "生效的筛选条件")
    total = integer("符合筛选条件的候选政策数")
    decisions = one(DecisionCounts, "符合其他筛选条件的候选政策，按判定计数")
    limit = integer("每页条数")
    items = many(MatchItem, "本页")
    next_cursor = txt("下一页的游标（最后一页为 null）", null=True)


class ProgressLeaf(Answer):
    sentence = txt("中文句子")
    field = txt("字段（计算量为 null）", null=True)
    label = txt("比较的量（中文）")


class UnmetLeaf(ProgressLeaf):
    value = anything("企业的值")
    threshold = anything("要求")
    gap = txt("差距（精确值）", null=True)
    distance = txt("差距的中文表述，如“还差 10万元”", null=True)


class ToDeclare(Answer):
    field = txt("字段")
    label = txt("字段的中文名称")
    source = txt("由谁提供")
    source_label = txt("由谁提供（中文）")
    declarable = boolean("企业可自主申报")
    how = txt("怎样补充（中文）")


class SelfTest(Answer):
    subject = one(Subject, "自测对象")
    as_of = ymd("判定日")
    policy_id = txt("政策编号")
    name = txt("政策名称")
    policy = one(PolicyBrief, "政策概要")
    in_force = boolean("判定日在有效期内")
    decision = txt("规则判定", choices=DECISIONS)
    decision_label = txt("判定的中文名称")
    refused = txt("无论规则如何都不予支持的原因（失信、经营异常）", null=True)
    summary = txt("条件计数（中文）")
    met = many(ProgressLeaf, "已满足的条件")
    not_met = many(UnmetLeaf, "未满足的条件与差距")
    unknown = many(ProgressLeaf, "缺少信息的条件")
    to_declare = many(ToDeclare, "需补充的事实")
    trace = texts("判定的解释（中文）")
    note = txt("说明（可为空文本）")
    amount = money("金额：符合时为判定金额，否则为估算", null=True)
    amount_basis = txt("decided 判定；estimate 估算", null=True, choices=AMOUNT_BASES)
    amount_steps = texts("金额的计算步骤（中文）")


class Finding(Answer):
    kind = txt("识别出的内容：industry、scale、region、age、qualification、employees、revenue、topic、wish 等")
    value = anything("识别出的值（代码、代码列表或范围）")
    label = txt("中文说明")
    words = texts("来自查询中的哪些词")


class Term(Answer):
    word = txt("词")
    weight = number("权重")
    role = txt("ask：想了解的；firm：描述企业的", choices=["ask", "firm"])


class KnownFact(Answer):
    field = txt("字段")
    label = txt("字段的中文名称")
    within = texts("属于其中之一（行业、地区代码）", optional=True)
    range = List(String(allow_none=True), metadata={"description": "[下限, 上限]（null：不限）"})
    one_of = texts("取值之一", optional=True)
    holds = texts("具有的资质", optional=True)


class Understanding(Answer):
    query = txt("查询")
    day = ymd("日期")
    findings = many(Finding, "识别出的内容，按查询中的顺序")
    summary = txt("理解（一句中文）")
    terms = many(Term, "用于排序的词")
    ignored = texts("未用于排序的词")
    facts = many(KnownFact, "交给规则引擎的企业情况（其余未知）")


class TopicRef(Answer):
    code = txt("主题代码")
    label = txt("主题名称")


class TargetRef(Answer):
    tag = txt("标签")
    label = txt("标签名称")


class MatchParts(Answer):
    text = number("文字匹配")
    topic = number("主题匹配")
    target = number("对象匹配")


class Matched(Answer):
    words = mapping(Float(), "匹配的词 → 权重")
    topics = many(TopicRef, "匹配的主题")
    targets = many(TargetRef, "匹配的支持对象")
    parts = one(MatchParts, "分数的组成")
    why = txt("匹配的原因（中文）")


class SearchDecision(Answer):
    outcome = txt("按所述情况的判定", choices=SEARCH_OUTCOMES)
    label = txt("判定的中文说明")
    reasons = texts("理由（中文）")
    missing = texts("还需说明的字段")
    missing_labels = texts("还需说明的字段（中文）")
    depends_on = texts("所述情况过于笼统、结果取决于的字段（中文）")


class SearchResult(Answer):
    policy_id = txt("政策编号")
    name = txt("政策名称")
    department = txt("发布部门")
    mode = txt("办理方式", choices=MODES)
    mode_label = txt("办理方式的中文名称")
    valid_to = ymd("截止日")
    score = number("相关度")
    matched = one(Matched, "为什么找到它")
    decision = one(SearchDecision, "所述企业是否符合")


class LeftOutReason(Answer):
    reason = txt("原因", choices=LEFT_OUT_REASONS)
    label = txt("原因的中文名称")
    count = integer("政策数")


class LeftOutPolicy(Answer):
    policy_id = txt("政策编号")
    name = txt("政策名称")
    reason = txt("原因", choices=LEFT_OUT_REASONS)
    explanation = txt("说明（中文）")
    conditions = texts("不满足的条件（中文）")


class LeftOut(Answer):
    count = integer("略去的政策数")
    by_reason = many(LeftOutReason, "按原因计数")
    policies = many(LeftOutPolicy, "略去的政策")


class Search(Answer):
    query = txt("查询（去除首尾空白）")
    day = ymd("检索日")
    understanding = one(Understanding, "对查询的理解")
    considered = integer("检索的已发布政策数")
    found = integer("查询找到的政策数（略去前）")
    browse = boolean("查询只描述了企业：列出其可能符合的全部政策")
    results = many(SearchResult, "结果，好的在前")
    left_out = one(LeftOut, "略去的政策及原因")
    notes = texts("提示（中文）")


# -- background jobs (service/http/jobs.py) ----------------------------------------------------------------------

JOB_STATES = ("queued", "running", "done", "failed")  # service.jobs.queue.STATE_LABELS (checked by a test)


class Job(Answer):
    id = integer("任务编号")
    kind = txt("任务类型（sweep、graph_rebuild、training、bundles、deliveries、policy_published）")
    kind_label = txt("任务类型的中文名称")
    state = txt("状态", choices=JOB_STATES)
    state_label = txt("状态的中文名称")
    params = mapping(Raw(allow_none=True), "参数（编号与简单值）")
    progress = txt("最近的进度（中文）", null=True)
    fraction = number("完成比例（0–1，能估计时）", null=True)
    result = anything("结果（完成时；各类型不同的 JSON 对象）", kinds=[{"type": "object"}, {"type": "null"}])
    error = txt("失败原因（中文）", null=True)
    attempts = integer("已运行次数")
    max_attempts = integer("最多运行次数")
    requested_by = txt("提交者")
    owner = txt("运行它的进程（host:pid）", null=True)
    created_at = moment("提交时刻")
    started_at = moment("开始时刻", null=True)
    heartbeat_at = moment("最近的心跳", null=True)
    finished_at = moment("结束时刻", null=True)
    run_after = moment("最早运行时刻（重试时）", null=True)
    url = txt("任务的地址")


class JobList(Answer):
    filters = mapping(String(), "所用的筛选条件")
    limit = integer("每页条数")
    items = many(Job, "任务，新的在前")
    next_cursor = txt("下一页的 cursor（最后一页为 null）", null=True)


# -- 政策包 push (service/http/push.py) --------------------------------------------------------------------------

PUSH_GROUPS = ("auto_paid", "apply_now", "maybe")  # service.push.bundle.GROUPS (checked by a test)
OUTBOX_STATES = ("pending", "sent", "failed", "dead")


class BundleItemAnswer(Answer):
    policy_id = txt("政策编号")
    group = txt("分组", choices=PUSH_GROUPS)
    group_label = txt("分组的中文名称")
    name = txt("政策名称")
    amount = money("金额", null=True)
    deadline = txt("截止日期（YYYY-MM-DD）", null=True)
    reason = txt("入包理由（中文）")
    to_declare = texts("需补充的信息（中文标签）")
    link = txt("政策页面的站内地址")
    rank = integer("在政策包中的位置（从 1 起）")


class InboxEntryAnswer(Answer):
    id = integer("站内信编号")
    message_id = txt("消息编号（接收方据此去重）")
    uscc = txt("企业的统一社会信用代码")
    period = txt("政策包期次")
    title = txt("标题")
    items = many(BundleItemAnswer, "政策包条目")
    created_at = moment("送达时刻", null=True)
    read_at = moment("阅读时刻", null=True)
    read = boolean("是否已读")


class InboxList(Answer):
    uscc = txt("企业的统一社会信用代码")
    unread = integer("未读条数")
    total = integer("本页条数")
    items = many(InboxEntryAnswer, "站内信，新的在前")


class PushChannelState(Answer):
    label = txt("渠道的中文名称")
    enabled = boolean("企业是否开启")
    reachable = boolean("现在能否送达")
    note = txt("不能送达的原因（中文）", null=True)


class PushPreferences(Answer):
    uscc = txt("企业的统一社会信用代码")
    channels = mapping(Nested(PushChannelState), "渠道（inbox、webhook、sms）→ 状态")
    sms_phone = txt("登记的手机号（部分隐去）", null=True)
    webhooks = integer("有效的 Webhook 数")


class WebhookAnswer(Answer):
    id = integer("Webhook 编号")
    url = txt("接收地址")
    description = txt("说明")
    secret_hint = txt("签名密钥的开头")
    created_at = moment("登记时刻", null=True)
    created_by = txt("登记者")
    channel = txt("推送渠道名（webhook:编号）")


class WebhookCreated(WebhookAnswer):
    secret = txt("签名密钥（只在此显示一次）")


class WebhookList(Answer):
    uscc = txt("企业的统一社会信用代码")
    items = many(WebhookAnswer, "有效的 Webhook")


class OutboxMessageAnswer(Answer):
    id = integer("发件箱记录编号")
    message_id = txt("消息编号")
    uscc = txt("企业的统一社会信用代码")
    period = txt("政策包期次")
    channel = txt("渠道（inbox、sms、webhook:编号）")
    state = txt("状态", choices=OUTBOX_STATES)
    attempts = integer("已尝试次数")
    next_attempt_at = moment("下次尝试时刻", null=True)
    last_error = txt("最近的错误", null=True)
    created_at = moment("入队时刻", null=True)
    sent_at = moment("发送时刻", null=True)
    items = texts("所含政策编号")


class OutboxList(Answer):
    total = integer("本页条数")
    items = many(OutboxMessageAnswer, "消息，新的在前")
