"""Official classifications shipped with zhida: GB/T 4754-2017 industries and
the administrative divisions (国家统计局 2023 统计用区划代码).

Codes are canonicalised once, here, so every other part compares plain strings:

- industry: section letter + digits, e.g. ``C`` (门类), ``C39`` (大类),
  ``C391`` (中类), ``C3911`` (小类). ``3911`` is accepted and normalised.
- region: six digits, e.g. ``320000`` (province), ``320100`` (city),
  ``320102`` (district). ``32`` and ``3201`` are accepted and normalised.

Both trees are loaded lazily from ``graph/data`` and cached for the process.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from graph.errors import UnknownCode

INDUSTRY_LEVELS = ("section", "division", "group", "class")  # 门类 大类 中类 小类
INDUSTRY_LEVEL_LABELS = ("门类", "大类", "中类", "小类")
REGION_LEVELS = ("province", "city", "district")
REGION_LEVEL_LABELS = ("省级", "地级", "县级")

# Districts that existed and were abolished; a code here is refused with the
# reason rather than silently matching nothing. Sources: the State Council's
# approvals of the listed adjustments (民政部 行政区划变更公报).
ABOLISHED_REGIONS: dict[str, tuple[str, int, str]] = {
    "110103": ("崇文区", 2010, "并入东城区 110101"),
    "110104": ("宣武区", 2010, "并入西城区 110102"),
    "310103": ("卢湾区", 2011, "并入黄浦区 310101"),
    "310108": ("闸北区", 2015, "并入静安区 310106"),
    "310119": ("南汇区", 2009, "并入浦东新区 310115"),
    "320103": ("白下区", 2013, "并入秦淮区 320104"),
    "320107": ("下关区", 2013, "并入鼓楼区 320106"),
    "330103": ("下城区", 2021, "并入拱墅区 330105"),
    "330104": ("江干区", 2021, "撤销，设上城区、钱塘区"),
}


@dataclass(frozen=True, slots=True)
class Industry:
    code: str
    name: str
    parent: str | None
    level: int  # 0 门类 … 3 小类
    description: str

    @property
    def level_label(self) -> str:
        return INDUSTRY_LEVEL_LABELS[self.level]


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    parent: str | None
    level: int  # 0 province, 1 city, 2 district

    @property
    def level_label(self) -> str:
        return REGION_LEVEL_LABELS[self.level]


# Transcription errors in the shipped table, corrected against the standard's
# text: (code as shipped, name) -> code in GB/T 4754-2017.
INDUSTRY_CORRECTIONS = {("0711", "海洋石油开采"): "0712"}


def _read_csv(name: str) -> list[dict[str, str]]:
    with resources.files("graph").joinpath("data", name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class _Tree:
    """What both classifications share: canonical lookup, membership, iteration, the parent chain."""

    _by_code: dict
    _children: dict

    def canonical(self, code: str) -> str:  # pragma: no cover - each tree defines its codes
        raise NotImplementedError

    def get(self, code: str):
        return self._by_code[self.canonical(code)]

    def __contains__(self, code: object) -> bool:
        try:
            self.canonical(str(code))
        except UnknownCode:
            return False
        return True

    def __iter__(self):
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def ancestors(self, code: str) -> list:
        """From the node itself up to its root."""
        out = []
        node = self.get(code)
        while node is not None:
            out.append(node)
            node = self._by_code[node.parent] if node.parent else None
        return out

    def children(self, code: str | None) -> list:
        key = self.canonical(code) if code is not None else None
        return [self._by_code[c] for c in self._children.get(key, [])]


class IndustryTree(_Tree):
    """GB/T 4754-2017 with lookups by code and by name, and the hierarchy."""

    def __init__(self, rows: list[dict[str, str]]):
        rows = [{**r, "code": INDUSTRY_CORRECTIONS.get((r["code"], r["name"]), r["code"])} for r in rows]
        section_of: dict[str, str] = {}
        for r in rows:  # digits codes know their section through the 大类 parent
            if r["level"] == "1":
                section_of[r["code"]] = r["parent_code"]
        self._by_code: dict[str, Industry] = {}
        for r in rows:
            level = int(r["level"])
            code = self._canon_raw(r["code"], level, section_of)
            parent = None
            if r["parent_code"]:
                parent = self._canon_raw(r["parent_code"], level - 1, section_of)
            self._by_code[code] = Industry(code, r["name"], parent, level, r["description"])
        self._by_name: dict[str, list[Industry]] = {}
        for ind in self._by_code.values():
            self._by_name.setdefault(ind.name, []).append(ind)
        self._section_of = section_of
        self._children: dict[str | None, list[str]] = {}
        for ind in self._by_code.values():
            self._children.setdefault(ind.parent, []).append(ind.code)

    @staticmethod
    def _canon_raw(code: str, level: int, section_of: dict[str, str]) -> str:
        if level == 0:
            return code
        return section_of[code[:2]] + code

    def canonical(self, code: str) -> str:
        """Return the canonical code (``C3911``) or raise :class:`UnknownCode`."""
        c = str(code).strip().upper()
        if c and c[0].isdigit():
            section = self._section_of.get(c[:2])
            if section is None:
                raise UnknownCode("industry", code, "不是 GB/T 4754-2017 的行业代码")
            c = section + c
        if c not in self._by_code:
            raise UnknownCode("industry", code, "不是 GB/T 4754-2017 的行业代码")
        return c

    def by_name(self, name: str) -> list[Industry]:
        """All industries with exactly this name (names repeat across levels)."""
        return list(self._by_name.get(name.strip(), []))

    def is_within(self, code: str, ancestor: str) -> bool:
        """True when ``code`` equals ``ancestor`` or lies below it (C3911 in C39, C)."""
        c, a = self.canonical(code), self.canonical(ancestor)
        return c.startswith(a)

    def at_level(self, level: int) -> list[Industry]:
        return [i for i in self._by_code.values() if i.level == level]


class RegionTree(_Tree):
    """Provinces, cities and districts, with lookups by code and by name."""

    def __init__(self, provinces, cities, areas):
        self._by_code: dict[str, Region] = {}
        for r in provinces:
            code = r["code"].ljust(6, "0")
            self._by_code[code] = Region(code, r["name"], None, 0)
        for r in cities:
            code = r["code"].ljust(6, "0")
            self._by_code[code] = Region(code, r["name"], r["provinceCode"].ljust(6, "0"), 1)
        for r in areas:
            if r["code"] in self._by_code:
                continue  # 东莞, 中山, 儋州: the city is its own county-level unit, with no districts
            self._by_code[r["code"]] = Region(r["code"], r["name"], r["cityCode"].ljust(6, "0"), 2)
        self._children: dict[str | None, list[str]] = {}
        for reg in self._by_code.values():
            self._children.setdefault(reg.parent, []).append(reg.code)

    def canonical(self, code: str) -> str:
        c = str(code).strip()
        if not c.isdigit() or len(c) not in (2, 4, 6):
            raise UnknownCode("region", code, "行政区划代码应为 6 位数字")
        c = c.ljust(6, "0")
        if c in ABOLISHED_REGIONS:
            name, year, note = ABOLISHED_REGIONS[c]
            raise UnknownCode("region", code, f"{name}已于 {year} 年撤销（{note}），请使用现行区划代码")
        if c not in self._by_code:
            raise UnknownCode("region", code, "不是现行的行政区划代码")
        return c

    def by_name(self, name: str, within: str | None = None) -> list[Region]:
        """Regions with this name (鼓楼区 exists in several cities), optionally under ``within``."""
        name = name.strip()
        out = [r for r in self._by_code.values() if r.name == name]
        if within is not None:
            out = [r for r in out if self.is_within(r.code, within)]
        return out

    def city(self, name: str) -> Region:
        """The one city (地级) called ``name``, e.g. 南京市."""
        found = [r for r in self.by_name(name) if r.level == 1]
        if len(found) != 1:
            raise UnknownCode("region", name, "不是唯一的地级市名称" if found else "不是地级市名称")
        return found[0]

    def is_within(self, code: str, ancestor: str) -> bool:
        """True when ``code`` equals ``ancestor`` or lies inside it (a district in its city)."""
        c, a = self.canonical(code), self.canonical(ancestor)
        return any(r.code == a for r in self.ancestors(c))

    def is_registration_level(self, code: str) -> bool:
        """Where an enterprise registers: a district or county, or a city with no districts."""
        reg = self.get(code)
        return reg.level == 2 or (reg.level == 1 and not self.children(reg.code))

    def full_name(self, code: str) -> str:
        parts = [r.name for r in reversed(self.ancestors(code)) if r.name != "市辖区"]
        return "".join(parts)


@cache
def industries() -> IndustryTree:
    return IndustryTree(_read_csv("industry_gbt4754_2017.csv"))


@cache
def regions() -> RegionTree:
    return RegionTree(
        _read_csv("regions_provinces.csv"),
        _read_csv("regions_cities.csv"),
        _read_csv("regions_areas.csv"),
    )
