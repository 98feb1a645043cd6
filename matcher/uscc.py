"""统一社会信用代码 (unified social credit code) per GB 32100-2015.

18 characters: registration authority (1), organisation type (1), the
administrative division of registration (6), the organisation code of
GB 11714 (9, with its own check character) and the check character (1)
computed over the first 17 with weights 3^i mod 31.
"""

from __future__ import annotations

from matcher.errors import InvalidUSCC

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_VALUE = {c: i for i, c in enumerate(CHARSET)}
WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 1, 3, 9, 27, 19, 26, ...
# Registration authority -> allowed organisation types (GB 32100-2015 附录).
AUTHORITIES = {
    "1": "1239",  # 机构编制
    "2": "19",  # 外交
    "3": "19",  # 司法行政
    "4": "19",  # 文化
    "5": "1239",  # 民政
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 市场监管 (工商): 1 企业, 2 个体工商户, 3 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业
    "Y": "1",  # 其他
}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def check_char(body17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(_VALUE[c] * w for c, w in zip(body17, WEIGHTS))
    return CHARSET[(31 - total % 31) % 31]


def org_check_char(body8: str) -> str:
    """The GB 11714 check character of an organisation code's first 8 characters."""
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORG_WEIGHTS))
    r = 11 - total % 11
    return {10: "X", 11: "0"}.get(r, str(r))


def validate(code: object) -> str:
    """Return the code (stripped, upper-case) or raise :class:`InvalidUSCC` saying why."""
    if not isinstance(code, str):
        raise InvalidUSCC(code, "统一社会信用代码应为字符串")
    c = code.strip().upper()
    if len(c) != 18:
        raise InvalidUSCC(code, f"应为 18 位，实际 {len(c)} 位")
    bad = [ch for ch in c if ch not in _VALUE]
    if bad:
        raise InvalidUSCC(code, f"含有不允许的字符 {''.join(dict.fromkeys(bad))!r}（不使用 I、O、S、V、Z）")
    if c[0] not in AUTHORITIES:
        raise InvalidUSCC(code, f"第 1 位登记管理部门代码 {c[0]!r} 不存在")
    if c[1] not in AUTHORITIES[c[0]]:
        raise InvalidUSCC(code, f"第 2 位机构类别代码 {c[1]!r} 与登记管理部门 {c[0]!r} 不符")
    if not c[2:8].isdigit():
        raise InvalidUSCC(code, "第 3–8 位应为行政区划代码（6 位数字）")
    expected = check_char(c[:17])
    if c[17] != expected:
        raise InvalidUSCC(code, f"校验位错误：第 18 位应为 {expected!r}，实际为 {c[17]!r}")
    return c


def is_valid(code: object) -> bool:
    try:
        validate(code)
    except InvalidUSCC:
        return False
    return True


def make(region_code: str, serial: int, authority: str = "9", org_type: str = "1") -> str:
    """Build a valid code for a region and a serial number (for synthetic data and tests)."""
    if not 0 <= serial < 31**8:
        raise ValueError(f"serial {serial} out of range for an organisation code")
    body = ""
    for _ in range(8):  # base-31 over the allowed charset
        serial, digit = divmod(serial, 31)
        body = CHARSET[digit] + body
    first17 = authority + org_type + region_code + body + org_check_char(body)
    return first17 + check_char(first17)
