"""What a hub says about itself on the fleet broker, read by the hub's service and the fleet manager alike."""

from __future__ import annotations

import msgspec


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """The retained report on ``<prefix>/<hub>/fleet``."""

    hub: str
    state: str  # provisioned | applying | applied | rejected | rolled_back
    version: int | None
    reason: str
    running_version: int
    at: float
    groups: list[str] = []  # the groups the hub follows (absent from hubs of earlier releases)
    sent_at: float = 0.0  # when the hub published this report: it does on every connection
