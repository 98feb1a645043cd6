"""The request bodies of the write endpoints, checked before any handler runs (unknown members refused: no
mass assignment; every text bounded; types checked). The same schemas write the OpenAPI document."""

from __future__ import annotations

import math

from apiflask import Schema
from apiflask.fields import Boolean, Dict, Integer, String
from apiflask.validators import Length, OneOf
from marshmallow import RAISE, ValidationError, fields, validates_schema

REASON = 500  # characters of a reason or a comment: they are copied into the audit log
SLUG = 100  # characters of a policy id
FIELD_NAME = 64  # characters of a catalog field's name
VALUE_TEXT = 1000  # characters of a declared value given as text (its meaning: the catalog's, 422)
MAX_FACTS = 50  # facts declared in one request
SET_MEMBERS = 50  # members of a set field given as a list (qualifications)


class Strict(Schema):
    class Meta:
        unknown = RAISE  # a member the API does not know is refused, never ignored nor stored


class Scalar(fields.Field):
    """A fact's value as declared: text, a number, true/false, or a list of texts (the members of a set field
    such as ``qualifications``; never an object); its meaning is the field catalog's to check."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            if len(value) > SET_MEMBERS:
                raise ValidationError(f"列表最多 {SET_MEMBERS} 项")
            if not all(isinstance(x, str) and len(x) <= VALUE_TEXT for x in value):
                raise ValidationError(f"列表的每一项应为不超过 {VALUE_TEXT} 个字符的文本")
            return value
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):  # its range is the field's (matcher.catalog: 422 beyond it)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValidationError("应为有限的数值")
            return value
        if isinstance(value, str):
            if len(value) > VALUE_TEXT:
                raise ValidationError(f"长度不能超过 {VALUE_TEXT} 个字符")
            return value
        raise ValidationError("应为文本、数值、true/false 或文本列表")


def facts_field(description: str, required: bool = False, least: int = 0, most: int = MAX_FACTS) -> Dict:
    """Facts by the catalog's field names: ``{field: value}`` of :class:`Scalar` values."""
    return Dict(
        keys=String(validate=Length(1, FIELD_NAME)),
        values=Scalar(
            metadata={
                "oneOf": [
                    {"type": "string", "maxLength": VALUE_TEXT},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "array", "maxItems": SET_MEMBERS, "items": {"type": "string", "maxLength": VALUE_TEXT}},
                ]
            }
        ),
        validate=Length(least, most),
        required=required,
        metadata={"description": description},
    )


def _reason(required: bool = True, what: str = "理由") -> String:
    return String(required=required, validate=Length(1, REASON), metadata={"description": f"{what}（记入审计日志）"})


def _commitment() -> Boolean:
    return Boolean(
        required=True,
        error_messages={"required": "申报须同意信用承诺：commitment 应为 true"},
        metadata={"description": "同意信用承诺（须为 true）"},
    )


class ApplicationIn(Strict):
    uscc = String(validate=Length(18, 18), metadata={"description": "统一社会信用代码（企业密钥可省略：本企业）"})
    policy_id = String(
        required=True,
        validate=Length(1, SLUG),
        error_messages={"required": "缺少 policy_id"},
        metadata={"description": "政策编号"},
    )
    declared = facts_field("在信用承诺下申报的字段值：字段名 → 值")
    commitment = _commitment()


class DeclarationIn(Strict):
    commitment = _commitment()
    facts = facts_field("申报的字段值：字段名 → 值（非空）", required=True)


class ListingIn(Strict):
    list = String(required=True, validate=Length(1, 64), metadata={"description": "名单（失信、经营异常等）"})
    reason = _reason()


class ClawbackIn(Strict):
    reason = _reason()
    amount = String(validate=Length(1, 32), metadata={"description": "追回金额（元，两位小数；默认全额）"})


class RevisionIn(Strict):
    reason = _reason()


class ReviewIn(Strict):
    action = String(required=True, validate=OneOf(["approve", "reject"]))
    comment = _reason(what="审核意见")


class BatchDecisionIn(Strict):
    action = String(required=True, validate=OneOf(["approve", "reject"]))
    comment = _reason(required=False, what="意见")


