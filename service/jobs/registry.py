"""The job kinds a worker can run: a name, a function, a Chinese label and how many runs a job may take.

A kind's function is ``run(engine, params, progress) -> dict | None``:

- ``params`` is the job's parameters as stored: ids and plain values (text, numbers, booleans), never data;
- ``progress(text, fraction=None)`` reports a step in Chinese (and, when it can tell, how much is done, 0–1);
  it also tells the worker the job is alive, and raises :class:`Lost` when the job is no longer this
  worker's to finish (it was presumed dead and given to another), so the function stops at its next step;
- what it returns (JSON-able) is the job's ``result``; an exception is its failure: a
  :class:`~service.errors.ServiceError` (or the decision core's, the graph's, the models' own errors) carries
  the Chinese reason and is final; any other exception is recorded with its type and the worker's log.

**Every kind must be safe to run again.** A job whose worker died half-way is queued again and run from the
start (up to ``max_attempts`` runs in all): a sweep pays nobody twice because the ledger holds one grant per
measure, enterprise and period; a graph is written whole or not at all; training registers a version once.

The kinds are named here by ``"module:function"`` and imported only when a job of theirs runs (a worker
that runs sweeps does not load LightGBM). To add one — as the 政策包 ``bundles`` kind was:

1. write ``run_bundles(engine, params, progress)`` at module level in its own module (``service.push.jobs``);
2. add a line to :data:`BUILTIN`: ``"bundles": Kind("bundles", "service.push.jobs:run_bundles", "政策包推送")``;
3. enqueue it with :func:`service.jobs.queue.enqueue` (``kind="bundles"``, ids in ``params``).

A scheduler entry whose kind is not in :data:`BUILTIN` logs that the kind is not registered and skips.
:func:`register` adds a kind at run time (tests, a plug-in imported by the worker's process).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

MAX_ATTEMPTS = 3


class Lost(BaseException):
    """The job was presumed dead and is no longer this worker's: stop without recording an outcome.

    A ``BaseException``, so that a kind's own ``except Exception`` does not swallow it."""


@dataclass(frozen=True)
class Kind:
    name: str
    target: str | Callable  # "module:function", or the function itself
    label: str  # Chinese, for lists and logs
    max_attempts: int = MAX_ATTEMPTS
    on_give_up: str | Callable | None = None  # (session, params, reason): the last run died, the job is failed

    def function(self) -> Callable:
        return _resolve(self.target)

    def give_up_hook(self) -> Callable | None:
        return None if self.on_give_up is None else _resolve(self.on_give_up)


BUILTIN: dict[str, Kind] = {
    "sweep": Kind("sweep", "service.jobs.kinds:run_sweep_job", "免申即享扫描"),
    "graph_rebuild": Kind("graph_rebuild", "service.jobs.kinds:run_graph_job", "知识图谱构建与更新"),
    "training": Kind(
        "training",
        "service.jobs.training:run_training_job",
        "排序模型训练",
        on_give_up="service.jobs.training:give_up",
    ),
    "bundles": Kind("bundles", "service.push.jobs:run_bundles", "政策包推送"),
    "deliveries": Kind("deliveries", "service.push.jobs:run_deliveries", "政策包投递与重试"),
    "policy_published": Kind("policy_published", "service.push.jobs:run_policy_published", "新发布政策推送"),
}
_added: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add (or replace) a kind at run time, for this process."""
    _added[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _added.pop(name, None)


def kinds() -> dict[str, Kind]:
    """Every kind this process knows, by name."""
    return {**BUILTIN, **_added}


def known(name: str) -> bool:
    return name in kinds()


def get(name: str) -> Kind | None:
    return kinds().get(name)


def label(name: str) -> str:
    kind = get(name)
    return kind.label if kind else name


def _resolve(target: str | Callable) -> Callable:
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
