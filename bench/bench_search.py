"""Evaluate and time the policy search on the demo city: twenty judged queries, their top five, precision@5.

The judgements are data (``bench/search_judgements.yaml``: for each query, the policies judged relevant or
partly relevant after reading all 46; the rest are not relevant); this script only runs the search and
counts. Per query: the top 5 with each one's judgement, precision@5 (relevant 1, partly ½, divided by 5),
strict precision@5 (relevant only), the best precision@5 the judged catalogue allows, and nDCG@5 (gains 2
and 1). Then the query time in process (every query ``--rounds`` times after one cold call): p50 and p99.

Not timed: the demo city (``service.io.world.demo_city``: 南京市, 2,000 firms, seed 7) is built under
--workdir once and reused. ``--update-docs`` writes the Markdown between the markers of docs/search.md.

    python bench/bench_search.py [--workdir /tmp/zhida-bench-search] [--rounds 20] [--update-docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import statistics
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
JUDGEMENTS = ROOT / "bench" / "search_judgements.yaml"
DOC = ROOT / "docs" / "search.md"
BEGIN, END = "<!-- bench_search:begin -->", "<!-- bench_search:end -->"
GAIN = {"relevant": 2, "partly": 1, "not": 0}
SHOWN = {"relevant": "相关", "partly": "部分相关", "not": "不相关"}
DECISIONS = {"eligible": "符合", "undetermined": "待核实", "not_eligible": "不符合"}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def city(workdir: Path) -> str:
    from service.io.world import demo_city
    from service.store import upgrade

    db = workdir / "zhida.sqlite3"
    if db.exists():
        url = f"sqlite:///{db.resolve()}"
        upgrade(url)
        return url
    say(f"生成并导入演示城市到 {workdir} ……")
    return demo_city(workdir, progress=say).url


def grades(entry: dict) -> dict[str, str]:
    out = {p: "relevant" for p in entry.get("relevant") or []}
    out.update({p: "partly" for p in entry.get("partly") or []})
    return out


def precision(labels: list[str], strict: bool = False) -> float:
    worth = {"relevant": 1.0, "partly": 0.0 if strict else 0.5}
    return sum(worth.get(x, 0.0) for x in labels[:5]) / 5


def ndcg(labels: list[str], ideal: list[str]) -> float:
    dcg = lambda xs: sum(GAIN[x] / math.log2(i + 2) for i, x in enumerate(xs[:5]))  # noqa: E731
    best = dcg(ideal)
    return dcg(labels) / best if best else 0.0


def evaluate(engine, judged: dict) -> tuple[list[dict], float]:
    from service.search import search_policies

    day = judged["day"]
    started = time.perf_counter()
    search_policies(engine, judged["queries"][0]["query"], day, limit=5)
    cold = time.perf_counter() - started
    from service.search import _catalogue

    catalogue = {p.slug for p in _catalogue(engine).policies}
    rows = []
    for entry in judged["queries"]:
        known = grades(entry)
        unknown = sorted(set(known) - catalogue)
        if unknown:
            raise SystemExit(f"判断数据中的政策不在演示城市中：{unknown}（查询：{entry['query']}）")
        body = search_policies(engine, entry["query"], day, limit=5).to_json()
        top = body["results"]
        labels = [known.get(r["policy_id"], "not") for r in top]
        ideal = sorted(known.values(), key=lambda g: -GAIN[g])
        rows.append(
            {
                "query": entry["query"],
                "summary": body["understanding"]["summary"],
                "top": top,
                "labels": labels,
                "left_out": body["left_out"]["count"],
                "p5": precision(labels),
                "strict": precision(labels, strict=True),
                "best": precision(ideal),
                "ndcg": ndcg(labels, ideal),
            }
        )
    return rows, cold


def timing(engine, judged: dict, rounds: int) -> list[float]:
    from service.search import search_policies

    times = []
    for _ in range(rounds):
        for entry in judged["queries"]:
            started = time.perf_counter()
            search_policies(engine, entry["query"], judged["day"], limit=10)
            times.append((time.perf_counter() - started) * 1000)
    return times


def markdown(rows: list[dict], times: list[float], cold: float, rounds: int, day: dt.date) -> str:
    mean = lambda key: statistics.fmean(r[key] for r in rows)  # noqa: E731
    qs = sorted(times)
    p = lambda q: qs[min(len(qs) - 1, int(round(q * (len(qs) - 1))))]  # noqa: E731
    out = [
        f"Run of `python bench/bench_search.py` on {dt.date.today().isoformat()} (demo city 南京市, 2,000 firms, "
        f"seed 7; {len(rows)} judged queries; searched as of {day.isoformat()}).",
        "",
        "| # | query | P@5 | strict P@5 | best possible P@5 | nDCG@5 | left out |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(rows, 1):
        out.append(
            f"| {i} | {r['query']} | {r['p5']:.2f} | {r['strict']:.2f} | {r['best']:.2f} | {r['ndcg']:.2f} | "
            f"{r['left_out']} |"
        )
    out.append(
        f"| | **mean of {len(rows)}** | **{mean('p5'):.3f}** | **{mean('strict'):.3f}** | {mean('best'):.3f} | "
        f"**{mean('ndcg'):.3f}** | |"
    )
    out += [
        "",
        f"P@5 counts a relevant result 1 and a partly relevant one ½, over 5; strict P@5 counts relevant only. "
        f'"Best possible" is the P@5 of a perfect ranking of the judged catalogue (some queries have fewer '
        f"than five relevant policies in it). Mean P@5 over the best possible: "
        f"{mean('p5') / mean('best'):.1%}.",
        "",
        f"Query time in process ({rounds} rounds of the 20 queries, {len(times)} searches, SQLite, limit 10): "
        f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms; the first search of a process {cold * 1000:.0f} ms (jieba's "
        f"dictionary and the index).",
        "",
        "### The top five of each query",
        "",
    ]
    for i, r in enumerate(rows, 1):
        out += [f"**{i}. {r['query']}** — {r['summary']}", ""]
        out += [
            "| rank | policy | score | for the firm described | why it matched | judged |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for k, (res, label) in enumerate(zip(r["top"], r["labels"], strict=True), 1):
            why = res["matched"]["why"] or "（仅按所述企业情况列出）"
            decision = DECISIONS[res["decision"]["outcome"]]
            out.append(
                f"| {k} | {res['name']} (`{res['policy_id']}`) | {res['score']:.3f} | {decision} | {why} | "
                f"{SHOWN[label]} |"
            )
        if not r["top"]:
            out.append("| | （无结果） | | | | |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/zhida-bench-search"))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--update-docs", action="store_true", help="write the tables into docs/search.md")
    args = ap.parse_args(argv)
    from service.store import make_engine

    args.workdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(city(args.workdir))
    judged = yaml.safe_load(JUDGEMENTS.read_text(encoding="utf-8"))
    say("评估 20 条查询……")
    rows, cold = evaluate(engine, judged)
    say(f"计时 {args.rounds} 轮……")
    times = timing(engine, judged, args.rounds)
    text = markdown(rows, times, cold, args.rounds, judged["day"])
    print(text)
    if args.update_docs:
        doc = DOC.read_text(encoding="utf-8")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n{text}{END}{tail}", encoding="utf-8")
        say(f"已写入 {DOC}")
    mean, strict = (statistics.fmean(r[k] for r in rows) for k in ("p5", "strict"))
    say(f"P@5 {mean:.3f}（严格 {strict:.3f}）；p50 {statistics.median(times):.1f} ms")


if __name__ == "__main__":
    main()
