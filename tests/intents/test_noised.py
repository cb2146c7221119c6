"""An intent that shows data through a noised grant to the market: noisy counts and means as upstream, paid
for from the market's privacy budget in the transaction that records the intent, or not made at all."""

from __future__ import annotations

import json
import re
import time

import pytest

from agent.consent import budget
from agent.consent.dp import policy_from_options
from agent.consent.grants import Grant
from agent.consent.ledger import audit_entries
from agent.intents import ledger as intents_ledger

from .conftest import STREAM, Home, Spy, intent_id_of

HOUR = 3600


def _noised_home(home: Home, cap: str) -> Grant:
    now = time.time()
    policy = policy_from_options("laplace", epsilon=0.5, rho=None, bounds="10..35", budget=cap)
    grant = home.grant("market", now=now - 6 * HOUR, dp=policy)
    home.record([(now - 5 * HOUR + i * 60, 20.0 + (i % 7) * 0.13) for i in range(290)])
    return grant


def _show(home: Home, windows: int) -> tuple[int, str]:
    made = home.cli(
        "intent", "create", "--category", "heating", "--text", "a heat pump", "--show", STREAM,
        "--windows", str(windows),
    )  # fmt: skip
    return made.exit_code, made.output


def _ledger(home: Home, grant: Grant) -> tuple[float, list[str], int]:
    """The market's budget spent this period, the audit kinds, and how many intents there are."""
    assert grant.dp is not None
    conn = home.ledger()
    try:
        spent = budget.standing(conn, "market", grant.dp, now=time.time()).spent
        return spent, [e.kind for e in audit_entries(conn)], len(intents_ledger.intents(conn))
    finally:
        conn.close()


def test_a_noised_market_grant_shows_noisy_windows_and_debits_the_budget(home: Home, spy: Spy) -> None:
    grant = _noised_home(home, "8/day")
    code, output = _show(home, 3)
    assert code == 0, output
    intent_id = intent_id_of(output)
    conn = home.ledger()
    try:
        topic = intents_ledger.get_intent(conn, intent_id).topic
    finally:
        conn.close()
    body = json.loads(spy.last_on(topic).payload)
    (entry,) = body["data"]
    assert entry["granularity"] == "summary:1h"
    assert len(entry["summaries"]) == 3
    for window in entry["summaries"]:
        # As upstream: no min or max (they would show single readings), the policy named, mean clamped.
        assert set(window) == {"start", "end", "count", "mean", "unit", "dp"}
        assert window["dp"]["mechanism"] == "laplace"
        assert window["dp"]["epsilon"] == 0.5
        assert window["mean"] is None or 10 <= window["mean"] <= 35
        assert window["end"] - window["start"] == HOUR
    assert grant.id not in json.dumps(body)

    spent, kinds, made = _ledger(home, grant)
    assert spent == pytest.approx(1.5)  # three windows at epsilon 0.5
    assert made == 1
    assert kinds.index("dp-debit") < kinds.index("intent") < kinds.index("intent publish")
    described = home.cli("intent", "show", intent_id[:8], "--no-fetch")
    assert f"shows:     {STREAM} as summary:1h, 3 windows, noised (laplace)" in described.output
    shown = home.cli("consent", "show", grant.id)
    assert "budget spent: 1.5 of 8 epsilon this period (3 releases, 0 refused)" in shown.output


def test_an_intent_the_budget_cannot_pay_for_is_not_made_and_costs_nothing(home: Home, spy: Spy) -> None:
    grant = _noised_home(home, "1/day")  # two windows at epsilon 0.5
    code, output = _show(home, 3)
    assert code != 0
    assert "the market privacy budget has 1 epsilon left this period, and 3 noised windows" in output
    assert "show at most 2 windows" in output
    # On the hub's clock (UTC here): a day's budget renews at its midnight.
    assert re.search(r"wait until the budget renews at \d{4}-\d\d-\d\d 00:00 UTC", output)
    assert "Traceback" not in output
    spent, kinds, made = _ledger(home, grant)
    assert (spent, made) == (0.0, 0)
    assert "dp-debit" not in kinds
    assert "drop" not in kinds
    assert not [m for m in spy.seen if "/intents/" in m.topic]

    code, output = _show(home, 2)
    assert code == 0, output
    spent, _, made = _ledger(home, grant)
    assert (spent, made) == (pytest.approx(1.0), 1)
