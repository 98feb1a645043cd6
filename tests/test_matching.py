"""The match list and the self-test (issue 14): ranked by the serving scorer, decided by the decision core on
the facts of the day, explained, filtered and paged with a cursor that never repeats or skips; a profile that
is not stored is decided as the stored firm with the same facts; and nothing is ever written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select

from matcher import catalog
from matcher import uscc as uscc_codes
from matcher.decision import decide
from matcher.progress import progress_columns
from models.features import FEATURES
from service import knowledge
from service import serving as serving_mod
from service.errors import BadRequest, NotFound, Unprocessable
from service.ledger.facts import decide_stored
from service.ledger.sweeps import verified_table
from service.matching import guest_of, match_profile, matches
from service.ranking import feature_matrix, guest_features, guest_history, rank, rows_by_uscc, serving_time
from service.selftest import self_test
from service.store import session_scope
from service.store.models import Base
from service.subjects import stored_subject
from service.synth.params import REFERENCE_DATE

DAY = REFERENCE_DATE
NOBODY = uscc_codes.make("320114", 999_999)  # a valid code the register does not hold
UNTIL = REFERENCE_DATE.replace(month=5, day=1)


@pytest.fixture
def served(city):
    """The imported 300-firm city, its graph and the serving snapshot of the reference day (no model promoted)."""
    kg = knowledge.build(city, DAY)
    return city, serving_mod.build(city, kg, DAY)


def row_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def firms_with_candidates(serving, n: int) -> list[str]:
    found = sorted(u for u, (policies, _) in serving.ranked.items() if len(policies) >= 8)
    return found[:: max(1, len(found) // n)][:n]


def as_profile(facts: dict) -> dict:
    """Typed facts as a caller sends them: the catalog's canonical text."""
    return {name: catalog.format_value(name, v) for name, v in facts.items() if v is not None}


# -- the stored path ------------------------------------------------------------------------------------------


def test_matches_are_ordered_by_the_scorer_and_decided_by_the_decision_core(served, tmp_path):
    engine, serving = served
    assert serving.scorer.name == "eligible_by_amount" and "没有在用的排序模型" in serving.scorer.warning
    rank(engine, serving.kg, DAY, tmp_path / "all.csv")  # zhida rank --all: the same queries, the same scorer
    ranked_csv = {}
    with open(tmp_path / "all.csv", encoding="utf-8") as fh:
        for line in list(fh)[1:]:
            u, p, s, _ = line.strip().split(",")
            ranked_csv[(u, p)] = float(s)
    table, ids = verified_table(engine, DAY)  # what a 免申即享 sweep decides on
    row_of = rows_by_uscc(engine, ids)
    seen_modes, seen_outcomes, estimates = set(), set(), 0
    for uscc in firms_with_candidates(serving, 12):
        page = matches(serving, engine, uscc, limit=100)
        assert page.subject == {"kind": "enterprise", "uscc": uscc, "name": page.subject["name"]}
        assert page.scorer["name"] == "eligible_by_amount" and page.scorer["warning"]
        assert page.total == len(page.items) == len(serving.ranking(uscc)[0]) and page.next_cursor is None
        keys = [(-i.score, i.policy_id) for i in page.items]
        assert keys == sorted(keys) and [i.position for i in page.items] == list(range(1, page.total + 1))
        for it in page.items:
            assert it.score == pytest.approx(ranked_csv[(uscc, it.policy_id)], abs=1e-6)
            spec = serving.specs[it.policy_id]
            seen_modes.add(spec.mode)
            seen_outcomes.add(it.decision)
            if spec.mode == "automatic":  # verified facts only, as the sweep that pays it
                i = row_of[uscc]
                want = decide(spec, table.facts(i), DAY)
                assert progress_columns(spec, table)["outcome"][i] == {"eligible": 1, "not_eligible": 0}.get(
                    it.decision, -1
                )
            else:  # the facts that count for an application: verified beats declared
                with session_scope(engine) as session:
                    want, _ = decide_stored(session, uscc, it.policy_id, DAY)
            assert it.decision == want.outcome and it.trace == [leaf.sentence for leaf in want.trace]
            assert it.missing == list(want.missing) and it.missing_labels == want.missing_labels
            if it.decision == "eligible":
                assert it.amount == f"{want.amount:.2f}" and it.amount_basis == "decided"
                assert it.amount_steps == [s.sentence for s in want.steps]
            elif it.amount is not None:
                assert it.amount_basis == "estimate" and Decimal(it.amount) >= 0
                estimates += 1
            assert it.policy["mode_label"] in ("免申即享", "即申即办", "审核")
            assert spec.valid_from.isoformat() <= DAY.isoformat() <= it.policy["valid_to"]
            assert it.policy["deadline"] <= it.policy["valid_to"] and it.policy["days_left"] >= 0
            assert it.graph["sentence"].endswith("。") and it.graph["paths"][0]["nodes"][0] == f"enterprise:{uscc}"
    assert seen_modes == {"automatic", "instant", "review"} and seen_outcomes == {
        "eligible",
        "not_eligible",
        "undetermined",
    }
    assert estimates > 0


