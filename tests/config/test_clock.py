"""The owner's clock: times shown and typed are the hub's wall clock (``hub.timezone``)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.config import HubClock, config_from_mapping

AUCKLAND = HubClock(ZoneInfo("Pacific/Auckland"))
BERLIN = HubClock(ZoneInfo("Europe/Berlin"))
# 2026-12-02 14:30 in Auckland (NZDT, +13:00) is 01:30 UTC the same day.
NOON_ISH = datetime(2026, 12, 2, 1, 30, tzinfo=UTC).timestamp()


def test_the_clock_is_the_configured_zone_and_utc_by_default() -> None:
    hub = {"id": "h", "data_dir": "/tmp/h"}
    assert HubClock.of(config_from_mapping({"hub": hub})).name == "UTC"
    assert HubClock.of(config_from_mapping({"hub": hub | {"timezone": "Pacific/Auckland"}})).name == (
        "Pacific/Auckland"
    )


def test_times_are_shown_on_the_hubs_wall_clock() -> None:
    assert AUCKLAND.when(NOON_ISH) == "2026-12-02 14:30:00"
    assert AUCKLAND.stamp(NOON_ISH) == "2026-12-02 14:30:00 NZDT"
    assert BERLIN.stamp(NOON_ISH) == "2026-12-02 02:30:00 CET"
    assert AUCKLAND.format(NOON_ISH, "%H:%M") == "14:30"
    assert AUCKLAND.when(None) == AUCKLAND.stamp(None) == "—"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-02T14:30", NOON_ISH),
        ("2026-12-02 14:30:00", NOON_ISH),
        ("2026-12-02T01:30:00+00:00", NOON_ISH),  # a typed zone wins
        ("2026-12-02T01:30Z", NOON_ISH),
        ("2026-12-02", datetime(2026, 12, 1, 11, 0, tzinfo=UTC).timestamp()),  # midnight in Auckland
    ],
    ids=["minutes", "space", "offset", "z", "date"],
)
def test_typed_times_without_a_zone_are_the_hubs(typed: str, expected: float) -> None:
    assert AUCKLAND.parse(typed) == expected


def test_a_typed_time_reads_back_as_it_was_shown() -> None:
    shown = AUCKLAND.format(NOON_ISH + 0.25, "%Y-%m-%dT%H:%M:%S")
    assert AUCKLAND.parse(shown) == NOON_ISH


def test_daylight_saving_changes_read_the_first_occurrence_and_the_offset_before_a_gap() -> None:
    # Berlin: 2026-10-25 03:00 CEST -> 02:00 CET repeats 02:00-03:00; 2026-03-29 02:00-03:00 never happens.
    assert BERLIN.parse("2026-10-25T02:30") == datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp()
    assert BERLIN.parse("2026-03-29T02:30") == datetime(2026, 3, 29, 1, 30, tzinfo=UTC).timestamp()  # +01:00


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("yesterday", "Invalid isoformat"),
        ("", "Invalid isoformat"),
        ("14:30", "Invalid isoformat"),
        ("2026-13-01", "month must be in 1..12"),
    ],
)
def test_what_is_not_a_time_is_refused(typed: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        AUCKLAND.parse(typed)
