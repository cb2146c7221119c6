"""A grant to the market lets data go only inside the owner's intents, never upstream."""

from __future__ import annotations

from pathlib import Path

from agent.consent import outbox
from agent.store.readings import open_readings
from agent.sync.summariser import Summariser

from .conftest import Home, home_config


def test_the_summariser_never_sends_a_market_grant_upstream(tmp_path: Path) -> None:
    home = Home(home_config(tmp_path, None), tmp_path / "data", 0)
    t0 = 1_700_000_000.0
    home.grant("market", now=t0)
    coop = home.grant("energy-coop", now=t0)
    home.record([(t0 + 60 * i, 20.0 + i) for i in range(1, 180)])
    ledger = home.ledger()
    store = open_readings(tmp_path / "data", read_only=True)
    try:
        summariser = Summariser(ledger, store.conn, hub_id="h", prefix="hearth/v1", ttl_s=3600, cap=1000)
        result = summariser.step(t0 + 4 * 3600)
        assert result.queued > 0
        assert result.queued == outbox.depth(ledger)
        assert {row[0] for row in ledger.execute("SELECT grant_id FROM outbox")} == {coop.id}
    finally:
        store.close()
        ledger.close()