def test_a_declared_fact_counts_for_an_application_but_not_for_a_sweep(served):
    from service.store.models import Enterprise, FieldValue

    engine, serving = served
    uscc = next(
        u for u in firms_with_candidates(serving, 12) if "rd_expense" not in stored_subject(engine, u, DAY).facts
    )
    with session_scope(engine) as session:
        ent = session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
        session.add(FieldValue(enterprise_id=ent.id, field="rd_expense", value="99000000.00", source="declared",
                               as_of=DAY, recorded_at=dt.datetime.now(dt.UTC)))  # fmt: skip
    subject = stored_subject(engine, uscc, DAY)
    assert subject.facts["rd_expense"] == Decimal("99000000.00") and subject.sources["rd_expense"] == "declared"
    assert "rd_expense" not in subject.verified
    automatic = next(s for s in serving.specs.values() if s.mode == "automatic")
    instant = next(s for s in serving.specs.values() if s.mode != "automatic")
    assert subject.facts_for(automatic)[0] is subject.verified and subject.facts_for(instant)[0] is subject.facts


def test_the_snapshot_decides_the_register_as_the_engine_does_one_firm_at_a_time(served):
    """Every stored firm's outcome in the snapshot (one columnar pass) is the engine's decision on the facts a
    request reads; a firm that declares something since is decided on its new facts, not the snapshot's."""
    from service.matching import decide_all, outcomes_of
    from service.store.models import Enterprise, FieldValue

    engine, serving = served
    register = serving.outcomes
    assert len(register.rows) == 300 and register.by_policy
    seen = set()
    for uscc in sorted(register.rows):
        subject = stored_subject(engine, uscc, DAY)
        known = register.of(subject)
        assert known is not None, f"{uscc}: the snapshot's facts differ from the request's"
        slugs = list(serving.ranking(uscc)[0]) if serving.ranking(uscc) else []
        slugs += [s for s in sorted(serving.specs) if s in known][:12]  # and policies it is no candidate for
        one_by_one = decide_all(subject, slugs, serving.specs, DAY)
        for slug in slugs:
            if slug in known:
                assert known[slug] == one_by_one[slug].outcome, (uscc, slug)
                seen.add(known[slug])
    assert seen == {"eligible", "not_eligible", "undetermined"}

    uscc = next(
        u for u in firms_with_candidates(serving, 12) if "rd_expense" not in stored_subject(engine, u, DAY).facts
    )
    made = []

    def encode(page):
        made.append(page)
        return json.dumps(page.to_json(), ensure_ascii=False).encode()

    before = matches(serving, engine, uscc, limit=100, encode=encode)
    assert matches(serving, engine, uscc, limit=100, encode=encode) is before  # the same facts and query: kept
    assert len(made) == 1 and json.loads(before) == matches(serving, engine, uscc, limit=100).to_json()
    assert matches(serving, engine, uscc, limit=5, encode=encode) is not before and len(made) == 2
    with session_scope(engine) as session:
        ent = session.scalar(select(Enterprise).where(Enterprise.uscc == uscc))
        session.add(FieldValue(enterprise_id=ent.id, field="rd_expense", value="99000000.00", source="declared",
                               as_of=DAY, recorded_at=dt.datetime.now(dt.UTC)))  # fmt: skip
    subject = stored_subject(engine, uscc, DAY)
    assert register.of(subject) is None  # its facts changed: decided now, and its kept page is not served
    slugs = list(serving.ranking(uscc)[0])
    outcomes, decided = outcomes_of(serving, subject, slugs)
    assert set(decided) == set(slugs)
    assert outcomes == {s: d.outcome for s, d in decide_all(subject, slugs, serving.specs, DAY).items()}
    assert matches(serving, engine, uscc, limit=100, encode=encode) is not before and len(made) == 3
    assert {i.policy_id: i.decision for i in made[-1].items} == outcomes


