"""The policy tagger with the store: its training data (files, shipped measures, officers' corrections),
its saved versions, tagging stored policies, and an analyst's correction with its audit record.

An officer's correction of a stored policy's topic is the training data the next ``zhida tag train``
learns from: the policy's current text with that one label (the other topics stay unknown for it), and
for a shipped measure it overrides the label of ``models/data/policy_measure_labels.jsonl``.
Stored policies get the model's topics and the dictionary's qualification, industry and scale mentions
(source ``model``, with the version), and their spec's mode, benefit type and region (source ``rule``):
the region a spec states is the policy's scope, so regions a text merely names are not stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from models import policy_data as data
from models import policy_tagger as pt
from models.policy_data import TOPIC_CODES, Example
from service.store.models import Policy, PolicyTag, PolicyVersion, Tag

STORED_TARGET_KINDS = ("qualification", "industry", "scale")


def shipped_specs() -> dict[str, dict]:
    """The real measures shipped in ``matcher/policies`` as spec JSON, by id."""
    from importlib import resources

    from matcher.spec import load_specs

    specs, _ = load_specs(Path(str(resources.files("matcher").joinpath("policies"))))
    return {s.id: s.to_json() for s in specs}


def _current_versions(conn, slugs=None) -> list[tuple[int, str, dict]]:
    """(policy row id, slug, spec) of each policy's current version."""
    stmt = (
        select(Policy.id, Policy.slug, PolicyVersion.spec)
        .join(PolicyVersion, (PolicyVersion.policy_id == Policy.id) & (PolicyVersion.version == Policy.current_version))
        .order_by(Policy.id)
    )
    if slugs is not None:
        stmt = stmt.where(Policy.slug.in_(list(slugs)))
    return [(pid, slug, spec) for pid, slug, spec in conn.execute(stmt)]


def officer_topic_labels(engine: Engine) -> dict[str, tuple[dict, dict[str, bool]]]:
    """``{slug: (current spec, {topic: present})}`` of every stored policy an officer corrected a topic of."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(PolicyTag.policy_id, Tag.code, PolicyTag.present)
            .join(Tag, Tag.id == PolicyTag.tag_id)
            .where(PolicyTag.source == "officer", Tag.kind == "topic")
        ).all()
        by_policy: dict[int, dict[str, bool]] = {}
        for pid, code, present in rows:
            if code in TOPIC_CODES:
                by_policy.setdefault(pid, {})[code] = bool(present)
        if not by_policy:
            return {}
        specs = {
            pid: (slug, spec)
            for pid, slug, spec in _current_versions(conn)
            if pid in by_policy  # a policy with no current version has no text to learn from
        }
    return {slug: (spec, by_policy[pid]) for pid, (slug, spec) in specs.items()}


@dataclass
class TrainingSet:
    examples: list[Example]
    corrections_applied: int  # silver labels of the corpus changed by policy_corpus_corrections.jsonl
    officer_labels: int  # topic labels taken from officers' corrections in the store

    def summary(self) -> str:
        by = {s: sum(e.source == s for e in self.examples) for s in ("beijing", "shenzhen", "measure", "store")}
        return (
            f"训练数据 {len(self.examples)} 篇（北京卡片 {by['beijing']}、深圳文件 {by['shenzhen']}、"
            f"真实措施 {by['measure']}、库中更正 {by['store']}），更正银标签 {self.corrections_applied} 处，"
            f"采用人工更正 {self.officer_labels} 条"
        )


def training_set(engine: Engine | None = None) -> TrainingSet:
    """Everything the tagger trains on: the corrected Beijing cards, the Shenzhen documents, the labelled
    shipped measures, and (with a store) the officers' topic corrections of stored policies."""
    examples = data.corpus(corrected=True) + data.shenzhen() + data.measures(shipped_specs())
    officer = officer_topic_labels(engine) if engine is not None else {}
    by_id = {e.id: e for e in examples}
    used = 0
    for slug, (spec, labels) in sorted(officer.items()):
        used += len(labels)
        if slug in by_id and by_id[slug].source == "measure":
            by_id[slug].labels.update(labels)  # the officer's word over the file's
            continue
        title, text = data.spec_text(spec)
        examples.append(Example(slug, title, text, "store", "库中政策", dict(labels)))
    return TrainingSet(examples, len(data.corrections()), used)


def train(engine: Engine | None, folder: Path, params=None) -> tuple[pt.PolicyTagger, TrainingSet, Path]:
    """Train, save as ``policy-tagger-<version>.joblib`` in ``folder`` and make it the one in use."""
    ts = training_set(engine)
    tagger = pt.fit(ts.examples, params)
    return tagger, ts, pt.save(tagger, folder)


