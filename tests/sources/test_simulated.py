"""Simulation tables: sources replaying one file share its rows; an edited file is read again."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.sources.simulated import load_table


def test_sources_replaying_one_file_share_its_rows_and_keep_their_own_names() -> None:
    first = load_table("room0", "builtin:climate.csv")
    second = load_table("room1", "builtin:climate.csv")
    assert [s.name for s in first.streams] == ["room0.temperature", "room0.humidity"]
    assert [s.name for s in second.streams] == ["room1.temperature", "room1.humidity"]
    assert second.rows is first.rows
    assert len(first.rows) == 1440


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    data = tmp_path / "plug.csv"
    data.write_text("power[W]\n1.5\n")
    assert list(load_table("plug", str(data)).rows) == [(1.5,)]
    data.write_text("power[W]\n1.5\n2.25\n")
    assert list(load_table("plug", str(data)).rows) == [(1.5,), (2.25,)]


def test_a_broken_file_is_refused_every_time(tmp_path: Path) -> None:
    data = tmp_path / "plug.csv"
    data.write_text("power[W]\n1.5\nwatts\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="row 3"):
            load_table("plug", str(data))


def test_rows_read_as_tuples_of_the_file_s_values_from_either_end(tmp_path: Path) -> None:
    data = tmp_path / "imu.csv"
    data.write_text("x,y\n1,-2.5\n3,nan\n5,6e3\n")
    rows = load_table("imu", str(data)).rows
    assert len(rows) == 3
    assert rows[0] == (1.0, -2.5)
    assert rows[-1] == rows[2] == (5.0, 6000.0)
    tail = rows[-2:]
    assert [row[0] for row in tail] == [3.0, 5.0]
    assert math.isnan(tail[0][1])
    for bad in (3, -4):
        with pytest.raises(IndexError):
            rows[bad]
