"""SQL on the readings file's tables is written in ``agent/store/`` only; other layers call its functions.

A schema change then touches the store alone, and every delete goes through the store, which keeps its
cache of stream ids true to the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "agent"

# Each table of the readings file, and the modules (besides agent/store/) that own it.
READINGS_TABLES: dict[str, tuple[str, ...]] = {
    "readings": (),
    "rollups": (),
    "streams": (),
    "devices": (),
    "source_health": (),
    "reading_log": (),
    "rollup_log": (),
    "ble_adoptions": ("agent/sources/ble/adoption.py",),
}
_NAMES = "|".join(READINGS_TABLES)
# A table named after an SQL keyword that takes one, or a sqlite-utils table lookup (``db[...]``).
SQL_ON_TABLE = re.compile(
    rf"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|EXISTS)\s+[\"'`]?({_NAMES})\b"
    rf"|\.table\(\s*[\"']({_NAMES})[\"']|\bdb\[\s*[\"']({_NAMES})[\"']\s*\]"
)


def offences(root: Path) -> list[str]:
    """``path:line: table`` for every SQL mention of a readings table outside its owners."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).as_posix()
        if relative.startswith("agent/store/"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in SQL_ON_TABLE.finditer(line):
                table = next(g for g in match.groups() if g)
                if relative not in READINGS_TABLES[table]:
                    found.append(f"{relative}:{number}: {table}")
    return found


def test_no_sql_on_readings_tables_outside_the_store() -> None:
    assert offences(AGENT) == [], "use (or add) a named function in agent/store/queries.py or readings.py"


@pytest.mark.parametrize(
    "line",
    [
        'conn.execute("SELECT name FROM streams ORDER BY name")',
        '"DELETE FROM readings WHERE stream_id = ?"',
        "' LEFT JOIN readings r ON r.stream_id = s.id'",
        '"INSERT INTO rollups VALUES (?)"',
        '"UPDATE devices SET name = ?"',
        "db['source_health'].rows",
        'db.table("reading_log")',
        '"SELECT 1 FROM ble_adoptions"',
    ],
)
def test_the_scan_finds_sql_on_readings_tables(tmp_path: Path, line: str) -> None:
    module = tmp_path / "agent" / "web" / "page.py"
    module.parent.mkdir(parents=True)
    module.write_text(f"x = 1\n{line}\n")
    assert len(offences(tmp_path / "agent")) == 1


def test_the_scan_leaves_prose_and_other_tables_alone(tmp_path: Path) -> None:
    module = tmp_path / "agent" / "web" / "page.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        '"""Summaries are read from the readings file; streams come from devices."""\n'
        'conn.execute("SELECT * FROM outbox JOIN grants g ON g.id = grant_id")\n'
        'stats["readings"] = out["streams"]\n'
    )
    assert offences(tmp_path / "agent") == []
