"""Files written by earlier releases still load: data files migrate forward, configs upgrade.

Each release adds its files under releases/ (an SQL dump of each data file, and a config); they are
never edited afterwards.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.store import open_ledger, open_readings
from agent.store.ledger import MIGRATIONS as LEDGER_MIGRATIONS
from agent.store.readings_schema import MIGRATIONS as READINGS_MIGRATIONS
from tests.conftest import hearth

RELEASES = Path(__file__).with_name("releases")
OLD_DUMPS = sorted({p.name.split("-")[0] for p in RELEASES.glob("*.sql")})


def _restore(dump: Path, target: Path) -> None:
    conn = sqlite3.connect(target)
    conn.executescript(dump.read_text(encoding="utf-8"))
    conn.close()


@pytest.mark.parametrize("release", OLD_DUMPS)
def test_old_data_files_migrate_forward_and_keep_their_data(tmp_path: Path, release: str) -> None:
    _restore(RELEASES / f"{release}-readings.sql", tmp_path / "readings.db")
    _restore(RELEASES / f"{release}-ledger.sql", tmp_path / "ledger.db")
    store = open_readings(tmp_path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == len(READINGS_MIGRATIONS)
    assert store.count_readings("living_room.temperature") == 5
    rows = {r["stream"]: r for r in store.stream_overview(now=1_700_000_000 + 600, lookback_s=9e9)}
    assert rows["living_room.temperature"]["last_value"] == pytest.approx(20.4)
    assert rows["kitchen_plug.power"]["unit"] == "W"
    assert store.source_health()[0]["name"] == "living_room"
    store.close()
    ledger = open_ledger(tmp_path)
    assert ledger.execute("PRAGMA user_version").fetchone()[0] == len(LEDGER_MIGRATIONS)
    assert ledger.execute("SELECT value FROM meta WHERE key = 'hub_id'").fetchone() == ("old-hub",)
    ledger.close()


@pytest.mark.parametrize("config", sorted(RELEASES.glob("*.toml")), ids=lambda p: p.name)
def test_old_configs_still_load(config: Path, tmp_path: Path) -> None:
    result = hearth("config", "check", str(config))
    assert result.returncode == 0, result.stderr
