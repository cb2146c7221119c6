"""SQL on the readings file's tables is written in ``agent/store/`` only; other layers call its functions.

A schema change then touches the store alone, and every delete goes through the store, which keeps its
cache of stream ids true to the file. The ledger's tables likewise: each is queried by its owner only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "agent"

# Each table of the readings file, and the modules (besides agent/store/) that own it, by path ending.
READINGS_TABLES: dict[str, tuple[str, ...]] = {
    "readings": (),
    "rollups": (),
    "streams": (),
    "devices": (),
    "source_health": (),
    "reading_log": (),
    "rollup_log": (),
    "ble_adoptions": ("/ble/adoption.py",),
}
_CONSENT = "/consent/ledger.py"
_OUTBOX = "/outbox.py"  # by file name: the outbox may move out of agent/sync/
# Each table of the ledger and its owners. A revocation (consent) purges the grant's queued messages and
# watermarks in its own transaction, and the outbox checks grants and revocations in the query that
# picks what may be sent: those owners share a table on purpose.
LEDGER_TABLES: dict[str, tuple[str, ...]] = {
    "grants": (_CONSENT, _OUTBOX),
    "revocations": (_CONSENT, _OUTBOX),
    "receipts": (_CONSENT,),
    "audit_log": (_CONSENT,),
    "meta": (_CONSENT, "/web/auth.py"),  # the audit head; the owner's password hash
    "outbox": (_OUTBOX, _CONSENT),
    "outbox_set_aside": (_OUTBOX,),
    "counters": (_OUTBOX,),
    "sync_state": (_OUTBOX,),
    "summary_marks": ("/sync/summariser.py", _CONSENT),
    "config_history": ("/fleet/history.py",),
    "fleet_audit": ("/fleet/history.py",),
}


def _sql_on(tables: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    """A table named after an SQL keyword that takes one, or a sqlite-utils table lookup (``db[...]``)."""
    names = "|".join(tables)
    return re.compile(
        rf"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|EXISTS)\s+[\"'`]?({names})\b"
        rf"|\.table\(\s*[\"']({names})[\"']|\bdb\[\s*[\"']({names})[\"']\s*\]"
    )


def offences(root: Path, tables: dict[str, tuple[str, ...]] = READINGS_TABLES) -> list[str]:
    """``path:line: table`` for every SQL mention of one of ``tables`` outside agent/store/ and its owners."""
    pattern = _sql_on(tables)
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).as_posix()
        if relative.startswith("agent/store/"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                table = next(g for g in match.groups() if g)
                if not relative.endswith(tables[table]):
                    found.append(f"{relative}:{number}: {table}")
    return found


def test_no_sql_on_readings_tables_outside_the_store() -> None:
    assert offences(AGENT) == [], "use (or add) a named function in agent/store/queries.py or readings.py"


def test_sql_on_ledger_tables_stays_with_their_owners() -> None:
    assert offences(AGENT, LEDGER_TABLES) == [], "call (or add) a function of the table's owner"


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


def test_the_scan_knows_each_ledger_tables_owners(tmp_path: Path) -> None:
    for relative in ("web/page.py", "sync/outbox.py", "consent/ledger.py", "fleet/history.py"):
        module = tmp_path / "agent" / relative
        module.parent.mkdir(parents=True)
        module.write_text('conn.execute("DELETE FROM outbox WHERE seq = ?")\n')
    assert offences(tmp_path / "agent", LEDGER_TABLES) == [
        "agent/fleet/history.py:1: outbox",
        "agent/web/page.py:1: outbox",
    ]


def test_the_scan_leaves_prose_and_other_tables_alone(tmp_path: Path) -> None:
    module = tmp_path / "agent" / "web" / "page.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        '"""Summaries are read from the readings file; streams come from devices."""\n'
        'conn.execute("SELECT * FROM outbox JOIN grants g ON g.id = grant_id")\n'
        'stats["readings"] = out["streams"]\n'
    )
    assert offences(tmp_path / "agent") == []
