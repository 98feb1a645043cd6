"""Charts of the figures people compare (model evaluation first), as PNG files, with Chinese labels.

matplotlib draws off-screen (Agg). Chinese needs a CJK font: the first of :data:`CJK_FONTS` installed is used
(Debian: ``fonts-wqy-microhei`` or ``fonts-noto-cjk``); without one the labels would be empty boxes, so
drawing is refused with what to install.
"""

from __future__ import annotations

from pathlib import Path

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
SCORERS = {
    "ranker": "排序模型",
    "popularity": "热度",
    "tag_overlap": "标签重合",
    "ppr": "个性化 PageRank",
    "eligible_by_amount": "符合者优先、按金额",
}


class PlotError(Exception):
    pass


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = [name for name in CJK_FONTS if name in installed]
    if not found:
        raise PlotError("没有可显示中文的字体：请安装 fonts-wqy-microhei 或 fonts-noto-cjk（Debian 软件包）")
    plt.rcParams["font.sans-serif"] = [found[0], "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def evaluation_chart(figures: dict, path: str | Path, title: str, slices: dict[str, str], metric: str = "ndcg@10"):
    """Grouped bars: ``metric`` of every scorer, one group per slice (``figures[slice][scorer][metric]``)."""
    plt = _pyplot()
    names = [s for s in slices if s in figures]
    scorers = list(dict.fromkeys(sc for s in names for sc in figures[s]))
    width = 0.8 / max(len(scorers), 1)
    fig, ax = plt.subplots(figsize=(2.4 + 2.2 * len(names), 4.2), dpi=120)
    for j, scorer in enumerate(scorers):
        xs = [i + (j - (len(scorers) - 1) / 2) * width for i in range(len(names))]
        ys = [figures[s].get(scorer, {}).get(metric, float("nan")) for s in names]
        bars = ax.bar(xs, ys, width, label=SCORERS.get(scorer, scorer))
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    labels = [f"{slices[s]}\n（{int(next(iter(figures[s].values()))['queries'])} 个查询）" for s in names]
    ax.set_xticks(range(len(names)), labels)
    low = min(m[metric] for s in names for m in figures[s].values() if m[metric] == m[metric])
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel(metric.upper())
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