def load_or_train(
    folder: Path, version: str | None = None, engine: Engine | None = None, say: Callable[[str], None] = print
) -> pt.PolicyTagger:
    """The saved tagger (``version``, or the one in use); none saved yet: train one first, and say so."""
    try:
        return pt.load(folder, version)
    except FileNotFoundError:
        if version is not None:
            raise FileNotFoundError(f"{folder} 中没有政策标注模型 {version}") from None
    say(f"{folder} 中还没有政策标注模型，先训练一个（约需十秒）……")
    tagger, ts, path = train(engine, folder)
    say(f"{ts.summary()}；已保存 {path}")
    return tagger


# -- stored policies ----------------------------------------------------------------------------------------------


def rule_tags(spec: dict, ids: dict[str, int]) -> list[str]:
    """What a spec states: its handling mode, benefit type and region (when the taxonomy has them)."""
    out = []
    for kind, value in (
        ("mode", spec.get("mode")),
        ("benefit", spec.get("benefit_type")),
        ("region", spec.get("region")),
    ):
        if value and f"{kind}:{value}" in ids:
            out.append(f"{kind}:{value}")
    return out


@dataclass
class StoredReport:
    policies: int
    topics: int
    targets: int
    rules: int
    version: str

    def line(self) -> str:
        return (
            f"已标注 {self.policies} 项政策：主题标签 {self.topics} 个、文本提及的目标标签 {self.targets} 个、"
            f"规则标签 {self.rules} 个（模型 {self.version}）"
        )


def tag_stored(
    engine: Engine, tagger: pt.PolicyTagger, taxonomy: dict, progress: Callable[[int, int], None] | None = None
) -> StoredReport:
    """Tag every stored policy's current version and save the tags (the model's and the spec's rules),
    replacing what the model and the rules said before; officers' corrections stay and still win."""
    from service.store import tags as stored

    with engine.connect() as conn:
        policies = _current_versions(conn)
    docs = [data.spec_text(spec) for _, _, spec in policies]
    results = []
    for start in range(0, len(docs), 200):
        results.extend(tagger.tag(docs[start : start + 200], taxonomy))
        if progress:
            progress(min(start + 200, len(docs)), len(docs))
    model_tags: dict[int, list] = {}
    rules: dict[int, list] = {}
    n_topics = n_targets = n_rules = 0
    with engine.begin() as conn:
        ids = stored.sync(conn, taxonomy)
        for (pid, _slug, spec), result in zip(policies, results):
            topics = [(t, result["scores"][t]) for t in result["topics"]]
            targets = [m["tag"] for m in result["targets"] if m["tag"].split(":", 1)[0] in STORED_TARGET_KINDS]
            model_tags[pid] = topics + [t for t in targets if t in ids]
            rules[pid] = rule_tags(spec, ids)
            n_topics += len(topics)
            n_targets += len(model_tags[pid]) - len(topics)
            n_rules += len(rules[pid])
        if model_tags:
            stored.assign(conn, "policy", "model", model_tags, model_version=tagger.version, ids=ids)
            stored.assign(conn, "policy", "rule", rules, ids=ids)
    return StoredReport(len(policies), n_topics, n_targets, n_rules, tagger.version)


class UnknownPolicy(LookupError):
    pass


def topic_tag(name: str) -> str:
    """A topic given as ``topic:digital``, ``digital`` or 数字化转型, as its tag id (ValueError if none)."""
    code = name.split(":", 1)[1] if name.startswith("topic:") else name
    return "topic:" + data.topic_code(code, "主题")


def correct(engine: Engine, slug: str, topic: str, present: bool, by: str, reason: str) -> str:
    """An analyst's word on one topic of a stored policy, with its audit record, in one transaction.
    It wins over the model at once (``service.store.tags.effective``) and trains the next model."""
    from service import audit
    from service.store import session_scope
    from service.store import tags as stored

    tag = topic_tag(topic)
    if not by or not by.strip():
        raise ValueError("更正须写明更正人（--by）")
    with session_scope(engine) as session:
        pid = session.scalar(select(Policy.id).where(Policy.slug == slug))
        if pid is None:
            raise UnknownPolicy(f"库中没有政策 {slug}")
        stored.correct(session.connection(), "policy", pid, tag, present, by=by.strip(), reason=reason)
        audit.append(
            session, by.strip(), "tag.correct", f"policy:{slug}", {"tag": tag, "present": present, "reason": reason}
        )
    return tag
