"""Errors raised by the matcher package.

MatcherError
 ├── InvalidUSCC        a 统一社会信用代码 that fails GB 32100-2015
 ├── InvalidFieldValue  a value that does not fit its field in the catalog
 ├── SpecError          a policy spec that cannot be accepted (path + reason)
 └── RuleError          a rule that cannot be evaluated (path in the rule + reason)
"""

from __future__ import annotations


class MatcherError(Exception):
    """Root of every error the matcher package raises."""


class InvalidUSCC(MatcherError, ValueError):
    def __init__(self, code: object, reason: str):
        self.code = code
        self.reason = reason
        super().__init__(f"统一社会信用代码 {code!r} 无效：{reason}")


class InvalidFieldValue(MatcherError, ValueError):
    """``field`` got ``value``, which it cannot hold; ``reason`` says why, in Chinese."""

    def __init__(self, field: str, value: object, reason: str):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"字段 {field}：{reason}（值 {value!r}）")


class SpecError(MatcherError, ValueError):
    """A policy spec problem at ``path`` (e.g. ``conditions.and[2].>=[0]``)."""

    def __init__(self, path: str, reason: str, source: str | None = None):
        self.path = path
        self.reason = reason
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {reason}")


class RuleError(MatcherError, ValueError):
    """A rule that cannot be evaluated: ``path`` inside the rule and a Chinese reason."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"规则 {path}: {reason}")
