"""The fleet at a glance, from the hubs' retained reports: versions and their counts, hubs per state.

Pure: a ``FleetView`` (what the broker holds) and the filters in, rows and counts out, for a table or JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from agent.fleet.report import Status

STATES = ("provisioned", "applying", "applied", "rejected", "rolled_back", "offline")


@dataclass(frozen=True)
class HubRow:
    """One hub: its link, groups, the version it runs, and what became of its last document."""

    hub: str
    link: str  # online | offline | ? (it never said)
    groups: tuple[str, ...]
    running_version: int
    version: int | None  # of the last document it handled
    state: str
    reason: str
    at: float  # when that document's outcome was reached
    seen: float  # when the hub last connected and reported (0: a hub of an earlier release)


@dataclass(frozen=True)
class Overview:
    """The hubs that pass the filters, and their counts by running version, state and link."""

    rows: tuple[HubRow, ...]
    versions: dict[int, int]
    states: dict[str, int]
    offline: int

    def as_json(self) -> dict[str, object]:
        return {
            "hubs": len(self.rows),
            "versions": {str(v): n for v, n in self.versions.items()},
            "states": self.states,
            "offline": self.offline,
            "rows": [asdict(row) for row in self.rows],
        }


def overview(
    reports: Mapping[str, Status],
    links: Mapping[str, str],
    *,
    group: str | None = None,
    state: str | None = None,
    version: int | None = None,
) -> Overview:
    """Rows for the hubs in ``group`` / in ``state`` (``offline`` is a link state) / running ``version``."""
    rows = []
    for hub in sorted(reports):
        report = reports[hub]
        link = links.get(hub, "?")
        if group is not None and group not in report.groups:
            continue
        if state is not None and state not in {report.state, link}:
            continue
        if version is not None and report.running_version != version:
            continue
        rows.append(
            HubRow(
                hub,
                link,
                tuple(report.groups),
                report.running_version,
                report.version,
                report.state,
                report.reason,
                report.at,
                report.sent_at,
            )
        )
    versions = Counter(row.running_version for row in rows)
    states = Counter(row.state for row in rows)
    return Overview(
        tuple(rows),
        dict(sorted(versions.items(), reverse=True)),
        {s: states[s] for s in STATES if states[s]},
        sum(1 for row in rows if row.link == "offline"),
    )
