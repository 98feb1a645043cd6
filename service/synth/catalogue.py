"""The synthetic city's policy catalogue: YAML templates filled in for one city.

A measure is written once, as data, in ``templates/NN-<id>.yaml``
(docs/synthetic-data.md, "Policy templates"), for every city: the city's
name, 简称 and code and its host districts are placeholders. This module
holds only what every measure shares — the region scope and credit
conditions, the default materials, time limits and validity — and fills a
template in for a city, or, for a larger city (``zhida generate --policies``),
a city-wide template in as one district's own version of the measure
(:func:`district_version`). Test cases are computed later (:mod:`.policies`).
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from pathlib import Path

import yaml

from service.errors import SetupError
from service.synth import params

TEMPLATES = Path(__file__).with_name("templates")
# Appended to every measure's conditions: no payout to 失信 or 经营异常 firms.
CLEAN = [{"!": {"var": "on_dishonesty_list"}}, {"!": {"var": "in_abnormal_operation"}}]
# A measure that asks for any document also asks for these two.
LICENCE = ["营业执照", "法定代表人身份证明"]
# 即申即办 runs on a credit commitment (信用承诺) in place of most paperwork.
COMMITMENT = "信用承诺书"
# Working days to decide, unless the template says otherwise (免申即享 is always 0).
TIME_LIMIT_DAYS = {"automatic": 0, "instant": 1, "review": 15}
# Most 若干措施 run three years; a template with other dates carries its own.
VALIDITY = (dt.date(2025, 1, 1), dt.date(2027, 12, 31))
# 简称 used in 文号 (宁科规…); any other city uses its first character.
ABBREVIATIONS = {
    "南京市": "宁",
    "杭州市": "杭",
    "深圳市": "深",
    "苏州市": "苏",
    "上海市": "沪",
    "北京市": "京",
    "广州市": "穗",
    "长春市": "长",
    "泉州市": "泉",
}
HOSTS = ("tech", "services", "manufacturing")
TEXT = ("name", "document", "document_number", "department", "target")
REQUIRED = (*TEXT, "id", "topics", "mode", "benefit_type", "conditions", "amount", "budget")
OPTIONAL = (
    "district",
    "valid_from",
    "valid_to",
    "time_limit_days",
    "period",
    "exclusive_group",
    "materials",
    "declarable",
    "example",
    "counter",
)


class TemplateError(SetupError):
    """A shipped template that cannot make a valid spec (the message names it)."""


@cache
def templates() -> tuple[tuple[str, dict], ...]:
    """``(file name, template)`` of every measure, in file-name order (the catalogue's order)."""
    out = []
    for path in sorted(TEMPLATES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        unknown = set(data) - set(REQUIRED) - set(OPTIONAL)
        absent = [k for k in REQUIRED if k not in data]
        if unknown or absent:
            raise TemplateError(f"政策模板 {path.name}：未知的键 {sorted(unknown)}，缺少 {absent}")
        if not path.stem.endswith("-" + data["id"]):
            raise TemplateError(f"政策模板 {path.name}：文件名应以 -{data['id']}.yaml 结尾")
        if data.get("district", "tech") not in HOSTS:
            raise TemplateError(f"政策模板 {path.name}：district 应为 {'、'.join(HOSTS)} 之一")
        out.append((path.name, data))
    return tuple(out)


def abbreviation(city_name: str) -> str:
    return ABBREVIATIONS.get(city_name, city_name[0])


def fill(template: dict, city_name: str, city_code: str, districts: dict, source: str = "") -> dict:
    """Spec elements of one measure for a city, plus ``_example`` and ``_counter`` (raw facts).

    ``districts`` maps tech / services / manufacturing to the district that
    hosts that kind's district measure (:func:`.policies.host_districts`).
    """
    t = copy.deepcopy(template)  # the cached template stays as read
    host = districts[t["district"]] if "district" in t else None
    words = {"city": city_name, "city_stem": city_name[:-1], "abbr": abbreviation(city_name)}
    if host is not None:
        words.update(district=host.name, district_short=host.name[:2])
    try:
        text = {k: t[k].format_map(words) for k in TEXT}
    except KeyError as e:
        raise TemplateError(f"政策模板 {source or t['id']}：未知的占位符 {e}（district 仅用于区级政策）") from None
    region = host.code if host is not None else city_code
    # the example firm is registered in the measure's district (city-wide: the tech district)
    return _elements(t, text, t["id"], region, (host or districts["tech"]).code)


def city_wide(template: dict) -> bool:
    """Whether a district can issue its own version of the measure (a city-wide template, no ``district``)."""
    return "district" not in template


def version_id(template_id: str, district) -> str:
    """The id of a district's version: the template's id, ``-q`` and the district's own two digits of its code
    (玄武区 320102: ``gaoqi-shouci-rending-q02``; unique within a city, and short enough that every event id
    ``<uscc>:<policy>:<kind>:<chain>`` stays within 64 characters)."""
    return f"{template_id}-q{district.code[4:]}"


def district_version(template: dict, district, source: str = "") -> dict:
    """A district's own version of a city-wide measure (区级同类政策), like :func:`fill`'s.

    The district issues it in its own words — name, document, 文号 and
    department with the district for the city (``{city}`` and ``{city_stem}``
    the district, ``{abbr}`` its first two characters: 玄武区科学技术局,
    玄武科规〔2025〕2号) — for the firms registered there (region: the district),
    with its own id and exclusive group (:func:`version_id`) and a budget of
    ``params.DISTRICT_BUDGET_SHARE`` of the city's; conditions, amount, mode and
    dates are the city measure's. The example firm is registered in the district.
    """
    if not city_wide(template):
        raise TemplateError(f"政策模板 {source or template['id']}：区级政策没有区级版本")
    t = copy.deepcopy(template)
    short = district.name[:2]
    words = {"city": district.name, "city_stem": short, "abbr": short}
    try:
        text = {k: t[k].format_map(words) for k in TEXT}
    except KeyError as e:
        raise TemplateError(f"政策模板 {source or t['id']}：未知的占位符 {e}（district 仅用于区级政策）") from None
    if not text["name"].startswith(district.name):
        text["name"] = district.name + text["name"]
    text["target"] = f"注册在{district.name}的{text['target']}"
    t["budget"] = _district_budget(t["budget"])
    if t.get("exclusive_group"):
        t["exclusive_group"] = version_id(t["exclusive_group"], district)
    out = _elements(t, text, version_id(t["id"], district), district.code, district.code)
    out["_example"]["region"] = district.code  # only a firm registered in the district qualifies
    return out


def _district_budget(city_budget) -> str:
    """``params.DISTRICT_BUDGET_SHARE`` of the city's budget, rounded down to whole 万元 (at least 1 万元)."""
    share = Decimal(str(city_budget)) * Decimal(str(params.DISTRICT_BUDGET_SHARE))
    wan = (share / 10000).to_integral_value(ROUND_FLOOR)
    return f"{max(wan, 1) * 10000:.2f}"


def _elements(t: dict, text: dict, sid: str, region: str, example_region: str) -> dict:
    mode = t["mode"]
    amount = {k: t["amount"][k] for k in ("formula", "cap", "floor") if k in t["amount"]}
    own = t.get("materials", [])
    return {
        "id": sid,
        "name": text["name"],
        "document": text["document"],
        "document_number": text["document_number"],
        "department": text["department"],
        "region": region,
        "valid_from": t.get("valid_from", VALIDITY[0]),
        "valid_to": t.get("valid_to", VALIDITY[1]),
        "target": text["target"],
        "topics": t["topics"],
        "mode": mode,
        "time_limit_days": t.get("time_limit_days", TIME_LIMIT_DAYS[mode]),
        "benefit_type": t["benefit_type"],
        "period": t.get("period", "annual"),
        "conditions": {"and": [{"in_region": [{"var": "region"}, region]}, *t["conditions"], *CLEAN]},
        "amount": {**amount, "rounding": t["amount"].get("rounding", "half_up")},
        "budget": t["budget"],
        "exclusive_group": t.get("exclusive_group"),
        "materials": (LICENCE + own if own else []) + ([COMMITMENT] if mode == "instant" else []),
        "declarable": t.get("declarable", []),
        "_example": {"region": example_region, **t.get("example", {})},
        "_counter": dict(t.get("counter", {})),
    }


def catalogue(city_name: str, city_code: str, districts: dict) -> list[dict]:
    """Every measure filled in for a city, in catalogue order."""
    return [fill(t, city_name, city_code, districts, name) for name, t in templates()]
