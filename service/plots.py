"""Charts of the figures people compare (model evaluation first), as PNG files, with Chinese labels.

matplotlib draws off-screen (Agg). Chinese needs a CJK font: the first of :data:`CJK_FONTS` installed is used
(Debian: ``fonts-wqy-microhei`` or ``fonts-noto-cjk``); without one the labels would be empty boxes, so
drawing is refused with what to install.
"""

from __future__ import annotations

from pathlib import Path

# Fonts with the Chinese glyphs, as Linux, Windows and macOS name them.
CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Hiragino Sans GB",
    "Arial Unicode MS",
)


DEBIAN_CJK_FILES = (  # where Debian's fonts-wqy-microhei and fonts-noto-cjk put them
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


class PlotError(Exception):
    pass


def chinese_font() -> str | None:
    """Make matplotlib draw in the first Chinese font installed and return its name; None when there is none."""
    import matplotlib as mpl
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:  # matplotlib's font cache predates a font installed since: look at the system's fonts
        known = {f.fname for f in font_manager.fontManager.ttflist}
        debian = [p for p in DEBIAN_CJK_FILES if Path(p).exists()]  # first: found without asking fontconfig
        for path in [*debian, *font_manager.findSystemFonts()]:
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue  # a file matplotlib cannot read is not a font it could draw with
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    if found is not None:
        mpl.rcParams["font.sans-serif"] = [found, *mpl.rcParams["font.sans-serif"]]
        mpl.rcParams["axes.unicode_minus"] = False
    return found


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if chinese_font() is None:
        raise PlotError("没有可显示中文的字体：请安装 fonts-wqy-microhei 或 fonts-noto-cjk（Debian 软件包）")
    return plt


def evaluation_chart(figures: dict, path: str | Path, title: str, slices: dict[str, str], metric: str = "ndcg@10"):
    """Grouped bars: ``metric`` of every scorer, one group per slice (``figures[slice][scorer][metric]``)."""
    from models.ranker import SCORER_LABELS

    plt = _pyplot()
    names = [s for s in slices if s in figures]
    scorers = list(dict.fromkeys(sc for s in names for sc in figures[s]))
    width = 0.8 / max(len(scorers), 1)
    fig, ax = plt.subplots(figsize=(4.4 + 2.2 * len(names), 4.2), dpi=120)
    for j, scorer in enumerate(scorers):
        xs = [i + (j - (len(scorers) - 1) / 2) * width for i in range(len(names))]
        ys = [figures[s].get(scorer, {}).get(metric, float("nan")) for s in names]
        bars = ax.bar(xs, ys, width, label=SCORER_LABELS.get(scorer, scorer))
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    labels = [f"{slices[s]}\n（{int(next(iter(figures[s].values()))['queries'])} 个查询）" for s in names]
    ax.set_xticks(range(len(names)), labels)
    low = min(m[metric] for s in names for m in figures[s].values() if m[metric] == m[metric])
    ax.set_ylim(max(0.0, low - 0.1), 1.0)
    ax.set_ylabel(metric.upper())
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
