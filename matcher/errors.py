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


def render_path(path) -> str:
    """A rule path as text (``and[2].>=[0]``). The evaluators pass paths as ``(parent, piece)`` pairs, built
    for nothing on every node, and render one only for an error or an explanation."""
    if isinstance(path, str):
        return path
    pieces = []
    while isinstance(path, tuple):
        path, piece = path
        pieces.append(piece)
    out = path or ""
    for piece in reversed(pieces):
        out = f"{out}[{piece}]" if isinstance(piece, int) else (f"{out}.{piece}" if out else piece)
    return out


class RuleError(MatcherError, ValueError):
    """A rule that cannot be evaluated: ``path`` inside the rule and a Chinese reason."""

    def __init__(self, path, reason: str):
        path = render_path(path)
        self.path = path
        self.reason = reason
        super().__init__(f"规则 {path}: {reason}")
