"""Every stored enterprise's rule outcome for every published policy of a day, decided in one columnar pass.

A match list shows a page of ten, but its counts by decision and its ``decision`` filter need the outcome of
every candidate; deciding forty policies one by one per request is most of a request's time. The register is
decided once per serving snapshot instead, column-wise (:func:`matcher.columnar.sweep`, the sweep's own
path, whose answers are exactly :func:`matcher.decision.decide`'s), on the same two views of the facts that
``service.subjects`` reads: the verified facts for a 免申即享 measure, the facts that count (verified beats
declared) for the others.

An answer is used only for a firm whose facts are still the ones decided on: each row keeps a digest of its
facts' canonical text, and :meth:`RegisterOutcomes.of` compares it with the digest of the facts the request
has just read. A firm that declared something since, a roster published since, a register entry changed:
the digests differ and the request decides that firm's candidates itself. No second copy of any rule: the
outcome is the engine's, only computed earlier.

A supplement (配套) is decided with its parent (:func:`matcher.settlement.decide_unit`), per request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from matcher import catalog
from matcher.columnar import FALSE, TRUE, sweep

LABELS = {TRUE: "eligible", FALSE: "not_eligible"}  # anything else: undetermined


def facts_digest(cells: dict[str, str]) -> str:
    """A digest of facts as canonical text (name → text; missing facts left out, derived ones and the code the
    firm is looked up by ignored)."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(cells):
        f = catalog.FIELDS.get(name)
        if f is None or f.derived or f.type == "uscc" or cells[name] == "":  # the row is found by its uscc
            continue
        h.update(name.encode())
        h.update(b"\x1f")
        h.update(cells[name].encode())
        h.update(b"\x1e")
    return h.hexdigest()


def subject_digest(facts: dict) -> str:
    """:func:`facts_digest` of typed facts (a subject's, as ``service.subjects`` reads them)."""
    return facts_digest(
        {n: catalog.format_value(n, v) for n, v in facts.items() if v is not None and n in catalog.FIELDS}
    )


@dataclass
class RegisterOutcomes:
    day: dt.date
    rows: dict[str, int] = field(repr=False)  # uscc -> row
    digests: list[tuple[str, str]] = field(repr=False)  # row -> (facts that count, verified facts)
    by_policy: dict[str, np.ndarray] = field(repr=False)  # policy id -> outcome code per row (int8)
    seconds: float = 0.0

    def of(self, subject) -> dict[str, str] | None:
        """The stored subject's outcome per policy id, when its facts are the ones decided on; else None."""
        row = self.rows.get(subject.uscc) if subject.in_store else None
        if row is None:
            return None
        if self.digests[row] != (subject_digest(subject.facts), subject_digest(subject.verified)):
            return None
        return {slug: LABELS.get(int(codes[row]), "undetermined") for slug, codes in self.by_policy.items()}


def decide_register(engine, specs: dict, day: dt.date, progress=None) -> RegisterOutcomes:
    """Every stored firm × every policy of ``specs`` (id → spec) but supplements, decided as of ``day``."""
    from service.ledger.sweeps import read_register, verified_table

    say = progress or (lambda text: None)
    started = time.perf_counter()
    stored = read_register(engine)
    counting, _ = verified_table(engine, day, stored, verified_only=False)
    verified, _ = verified_table(engine, day, stored)
    ents = stored[1]
    rows = {e.uscc: i for i, e in enumerate(ents)}
    digests = [(facts_digest(counting.cells(i)), facts_digest(verified.cells(i))) for i in range(len(ents))]
    by_policy = {}
    slugs = [s for s, spec in specs.items() if not (spec.supplement_of and spec.supplement_of in specs)]
    for k, slug in enumerate(slugs, 1):
        spec = specs[slug]
        by_policy[slug] = sweep(spec, verified if spec.mode == "automatic" else counting).outcome.astype(np.int8)
        if k % 20 == 0 or k == len(slugs):
            say(f"规则判定：{k}/{len(slugs)} 项政策 × {len(ents):,} 家企业")
    counting.clear_caches()
    verified.clear_caches()
    return RegisterOutcomes(day, rows, digests, by_policy, time.perf_counter() - started)
