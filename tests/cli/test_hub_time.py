"""The command line shows and reads times on the hub's clock (``hub.timezone``), whatever the machine's zone.

The hub runs on Pacific/Auckland (+13:00 in December); the command runs with the process's zone set to
another one, so a time typed or shown in the process's zone would land half a day or more off.
"""

from __future__ import annotations

import contextlib
import logging
import math
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.cli.logs import setup_logging
from agent.config import HubClock
from agent.learning import labels
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from tests.conftest import hearth
from tests.consent.conftest import LocalHub
from tests.learning.test_label_cli import activity_hub

AUCKLAND = ZoneInfo("Pacific/Auckland")
# 2026-12-02 14:30:05 on the hub's clock.
T = datetime(2026, 12, 2, 14, 30, 5, tzinfo=AUCKLAND).timestamp()


@pytest.fixture(params=["UTC", "America/Los_Angeles"])
def process(request: pytest.FixtureRequest) -> dict[str, str]:
    """The command's environment: its own zone (TZ) differs from the hub's; wide enough for whole tables."""
    return {"TZ": request.param, "COLUMNS": "200"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return activity_hub(tmp_path, 'id = "clock-hub"\ntimezone = "Pacific/Auckland"\n')


def stored(data_dir: Path) -> list[tuple[float, float]]:
    with contextlib.closing(open_ledger(data_dir, read_only=True)) as conn:
        return [(x.start_ts, x.end_ts) for x in labels.listed(conn)]


def _label_cycling(config: Path, process: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hearth label add`` of a minute's cycling typed without a zone (2026-12-02 14:30), succeeded."""
    added = hearth(
        "label", "add", "-c", str(config), "activity", "cycling",
        "--from", "2026-12-02T14:30", "--to", "2026-12-02T14:31", env_extra=process,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    return added


def test_a_typed_label_is_the_hubs_time_and_the_list_shows_it_so(
    config: Path, tmp_path: Path, process: dict[str, str]
) -> None:
    c = ("-c", str(config))
    added = _label_cycling(config, process)
    start = datetime(2026, 12, 2, 14, 30, tzinfo=AUCKLAND).timestamp()
    assert stored(tmp_path / "data") == [(start, start + 60)]
    assert "from 2026-12-02 14:30:00 NZDT to 2026-12-02 14:31:00 NZDT" in added.stdout

    # A time that names its zone is taken as typed: 01:40 UTC is 14:40 on the hub's clock.
    named = hearth(
        "label", "add", *c, "activity", "cycling", "--from", "2026-12-02T01:40Z", "--to",
        "2026-12-02T01:41:00+00:00", env_extra=process,
    )  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert stored(tmp_path / "data")[1] == (start + 600, start + 660)

    listed = hearth("label", "list", *c, env_extra=process)
    assert listed.returncode == 0, listed.stderr
    assert "2026-12-02 14:30:00 NZDT .. 2026-12-02 14:31:00 NZDT" in listed.stdout
    assert "2026-12-02 14:40:00 NZDT .. 2026-12-02 14:41:00 NZDT" in listed.stdout

    wrong = hearth(
        "label", "add", *c, "activity", "cycling", "--from", "noon", "--to", "1", env_extra=process
    )
    assert wrong.returncode == 2
    assert "'noon' is not a time: use 2026-12-02T14:30 (hub.timezone) or unix seconds" in wrong.stderr


def test_consent_and_status_show_the_hubs_time_and_name_its_zone(
    config: Path, tmp_path: Path, process: dict[str, str]
) -> None:
    # Status shows the last day's readings: this one is a minute old, its time on the hub's clock known.
    recent = math.floor(time.time()) - 60.0
    hub = LocalHub(tmp_path / "data")
    made = hub.grant("coop", ["kitchen.temperature"], "summary:1h", now=T)
    hub.record("kitchen.temperature", [(recent, 21.5)])
    hub.close()

    listed = hearth("consent", "list", "-c", str(config), env_extra=process)
    assert listed.returncode == 0, listed.stderr
    assert "Consent grants (times in Pacific/Auckland)" in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if made.id in line)
    assert "2026-12-02 14:30:05" in row

    shown = hearth("consent", "show", "-c", str(config), made.id, env_extra=process)
    assert shown.returncode == 0, shown.stderr
    assert "given: 2026-12-02 14:30:05 NZDT" in shown.stdout

    status = hearth("status", "-c", str(config), env_extra=process)
    assert status.returncode == 0, status.stderr
    assert "Streams (times in Pacific/Auckland)" in status.stdout
    row = next(line for line in status.stdout.splitlines() if "kitchen.temperature" in line)
    assert datetime.fromtimestamp(recent, AUCKLAND).strftime("%Y-%m-%d %H:%M:%S") in row


def test_status_shows_a_labels_span_on_the_hubs_clock_and_the_reading_keeps_it_in_utc(
    config: Path, tmp_path: Path, process: dict[str, str]
) -> None:
    c = ("-c", str(config))
    _label_cycling(config, process)

    status = hearth("status", *c, env_extra=process)
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if "labels.activity" in line)
    assert "cycling 2026-12-02 14:30:00..14:31:00 NZDT (60)" in row, status.stdout
    assert "Z.." not in row

    # What leaves the hub under a labels.* grant is the reading: its span stays in UTC.
    store = open_readings(tmp_path / "data", read_only=True)
    try:
        (reading,) = store.readings_between(["labels.activity"], 0, time.time() + 60)
    finally:
        store.close()
    assert reading.label == "cycling 2026-12-02T01:30:00Z..2026-12-02T01:31:00Z"


def test_console_log_lines_carry_the_hubs_time(capsys: pytest.CaptureFixture[str]) -> None:
    """``hearth run`` on a terminal stamps its log lines on the hub's clock once the config is read."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("info", "console", HubClock(AUCKLAND))
        record = logging.LogRecord("agent.test", logging.INFO, __file__, 1, "recording", None, None)
        record.created = T
        root.handlers[0].handle(record)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    assert capsys.readouterr().err == "14:30:05 INFO    agent.test: recording\n"
