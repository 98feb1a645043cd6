"""Column types. Money is exact on every backend.

PostgreSQL keeps money in ``NUMERIC(18,2)``. SQLite has no exact decimal type
(a NUMERIC column holds a float), so there money is stored as an integer
number of 分: sums, budget conditions and CHECK constraints evaluated by the
database stay exact. Either way the application sees ``Decimal`` yuan with two
places.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger, Numeric
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


class Money(TypeDecorator):
    impl = Numeric(18, 2, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        if d != d.quantize(CENT):
            raise ValueError(f"金额最多两位小数：{value}")
        if dialect.name == "sqlite":
            return int(d.quantize(CENT) * 100)
        return d.quantize(CENT)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(CENT)
        return Decimal(value).quantize(CENT)
