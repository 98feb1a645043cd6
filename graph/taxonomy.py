"""Official classifications shipped with zhida: GB/T 4754-2017 industries and
the administrative divisions (国家统计局 2023 统计用区划代码).

Codes are canonicalised once, here, so every other part compares plain strings:

- industry: section letter + digits, e.g. ``C`` (门类), ``C39`` (大类),
  ``C391`` (中类), ``C3911`` (小类). ``3911`` is accepted and normalised.
- region: six digits, e.g. ``320000`` (province), ``320100`` (city),
  ``320102`` (district). ``32`` and ``3201`` are accepted and normalised.
  Besides the official divisions, zhida knows two kinds of scope of its own
  (docs/regions.md): the whole country, ``000000`` (also written ``全国``), and
  the special zones (功能区, 特别合作区) of ``graph/data/region_zones.csv``,
  coded ``99`` + province + serial (``994401`` 深汕特别合作区), a range no
  official code uses.

Whether a code lies inside an area is answered once, by :meth:`RegionTree.scope`,
for the scalar engine, the columnar engine and the store alike.

Both trees are loaded lazily from ``graph/data`` and cached for the process.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from graph.errors import GraphError, UnknownCode

INDUSTRY_LEVELS = ("section", "division", "group", "class")  # 门类 大类 中类 小类
INDUSTRY_LEVEL_LABELS = ("门类", "大类", "中类", "小类")
REGION_LEVELS = ("province", "city", "district")
REGION_LEVEL_LABELS = ("省级", "地级", "县级")

NATIONAL = "000000"  # the whole country: zhida's convention, not a GB/T 2260 code
NATIONAL_NAME = "全国"
ZONE_PREFIX = "99"  # zhida's range for special zones: no province code starts with 9
ZONES_FILE = "region_zones.csv"

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
    level: int  # 0 province, 1 city, 2 district; 全国 -1; a zone one below the region administering it
    kind: str = "division"  # "division" (official), "national" (全国) or "zone" (功能区)

    @property
    def level_label(self) -> str:
        if self.kind == "national":
            return "全国"
        if self.kind == "zone":
            return "功能区"
        return REGION_LEVEL_LABELS[self.level]


@dataclass(frozen=True, slots=True)
class Zone:
    """A special zone (功能区, 特别合作区) and the official divisions it covers.

    ``covers``: county-level (or larger) divisions the zone covers whole: a firm
    registered in one of them is inside the zone. ``partly_covers``: divisions the zone
    covers only in part, as ``(code, the towns or streets covered)``; they are
    documentation only, never matched, since a firm's county code cannot tell which part
    it is in. ``registrable``: firms may be registered with the zone's own code (the
    zone keeps its own register, as Shenzhen does for 深汕特别合作区).
    """

    code: str
    name: str
    parent: str  # the official region administering the zone
    registrable: bool
    covers: tuple[str, ...]
    partly_covers: tuple[tuple[str, str], ...]
    source: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Everything inside an area: codes starting with one of ``prefixes``, or in ``codes``."""

    prefixes: tuple[str, ...]
    codes: frozenset[str]

    def contains(self, code: str) -> bool:
        return code in self.codes or code.startswith(self.prefixes)


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
    """Provinces, cities and districts, with lookups by code and by name; and 全国 and the
    special zones, which are scopes a policy may have but no part of the official tree
    (iterating the tree, ``children`` and ``city`` give official divisions only)."""

    def __init__(self, provinces, cities, areas, zones=()):
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
        self._extra: dict[str, Region] = {NATIONAL: Region(NATIONAL, NATIONAL_NAME, None, -1, "national")}
        self._zones: dict[str, Zone] = {}
        for row in zones:
            zone = self._zone(row)
            self._zones[zone.code] = zone
            level = self._by_code[zone.parent].level + 1
            self._extra[zone.code] = Region(zone.code, zone.name, zone.parent, level, "zone")
        self._scopes: dict[str, Scope] = {}

    def _zone(self, row: dict[str, str]) -> Zone:
        """One row of the zones file, checked against the official tree (errors name the row)."""
        col = lambda key: (row.get(key) or "").strip()  # a short row gives None
        code, name = col("code"), col("name")

        def bad(reason: str) -> GraphError:
            return GraphError(f"{ZONES_FILE} 中功能区 {code or '?'} {name}：{reason}")

        def official(c: str, what: str) -> str:
            c = c.strip()
            if not (c.isdigit() and len(c) == 6) or c not in self._by_code:
                raise bad(f"{what} {c!r} 不是现行的行政区划代码")
            return c

        parent = official(col("parent"), "管辖地区")
        if not (code.isdigit() and len(code) == 6 and code.startswith(ZONE_PREFIX + parent[:2])):
            raise bad(f"功能区代码应为 6 位数字：{ZONE_PREFIX} + 管辖省份代码 {parent[:2]} + 2 位序号")
        if code in self._zones:
            raise bad("代码重复")
        if not name:
            raise bad("缺少名称")
        registrable = {"true": True, "false": False}.get(col("registrable"))
        if registrable is None:
            raise bad("registrable 应为 true 或 false")
        covers = tuple(official(c, "覆盖的区划") for c in col("covers").split(";") if c.strip())
        partly = []
        for item in filter(str.strip, col("partly_covers").split(";")):
            c, _, towns = item.partition(":")
            if not towns.strip():
                raise bad(f"部分覆盖的区划 {item.strip()!r} 应写作 代码:乡镇（街道）")
            partly.append((official(c, "部分覆盖的区划"), towns.strip()))
        if len(set(covers)) != len(covers):
            raise bad("覆盖的区划有重复")
        for c in covers:
            if not c.startswith(self._prefix(parent)):  # zone ⊂ parent, so what it covers must be too
                raise bad(f"覆盖的区划 {c} 不在管辖地区 {parent} 之内")
            if any(c != o and (c.startswith(self._prefix(o)) or o.startswith(self._prefix(c))) for o in covers):
                raise bad(f"覆盖的区划 {c} 与另一项重叠")
            if c in dict(partly):
                raise bad(f"区划 {c} 不能既全部覆盖又部分覆盖")
        if not covers and not registrable:
            raise bad("既不覆盖任何完整区划，也不能作为注册地，无法匹配任何企业")
        source = col("source")
        if not source:
            raise bad("缺少来源（source）")
        return Zone(code, name, parent, registrable, covers, tuple(partly), source)

    def canonical(self, code: str) -> str:
        c = str(code).strip()
        if c == NATIONAL_NAME:
            return NATIONAL
        if not c.isdigit() or len(c) not in (2, 4, 6):
            raise UnknownCode("region", code, "行政区划代码应为 6 位数字（全国为 000000）")
        c = c.ljust(6, "0")
        if c in ABOLISHED_REGIONS:
            name, year, note = ABOLISHED_REGIONS[c]
            raise UnknownCode("region", code, f"{name}已于 {year} 年撤销（{note}），请使用现行区划代码")
        if c in self._by_code or c in self._extra:
            return c
        if c.startswith(ZONE_PREFIX):
            reason = f"不是现行的行政区划代码，也不是已登记的功能区代码（功能区见 graph/data/{ZONES_FILE}）"
            raise UnknownCode("region", code, reason)
        raise UnknownCode("region", code, "不是现行的行政区划代码")

    def get(self, code: str) -> Region:
        c = self.canonical(code)
        return self._by_code.get(c) or self._extra[c]

    def ancestors(self, code: str) -> list[Region]:
        """From the node itself up to its province (a zone: up through the region administering it)."""
        out = []
        node: Region | None = self.get(code)
        while node is not None:
            out.append(node)
            node = self._by_code[node.parent] if node.parent else None
        return out

    def children(self, code: str | None) -> list[Region]:
        """Official divisions directly below ``code`` (全国: the provinces; a zone: none)."""
        key = self.canonical(code) if code is not None else None
        return [self._by_code[c] for c in self._children.get(None if key == NATIONAL else key, [])]

    def zones(self) -> list[Zone]:
        """The special zones of ``graph/data/region_zones.csv``."""
        return list(self._zones.values())

    def zone(self, code: str) -> Zone | None:
        """The zone with this code, or None when ``code`` is an official division or 全国."""
        return self._zones.get(self.canonical(code))

    def by_name(self, name: str, within: str | None = None) -> list[Region]:
        """Regions with this name (鼓楼区 exists in several cities), optionally under ``within``.

        全国 and the zones are found by name too (``by_name("深汕特别合作区")``)."""
        name = name.strip()
        out = [r for r in (*self._by_code.values(), *self._extra.values()) if r.name == name]
        if within is not None:
            out = [r for r in out if self.is_within(r.code, within)]
        return out

    def city(self, name: str) -> Region:
        """The one city (地级) called ``name``, e.g. 南京市."""
        found = [r for r in self.by_name(name) if r.level == 1 and r.kind == "division"]
        if len(found) != 1:
            raise UnknownCode("region", name, "不是唯一的地级市名称" if found else "不是地级市名称")
        return found[0]

    def scope(self, area: str) -> Scope:
        """What lies inside ``area``: the one answer of the scalar and columnar engines.

        - 全国: every code.
        - an official division: the codes below it (by prefix: 4403 for 深圳市), and the
          zones administered from inside it (深汕特别合作区 for 深圳市 and 广东省).
        - a zone: its own code and the divisions it covers whole (雄安新区: 雄县, 容城县,
          安新县); divisions it covers only in part are not inside it.
        """
        a = self.canonical(area)
        found = self._scopes.get(a)
        if found is None:
            if a == NATIONAL:
                found = Scope(("",), frozenset())
            elif a in self._zones:
                prefixes = tuple(self._prefix(c) for c in self._zones[a].covers)
                found = Scope(prefixes, frozenset({a}))
            else:
                prefix = self._prefix(a)
                inner = {z.code for z in self._zones.values() if z.parent.startswith(prefix)}
                found = Scope((prefix,), frozenset(inner))
            self._scopes[a] = found
        return found

    def _prefix(self, code: str) -> str:
        """The prefix every official division inside ``code`` starts with (320100 → 3201)."""
        return code[: (2, 4, 6)[self._by_code[code].level]]

    def is_within(self, code: str, ancestor: str) -> bool:
        """True when ``code`` equals ``ancestor`` or lies inside it (a district in its city;
        anything in 全国; a covered district, or the zone itself, in a zone)."""
        return self.scope(ancestor).contains(self.canonical(code))

    def is_registration_level(self, code: str) -> bool:
        """Where an enterprise registers: a district or county, a city with no districts, or a
        zone that keeps its own register (registrable). Never 全国."""
        reg = self.get(code)
        if reg.kind == "zone":
            return self._zones[reg.code].registrable
        if reg.kind == "national":
            return False
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
        _read_csv(ZONES_FILE),
    )
