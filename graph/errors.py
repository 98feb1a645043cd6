"""Errors raised by the graph package.

GraphError
 └── UnknownCode   an industry or region code that is not in the shipped classification
"""


class GraphError(Exception):
    """Root of every error the graph package raises."""


class UnknownCode(GraphError, ValueError):
    """A code that the official classification does not contain (or no longer contains)."""

    def __init__(self, kind: str, code: object, reason: str):
        self.kind = kind
        self.code = code
        self.reason = reason
        label = {"industry": "行业代码", "region": "行政区划代码"}.get(kind, kind)
        super().__init__(f"{label} {code!r}: {reason}")