def test_filters_pages_and_cursors(served):
    engine, serving = served
    uscc = max(serving.ranked, key=lambda u: (len(serving.ranked[u][0]), u))
    everything = matches(serving, engine, uscc, limit=100)
    order = [i.policy_id for i in everything.items]
    assert len(order) >= 10 and sum(everything.decisions.values()) == everything.total

    for limit in (1, 3, 7):
        got, cursor, pages = [], None, 0
        while True:
            page = matches(serving, engine, uscc, limit=limit, cursor=cursor)
            assert len(page.items) <= limit and page.total == len(order)
            got += [i.policy_id for i in page.items]
            assert [i.position for i in page.items] == list(range(len(got) - len(page.items) + 1, len(got) + 1))
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert got == order and pages == -(-len(order) // limit)  # no duplicate, no gap, same order

    for outcome, n in everything.decisions.items():
        page = matches(serving, engine, uscc, decision=outcome, limit=100)
        assert page.total == n and all(i.decision == outcome for i in page.items)
        assert [i.policy_id for i in page.items] == [p for p in order if p in {i.policy_id for i in page.items}]
    both = matches(serving, engine, uscc, decision="eligible,undetermined", limit=100)
    assert both.total == everything.decisions["eligible"] + everything.decisions["undetermined"]
    by_label = matches(serving, engine, uscc, mode="免申即享", limit=100)
    assert by_label.filters == {"mode": ["automatic"]}
    assert {i.policy["mode"] for i in by_label.items} <= {"automatic"}
    assert by_label.total == sum(1 for p in order if serving.specs[p].mode == "automatic")
    spec = serving.specs[order[0]]
    for name, value, test in (
        ("benefit_type", spec.benefit_type, lambda s: s.benefit_type == spec.benefit_type),
        ("department", spec.department, lambda s: s.department == spec.department),
        ("topic", spec.topics[0], lambda s: spec.topics[0] in s.topics),
    ):
        page = matches(serving, engine, uscc, limit=100, **{name: value})
        assert [i.policy_id for i in page.items] == [p for p in order if test(serving.specs[p])], name
        assert page.total >= 1

    paged = matches(serving, engine, uscc, decision="not_eligible", limit=2)
    for name, value, words in (
        ("decision", "maybe", "参数 decision 的值 'maybe' 无效"),
        ("mode", "fast", "参数 mode"),
        ("benefit_type", "gift", "参数 benefit_type"),
        ("topic", "不存在的主题", "不是已知的政策主题"),
        ("department", "不存在的局", "不是已知的发布部门"),
        ("limit", 0, "参数 limit 应为 1 到 100 之间的整数"),
        ("limit", 101, "参数 limit"),
        ("limit", "abc", "参数 limit"),
        ("limit", True, "参数 limit"),
        ("decision", 3, "参数 decision"),
    ):
        with pytest.raises(BadRequest, match=words) as e:
            matches(serving, engine, uscc, **{name: value})
        assert e.value.extra["field"] == name
    cursor = paged.next_cursor
    assert cursor is not None
    body, mac = cursor.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for bad in ("abc", "", "x.y", forged, cursor + "x", cursor.replace(".", "..")):
        with pytest.raises(BadRequest, match="cursor 无效") as e:
            matches(serving, engine, uscc, decision="not_eligible", cursor=bad)
        assert e.value.extra["field"] == "cursor"
    with pytest.raises(BadRequest, match="cursor 属于另一次查询"):
        matches(serving, engine, uscc, decision="eligible", cursor=cursor)
    other = next(u for u in serving.ranked if u != uscc)
    with pytest.raises(BadRequest, match="cursor 属于另一次查询"):
        matches(serving, engine, other, decision="not_eligible", cursor=cursor)
    tomorrow = dataclasses.replace(serving, day=DAY + dt.timedelta(days=1))
    with pytest.raises(BadRequest, match="排序已更新"):
        matches(tomorrow, engine, uscc, decision="not_eligible", cursor=cursor)
    with pytest.raises(BadRequest, match="cursor 无效"):
        matches(serving, engine, uscc, decision="not_eligible", cursor=cursor, secret="another key")

    with pytest.raises(NotFound, match=f"企业 {NOBODY} 不存在") as e:
        matches(serving, engine, NOBODY)
    assert e.value.extra["field"] == "uscc"
    with pytest.raises(BadRequest) as e:
        matches(serving, engine, "not-a-code")
    assert e.value.extra["field"] == "uscc"


# -- a profile that is not stored -------------------------------------------------------------------------------


def test_a_profile_is_decided_as_the_stored_firm_with_the_same_facts(served, caplog):
    engine, serving = served
    caplog.set_level(logging.DEBUG)
    compared = 0
    for uscc in firms_with_candidates(serving, 20):
        subject = stored_subject(engine, uscc, DAY)
        if subject.facts != subject.verified:  # a declared fact: the two paths read different facts by design
            continue
        stored = matches(serving, engine, uscc, limit=100)
        mine = match_profile(serving, as_profile(subject.verified), limit=100)
        assert mine.subject == {"kind": "profile"}
        assert {i.policy_id for i in mine.items} == {i.policy_id for i in stored.items}  # the same candidates
        theirs = {i.policy_id: i for i in stored.items}
        for it in mine.items:
            other = theirs[it.policy_id]
            assert (it.decision, it.trace, it.missing, it.amount, it.amount_basis, it.amount_steps) == (
                other.decision,
                other.trace,
                other.missing,
                other.amount,
                other.amount_basis,
                other.amount_steps,
            )
        compared += 1
    assert compared >= 5
    assert not [r for r in caplog.records if r.name.split(".")[0] in ("service", "matcher", "graph", "models")]

    base = {"region": "320114", "industry": "C3911", "established_on": "2018-05-01"}
    page = match_profile(serving, {**base, "employees": 45, "revenue": "32000000"}, mode="instant", limit=5)
    assert page.total >= 1 and len(page.items) <= 5 and {i.policy["mode"] for i in page.items} == {"instant"}
    assert page.items[0].graph["sentence"].startswith("贵企业")
    if page.next_cursor:
        more = match_profile(serving, {**base, "employees": 45, "revenue": "32000000"}, mode="instant",
                             cursor=page.next_cursor)  # fmt: skip
        assert more.items[0].position == len(page.items) + 1
        with pytest.raises(BadRequest, match="另一次查询"):  # another profile
            match_profile(serving, {**base, "employees": 46}, mode="instant", cursor=page.next_cursor)

    for profile, error, field, words in (
        ({**base, "revenu": "1"}, BadRequest, "profile.revenu", "字段目录中没有这个字段（是否为 revenue？）"),
        ({**base, "scale": "small"}, BadRequest, "profile.scale", "由系统计算"),
        ({"industry": "C3911"}, BadRequest, "profile.region", "缺少注册地行政区划"),
        ({**base, "employees": -3}, Unprocessable, "profile.employees", "不能为负数"),
        (
            {**base, "insured_employees": 50, "employees": 10},
            Unprocessable,
            "profile.insured_employees",
            "参保职工人数不能多于",
        ),
        ("C3911", BadRequest, "profile", "JSON 对象"),
    ):
        with pytest.raises(error, match=words) as e:
            match_profile(serving, profile)
        if field:
            assert e.value.extra["field"] == field


def test_a_guest_is_featured_as_a_stored_firm(served):
    """One feature definition: a stored firm featured as a guest (from its verified facts) gets the features
    the batch gave it, but for what being nobody's peer and having no receipts and no community changes."""
    engine, serving = served
    kg = serving.kg
    events = serving.events
    differ = {"ppr", "peers_received", "peers_received_share", "department_history", "received_before",
              "scope_similarity", "community_view_logit", "community_facet_logit", "firm_view_lift"}  # fmt: skip
    same = [j for j, name in enumerate(FEATURES) if name not in differ]
    for uscc in firms_with_candidates(serving, 4):
        policies = list(serving.ranking(uscc)[0])
        queries = serving_queries(uscc, policies)
        batch = feature_matrix(engine, kg, queries, events, {serving.snapshot.day: serving.snapshot})
        month = stored_subject(engine, uscc, serving.snapshot.day).verified  # what the snapshot reads
        guest = dataclasses.replace(guest_of(serving, stored_subject(engine, uscc, DAY), month), key=uscc)
        alone = guest_features(serving.snapshot, kg, guest, policies, serving.at, events, serving.fields,
                               serving.departments)  # fmt: skip
        np.testing.assert_allclose(alone[:, same], batch[:, same], equal_nan=True)
    # a stored firm the graph does not hold yet (registered since it was built) is featured as a guest
    uscc = firms_with_candidates(serving, 1)[0]
    held = matches(serving, engine, uscc, limit=100)
    unheld = dataclasses.replace(serving, ranked={u: r for u, r in serving.ranked.items() if u != uscc})
    fresh = matches(unheld, engine, uscc, limit=100)
    assert {i.policy_id for i in fresh.items} == {i.policy_id for i in held.items}
    assert {i.policy_id: i.decision for i in fresh.items} == {i.policy_id: i.decision for i in held.items}
    assert [i.score for i in fresh.items] == sorted((i.score for i in fresh.items), reverse=True)
    assert fresh.items[0].graph["paths"][0]["nodes"][0] == f"enterprise:{uscc}"
    # a firm with no events of its own: the history features kept per peer group (computed with the snapshot for
    # the register's groups, on demand for another) are the ones computed for it alone
    subject = stored_subject(engine, firms_with_candidates(serving, 1)[0], DAY)
    profile_guest = guest_of(serving, dataclasses.replace(subject, key="profile:test"))
    assert profile_guest.group in serving._register_histories
    policies = list(serving.index.policies)
    for group in (profile_guest.group, ("C39", "320199")):
        alone = dataclasses.replace(profile_guest, group=group)
        kept = serving._group_history(group)
        fresh = guest_history(alone, policies, serving.at, events, serving.fields, serving.departments)
        assert set(kept) == set(fresh)
        for name in fresh:
            np.testing.assert_array_equal(np.nan_to_num(kept[name], nan=-1), np.nan_to_num(fresh[name], nan=-1))
    assert ("C39", "320199") in serving._histories


def serving_queries(uscc, policies):
    import pandas as pd

    return pd.DataFrame({"enterprise": uscc, "policy": policies, "at": serving_time(DAY)})


# -- self-test ------------------------------------------------------------------------------------------------


def test_self_test_lists_what_is_met_what_is_not_by_how_much_and_what_to_declare(served):
    engine, serving = served
    assert "yanfa-feiyong-buzhu" in serving.specs
    near = {"region": "320114", "industry": "C3911", "rd_expense": "900000", "revenue": "18000000",
            "on_dishonesty_list": False, "in_abnormal_operation": False}  # fmt: skip
    found = self_test(serving, engine, "yanfa-feiyong-buzhu", profile=near)
    assert found.decision == "not_eligible" and found.decision_label == "不符合"
    assert any(m["distance"] == "还差 10万元" and m["label"] == "上年度研发费用" for m in found.not_met)
    assert found.met and all(m["sentence"] for m in found.met)
    assert found.amount == "72000.00" and found.amount_basis == "estimate" and found.amount_steps
    assert found.summary.startswith("共 ") and f"未满足 {1}" in found.summary
    assert found.subject == {"kind": "profile"} and found.in_force

    unknown = self_test(serving, engine, "yanfa-feiyong-buzhu", profile={k: near[k] for k in ("region", "industry")})
    assert unknown.decision == "undetermined" and unknown.unknown
    labels = {d["label"] for d in unknown.to_declare}
    assert "上年度研发费用" in labels and all(d["how"].startswith("请在企业画像中提供") for d in unknown.to_declare)

    # a stored firm: each not-eligible decision names its unmet conditions with their distance
    checked = 0
    for uscc in firms_with_candidates(serving, 10):
        for it in matches(serving, engine, uscc, decision="not_eligible,undetermined", limit=100).items:
            st = self_test(serving, engine, it.policy_id, uscc=uscc)
            assert st.decision == it.decision and st.subject["uscc"] == uscc
            if st.decision == "not_eligible":
                assert st.not_met and all(m["sentence"] for m in st.not_met)
                assert any(m["distance"] for m in st.not_met if m["gap"] is not None) or not any(
                    m["gap"] for m in st.not_met
                )
            else:
                assert st.to_declare and (st.unknown or st.note == "条件已满足，计算金额还需补充数据")
                assert {d["label"] for d in st.to_declare} >= set(it.missing_labels)
                spec = serving.specs[it.policy_id]
                for d in st.to_declare:
                    assert d["declarable"] == (spec.mode != "automatic" and d["field"] in spec.declarable)
                    assert d["label"] == catalog.FIELDS[d["field"]].label
            checked += 1
    assert checked > 20

    uscc = firms_with_candidates(serving, 1)[0]
    with pytest.raises(NotFound, match="政策 nope 不存在或未发布"):
        self_test(serving, engine, "nope", uscc=uscc)
    with pytest.raises(BadRequest, match="之一"):
        self_test(serving, engine, "yanfa-feiyong-buzhu")
    with pytest.raises(BadRequest, match="之一"):
        self_test(serving, engine, "yanfa-feiyong-buzhu", uscc=uscc, profile=near)
    with pytest.raises(NotFound):
        self_test(serving, engine, "yanfa-feiyong-buzhu", uscc=NOBODY)


# -- read-only ------------------------------------------------------------------------------------------------


def test_nothing_is_written(city):
    before = row_counts(city)
    kg = knowledge.build(city, DAY)
    serving = serving_mod.build(city, kg, DAY)
    assert row_counts(city) == before
    uscc = firms_with_candidates(serving, 1)[0]
    calls = [
        lambda: matches(serving, city, uscc),
        lambda: matches(serving, city, uscc, decision="eligible", limit=1),
        lambda: match_profile(serving, {"region": "320114", "industry": "C3911", "employees": 12}),
        lambda: self_test(serving, city, serving.ranking(uscc)[0][0], uscc=uscc),
        lambda: self_test(
            serving, city, serving.ranking(uscc)[0][0], profile={"region": "320114", "industry": "C3911"}
        ),
        lambda: matches(serving, city, NOBODY),
        lambda: matches(serving, city, uscc, mode="nope"),
        lambda: match_profile(serving, {"nope": 1}),
    ]
    for call in calls:
        try:
            call()
        except (BadRequest, NotFound):
            pass
        assert row_counts(city) == before


# -- the scorer -----------------------------------------------------------------------------------------------


def test_the_promoted_model_orders_the_list_and_a_new_one_rebuilds_the_snapshot(city, tmp_path, monkeypatch):
    from models import ranker
    from service.model_registry import promote, register
    from service.ranking import train_ranker

    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    kg = knowledge.build(city, DAY)
    graph = kg.save(tmp_path / "models" / "graph.pickle")
    cache = serving_mod.ServingCache(recheck=0)  # asks which model is promoted on every call
    first = cache.get(city, DAY, graph)
    assert cache.get(city, DAY, graph) is first and first.scorer.warning
    uscc = firms_with_candidates(first, 1)[0]
    old_cursor = matches(first, city, uscc, limit=1).next_cursor

    report = train_ranker(city, kg, UNTIL, period_days=45, seed=3)
    register(city, report.artifact, tmp_path / "models")
    promote(city, "ranker", report.version, "分析员")
    second = cache.get(city, DAY, graph)
    assert second is not first and second.scorer.name == report.version and second.scorer.warning is None
    page = matches(second, city, uscc, limit=100)
    assert page.scorer == {"name": report.version, "label": f"排序模型（LightGBM） {report.version}", "warning": None}
    policies = [i.policy_id for i in page.items]
    everyone = [(u, p) for u, (ps, _) in second.ranked.items() for p in ps]
    import pandas as pd

    queries = pd.DataFrame(everyone, columns=["enterprise", "policy"]).assign(at=serving_time(DAY))
    x = feature_matrix(city, kg, queries, second.events)
    mine = queries["enterprise"].to_numpy() == uscc
    want = dict(zip(queries["policy"][mine], ranker.score(report.artifact.model, x[mine]), strict=True))
    assert [i.score for i in page.items] == pytest.approx([want[p] for p in policies])
    assert [want[p] for p in policies] == sorted(want.values(), reverse=True)
    with pytest.raises(BadRequest, match="排序已更新"):
        matches(second, city, uscc, cursor=old_cursor)

    kg.changes += 1  # the graph file rewritten: read again, and the snapshot with it
    kg.save(graph)
    assert cache.get(city, DAY, graph) is not second
    with pytest.raises(Exception, match="不存在"):
        serving_mod.ServingCache().get(city, DAY, tmp_path / "missing.pickle")


def test_a_stale_snapshot_answers_while_its_successor_is_built_in_the_background(city, tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    kg = knowledge.build(city, DAY)
    graph = kg.save(tmp_path / "models" / "graph.pickle")
    cache = serving_mod.ServingCache(background=True)
    first = cache.get(city, DAY, graph)  # the first one: built by the request that needs it
    started, release = threading.Event(), threading.Event()
    real_build = serving_mod.build

    def slow_build(*args, **kwargs):
        started.set()
        release.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(serving_mod, "build", slow_build)
    next_day = DAY + dt.timedelta(days=1)
    assert cache.get(city, next_day, graph) is first  # stale, answering while the next one is built
    assert started.wait(10)
    assert cache.get(city, next_day, graph) is first  # one build at a time
    release.set()
    cache.wait(60)
    second = cache.get(city, next_day, graph)
    assert second is not first and second.day == next_day

    def failing(*args, **kwargs):
        raise RuntimeError("数据库不可用")

    monkeypatch.setattr(serving_mod, "build", failing)
    later = next_day + dt.timedelta(days=1)
    assert cache.get(city, later, graph) is second
    cache.wait(10)
    assert cache.get(city, later, graph) is second  # the failed build logged; the old snapshot still answers


def test_a_server_freezes_each_snapshot_out_of_the_collectors_reach(city, tmp_path, monkeypatch):
    import gc

    monkeypatch.setenv("ZHIDA_MODELS_DIR", str(tmp_path / "models"))
    graph = knowledge.build(city, DAY).save(tmp_path / "models" / "graph.pickle")
    try:
        gc.unfreeze()
        serving_mod.ServingCache().get(city, DAY, graph)
        assert gc.get_freeze_count() == 0  # not asked to: tests and tools collect as usual
        cache = serving_mod.ServingCache(freeze=True)
        snapshot = cache.get(city, DAY, graph)
        assert snapshot is cache.get(city, DAY, graph) and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
