"""Simulation tables: sources replaying one file share its rows; an edited file is read again."""

from __future__ import annotations

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
    assert load_table("plug", str(data)).rows == ((1.5,),)
    data.write_text("power[W]\n1.5\n2.25\n")
    assert load_table("plug", str(data)).rows == ((1.5,), (2.25,))


def test_a_broken_file_is_refused_every_time(tmp_path: Path) -> None:
    data = tmp_path / "plug.csv"
    data.write_text("power[W]\n1.5\nwatts\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="row 3"):
            load_table("plug", str(data))
