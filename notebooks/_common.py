"""What the analyst notebooks share: the city they read, and a Chinese font for their plots.

By default each notebook builds the demo city (``zhida demo``'s: 2,000 firms of 南京市, seed 7) into a
temporary SQLite database, removed when the kernel stops, so it runs the same anywhere and writes nothing
beside itself. Environment variables choose otherwise (notebooks/README.md):

- ``ZHIDA_NOTEBOOK_DATABASE_URL``: read this database instead (a deployment's, or ``zhida demo``'s);
- ``ZHIDA_NOTEBOOK_WORLD``: import this generated city (``zhida generate --out DIR``) instead of generating;
- ``ZHIDA_NOTEBOOK_ENTERPRISES``: how many firms the generated city has (default 2,000);
- ``ZHIDA_NOTEBOOK_AS_OF``: the day the notebooks look from (default the generator's reference date
  2026-06-30 for a generated city, today for a database of one's own).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from service.synth.params import HISTORY_START, REFERENCE_DATE

DATABASE = "ZHIDA_NOTEBOOK_DATABASE_URL"
ENTERPRISE = "ZHIDA_NOTEBOOK_ENTERPRISE"  # 03_one_enterprise.ipynb: the firm to look at (its USCC)
WORLD = "ZHIDA_NOTEBOOK_WORLD"
ENTERPRISES = "ZHIDA_NOTEBOOK_ENTERPRISES"
AS_OF = "ZHIDA_NOTEBOOK_AS_OF"
DEMO_ENTERPRISES, DEMO_SEED = 2000, 7  # zhida demo's city


@dataclass
class City:
    engine: object
    url: str
    as_of: dt.date
    own: bool  # a temporary database of the notebook's own: it may train, register and promote freely
    workdir: Path  # a temporary folder for what the notebook writes (models, CSV)
    models_dir: Path | None  # where models are registered (None: the deployment's ZHIDA_MODELS_DIR)
    description: str
    _tmp: object = None  # the TemporaryDirectory kept alive while the kernel runs


def open_city() -> City:
    """The city the notebook reads (see the module's docstring)."""
    from service.io.world import demo_city, import_world
    from service.store import make_engine, upgrade

    tmp = tempfile.TemporaryDirectory(prefix="zhida-notebook-")
    workdir = Path(tmp.name)
    url = os.environ.get(DATABASE)
    if url:
        as_of = _day(os.environ.get(AS_OF)) or dt.date.today()
        engine = make_engine(url)
        return City(engine, url, as_of, False, workdir, None, f"数据库 {engine.url!r}", tmp)
    as_of = _day(os.environ.get(AS_OF)) or REFERENCE_DATE
    world = os.environ.get(WORLD)
    if world:  # rosters from the first day of the history: the training snapshots know them
        url = f"sqlite:///{workdir / 'zhida.sqlite3'}"
        upgrade(url)
        import_world(make_engine(url), world, HISTORY_START, actor="system:notebook")
        description = f"导入的城市 {world}（临时数据库）"
    else:
        n = int(os.environ.get(ENTERPRISES) or DEMO_ENTERPRISES)
        url = demo_city(workdir, n, DEMO_SEED, rosters_as_of=HISTORY_START, actor="system:notebook").url
        description = f"演示城市：南京市 {n:,} 家企业，种子 {DEMO_SEED}（临时数据库）"
    return City(make_engine(url), url, as_of, True, workdir, workdir / "models", description, tmp)


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def use_chinese_font() -> str | None:
    """Plots in the first Chinese font installed (``service.plots.chinese_font``); None, with a note, when
    there is none (the glyphs then show as boxes, and the warnings about each of them are silenced)."""
    from service.plots import chinese_font

    found = chinese_font()
    if found is None:
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        print("未找到中文字体：图中的汉字将显示为方框（可安装 fonts-wqy-microhei 或 fonts-noto-cjk）")
    return found
