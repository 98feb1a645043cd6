"""Bank adapters: how decided payouts reach a bank, and how its answers come back.

A one-method-each interface (``submit``, ``results``) with two implementations:

- :class:`BatchFileBank` writes a payment file a bank can take (CSV, one line per
  transfer, keyed by our reference) into an outbox folder and reads the bank's
  result files from an inbox folder;
- :class:`SimulatedBank` for the demo and tests: it can fail transfers, time out
  on submission and answer twice, as real banks do.

Every transfer carries the reference ``zhida-<payout id>``; a bank pays a
reference at most once, so resubmitting after a crash is always safe.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path


class BankTimeout(Exception):
    """The bank did not acknowledge a submission; it may or may not have received it."""


@dataclass(frozen=True)
class Transfer:
    reference: str
    payee_uscc: str
    payee_name: str
    amount: Decimal
    memo: str


@dataclass(frozen=True)
class BankResult:
    reference: str
    status: str  # confirmed | failed
    reason: str = ""


FILE_COLUMNS = ["reference", "payee_uscc", "payee_name", "amount", "memo"]


class BatchFileBank:
    """Payment files out (``outbox/zhida-batch-N.csv``), result files in (``inbox/*.csv``)."""

    def __init__(self, outbox: Path, inbox: Path):
        self.outbox, self.inbox = Path(outbox), Path(inbox)
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.inbox.mkdir(parents=True, exist_ok=True)

    def submit(self, transfers: list[Transfer]) -> None:
        n = len(list(self.outbox.glob("zhida-batch-*.csv"))) + 1
        path = self.outbox / f"zhida-batch-{n:06d}.csv"
        tmp = path.with_suffix(".part")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(FILE_COLUMNS)
            for t in transfers:
                writer.writerow([t.reference, t.payee_uscc, t.payee_name, f"{t.amount:.2f}", t.memo])
        tmp.replace(path)  # the bank never sees a half-written file

    def results(self) -> list[BankResult]:
        out = []
        for path in sorted(self.inbox.glob("*.csv")):
            with open(path, encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    out.append(BankResult(row["reference"], row["status"], row.get("reason", "")))
            path.rename(path.with_suffix(".done"))
        return out


class SimulatedBank:
    """A bank that pays each reference once, and misbehaves on request (deterministic by seed)."""

    def __init__(self, fail_rate=0.0, timeout_rate=0.0, duplicate_rate=0.0, seed=0):
        self.fail_rate, self.timeout_rate, self.duplicate_rate = fail_rate, timeout_rate, duplicate_rate
        self.rng = random.Random(seed)
        self.paid: dict[str, Decimal] = {}  # reference -> amount actually transferred
        self.pending: list[BankResult] = []
        self.failed_once: set[str] = set()

    def submit(self, transfers: list[Transfer]) -> None:
        for t in transfers:
            if t.reference in self.paid:
                self.pending.append(BankResult(t.reference, "confirmed"))  # already paid: answer again
                continue
            if self.rng.random() < self.fail_rate and t.reference not in self.failed_once:
                self.failed_once.add(t.reference)
                self.pending.append(BankResult(t.reference, "failed", "收款账户状态异常"))
                continue
            self.paid[t.reference] = t.amount
            self.pending.append(BankResult(t.reference, "confirmed"))
            if self.rng.random() < self.duplicate_rate:
                self.pending.append(BankResult(t.reference, "confirmed"))
        if self.rng.random() < self.timeout_rate:
            raise BankTimeout("银行未在时限内确认接收")  # received, but the caller does not know

    def results(self) -> list[BankResult]:
        out, self.pending = self.pending, []
        return out