class SweepIn(Strict):
    policy_id = String(validate=Length(1, SLUG), metadata={"description": "扫描这一项免申即享政策"})
    scope = String(validate=OneOf(["all"]), metadata={"description": '"all"：扫描全部免申即享政策（须明确指定）'})
    as_of = String(validate=Length(10, 10), metadata={"description": "按此日的核验数据 YYYY-MM-DD（默认今天）"})
    dry_run = Boolean(load_default=False, metadata={"description": "只演算，不写入"})

    @validates_schema
    def _one_scope(self, data, **kwargs):
        if ("policy_id" in data) == ("scope" in data):
            raise ValidationError('须指定扫描范围：policy_id（一项政策）或 scope: "all"（全部），二者选一', "scope")


class TrainingIn(Strict):
    """Types here; the dates and ranges are checked by ``service.http.models.training_params`` (422)."""

    until = String(
        error_messages={"invalid": "应为 YYYY-MM-DD 格式的日期（字符串）"},
        metadata={"description": "测试期结束日 YYYY-MM-DD（默认今天；不晚于今天）"},
    )
    period_days = Integer(strict=True, metadata={"description": "验证期与测试期各多少天（7–366）"})
    seed = Integer(strict=True, metadata={"description": "随机种子（0–2147483647）"})


class ReasonIn(Strict):
    reason = _reason()


# -- query strings: documented and typed; the handlers check what the values mean -----------------------------


class EnterpriseListQuery(Schema):
    region = String(validate=Length(max=12), metadata={"description": "行政区划代码（含下级）"})
    industry = String(validate=Length(max=8), metadata={"description": "国民经济行业代码（含下级）"})
    q = String(validate=Length(max=100), metadata={"description": "名称包含"})
    page = String(validate=Length(max=10), metadata={"description": "页码（从 1 起）"})
    per_page = String(validate=Length(max=10), metadata={"description": "每页条数（≤200）"})


class AsOfQuery(Schema):
    as_of = String(validate=Length(max=10), metadata={"description": "YYYY-MM-DD（默认今天）"})


class PolicyListQuery(Schema):
    mode = String(validate=Length(max=20), metadata={"description": "automatic | instant | review"})
    active_on = String(validate=Length(max=10), metadata={"description": "YYYY-MM-DD：当日有效的政策"})


class PayoutListQuery(Schema):
    uscc = String(validate=Length(max=18), metadata={"description": "统一社会信用代码（企业密钥：本企业）"})


class KindQuery(Schema):
    kind = String(validate=Length(max=40), metadata={"description": "模型种类，如 ranker"})


class ReferenceSearchQuery(Schema):
    kind = String(validate=Length(max=20), metadata={"description": "industry | region"})
    name = String(validate=Length(max=100), metadata={"description": "中文名称（精确）"})


class BatchListQuery(Schema):
    all = String(validate=Length(max=5), metadata={"description": "1：全部批次（默认只列待审批的）"})


# -- 政策包 delivery: the inbox, preferences, webhooks, the outbox (docs/push.md) ----------------------------


class InboxQuery(Schema):
    uscc = String(validate=Length(max=18), metadata={"description": "统一社会信用代码（工作人员必填）"})
    unread = String(validate=Length(max=5), metadata={"description": "1：只列未读"})
    limit = String(validate=Length(max=10), metadata={"description": "条数（1–200，默认 50）"})


class InboxReadIn(Strict):
    policy_id = String(validate=Length(1, SLUG), metadata={"description": "打开了消息中的这项政策（可选）"})


class PreferencesIn(Strict):
    channels = Dict(
        keys=String(validate=OneOf(["inbox", "webhook", "sms"])),
        values=Boolean(),
        metadata={"description": "各渠道开（true）或关（false）：inbox 站内信、webhook、sms 短信"},
    )
    sms_phone = String(
        allow_none=True, validate=Length(max=20), metadata={"description": "接收短信的手机号；null 删除"}
    )


class WebhookIn(Strict):
    url = String(required=True, validate=Length(1, 500), metadata={"description": "接收推送的地址（https://）"})
    description = String(validate=Length(max=200), metadata={"description": "备注"})


class OutboxQuery(Schema):
    state = String(validate=OneOf(["pending", "sent", "failed", "dead"]), metadata={"description": "消息状态"})
    uscc = String(validate=Length(max=18), metadata={"description": "统一社会信用代码"})
    limit = String(validate=Length(max=10), metadata={"description": "条数（1–500，默认 100）"})
