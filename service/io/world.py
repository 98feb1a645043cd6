"""A generated city (``zhida generate``'s folder) imported as the platform holds it, and a fresh demo database.

One sequence for ``zhida demo``, the tests' imported city and the analyst notebooks: the policies, the
register, the rosters as of a date (from then a firm a roster does not list is known not to be on it), then
the events. Every part is checked; a part refused is an error naming its first rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from service.errors import BadRequest
from service.synth.params import REFERENCE_DATE


def import_world(engine, folder, rosters_as_of: dt.date = REFERENCE_DATE, actor: str = "system:import") -> dict:
    """Import ``folder`` (``policies/``, ``enterprises.csv``, ``rosters/``, ``events.jsonl``) into a migrated store;
    the reports by part. Raises :class:`BadRequest` if any part is refused (what was imported before it stays)."""
    from service.io.importer import import_enterprises, import_events, import_policies
    from service.io.rosters import import_rosters

    folder = Path(folder)
    reports = {}
    for part, load in (
        ("policies", lambda: import_policies(engine, folder / "policies", actor=actor)),
        ("enterprises", lambda: import_enterprises(engine, folder / "enterprises.csv")),
        ("rosters", lambda: import_rosters(engine, folder / "rosters", rosters_as_of, actor=actor)),
        ("events", lambda: import_events(engine, folder / "events.jsonl")),
    ):
        report = reports[part] = load()
        if not report.committed:
            shown = "\n".join(str(e) for e in report.errors[:20])
            raise BadRequest(f"{folder} 的{PARTS[part]}未能导入：\n{shown}", field=part)
    return reports


PARTS = {"policies": "政策", "enterprises": "企业", "rosters": "名单", "events": "事件"}


@dataclass
class DemoCity:
    database: Path  # the SQLite file
    world: Path  # the generated files
    reports: dict  # import_world's reports

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"


def demo_city(
    directory,
    enterprises: int = 2000,
    seed: int = 7,
    city: str = "南京市",
    rosters_as_of: dt.date = REFERENCE_DATE,
    actor: str = "system:demo",
    progress=None,
) -> DemoCity:
    """A fresh SQLite database ``directory/zhida.sqlite3`` (an old one is removed) holding a city generated into
    ``directory/world``. ``progress(text)`` is told each stage in Chinese."""
    from service.store import make_engine, upgrade
    from service.synth.world import generate_world

    say = progress or (lambda text: None)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    db_file = (directory / "zhida.sqlite3").resolve()
    if db_file.exists():
        db_file.unlink()  # a demo always starts from an empty database
    built = DemoCity(db_file, directory / "world", {})
    say(f"建库 {db_file}")
    upgrade(built.url)
    say(f"生成 {city} 的 {enterprises} 家企业、政策与互动记录")
    generate_world(enterprises, seed, city, built.world)
    say(f"导入政策、企业、名单（截至 {rosters_as_of}）与事件")
    built.reports = import_world(make_engine(built.url), built.world, rosters_as_of, actor)
    return built
