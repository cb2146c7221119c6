"""Noised grants: each release debits its recipient's budget with the outbox row it queues; past the cap
nothing is queued and the audit log says so; a new period renews it; revocation stops noisy releases; and
a real subscriber receives noisy means within the bounds that name their policy."""

from __future__ import annotations

import json
import math
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.consent import budget, outbox
from agent.consent.dp import DpPolicy
from agent.consent.gate import Refused, admit
from agent.consent.grants import new_grant
from agent.consent.ledger import grants, receipt, revoke
from agent.errors import ConsentError
from tests.testbed.processes import stop, traced_env

from .conftest import HUB, T0, Broker, Hub, Seen, run_publisher, stop_publisher

DAY = 86400.0
STREAM = "living_room.temperature"


def policy(cap: float = 2.0, epsilon: float = 0.5) -> DpPolicy:
    return DpPolicy("laplace", epsilon, 10.0, 35.0, cap=cap, period_s=DAY)


def _bodies(hub: Hub) -> list[dict[str, object]]:
    return [json.loads(r.payload) for r in outbox.next_batch(hub.ledger, after=0, limit=10_000, now=T0)]


def _audit(hub: Hub, kind: str) -> list[dict[str, object]]:
    rows = hub.ledger.execute("SELECT detail FROM audit_log WHERE kind = ? ORDER BY seq", (kind,))
    return [json.loads(d) for (d,) in rows]


def test_a_noised_grant_keeps_its_policy_and_its_receipt_names_it(hub: Hub) -> None:
    made = hub.grant("coop", [STREAM], "summary:10s", dp=policy())
    (state,) = grants(hub.ledger, now=T0)
    assert state.grant == made
    assert state.grant.dp == policy()
    shown = json.loads(receipt(hub.ledger, made.id))["processing"]["differential_privacy"]
    assert shown["mechanism"] == "laplace"
    assert shown["epsilon"] == 0.5
    assert shown["bounds"] == [10.0, 35.0]
    assert (shown["cap"], shown["period_s"]) == (2.0, DAY)


def test_the_gate_lets_nothing_but_noised_summaries_leave_under_a_noised_grant(hub: Hub) -> None:
    grant = hub.grant("coop", [STREAM], "summary:10s", dp=policy())
    plain = {"start": T0, "end": T0 + 10, "count": 10, "mean": 22.0, "min": 21.0, "max": 23.0, "unit": "C"}
    verdict = admit(
        grant,
        revoked=False,
        now=T0 + 20,
        stream=STREAM,
        kind="summary",
        body=plain,
        data_start=T0,
        data_end=T0 + 10,
        hub_id="h",
        prefix="p",
    )
    assert verdict == Refused(f"grant {grant.id} lets only noisy summaries leave")


@pytest.mark.parametrize(
    ("recipient", "granularity", "message"),
    [("coop", "events", "not events")],
)
def test_noise_is_refused_where_it_cannot_apply(recipient: str, granularity: str, message: str) -> None:
    strand = "context.activity" if granularity == "events" else STREAM
    with pytest.raises(ConsentError, match=message):
        new_grant(
            recipient=recipient,
            purpose="test",
            strands=[strand],
            granularity=granularity,
            precision=None,
            now=T0,
            dp=policy(),
        )


def test_each_window_is_released_from_its_own_clamped_readings(hub: Hub) -> None:
    """With next to no noise (a huge epsilon) the releases are the clamped windows' true count and mean."""
    hub.grant("coop", [STREAM], "summary:10s", dp=policy(cap=1e9, epsilon=1e6))
    hub.record(STREAM, [(T0 + i + 0.5, float(i)) for i in range(25)] + [(T0 + 35.0, 99.0)])
    hub.summariser.step(T0 + 40)
    got = [(b["start"] - T0, b["count"], b["mean"]) for b in _bodies(hub)]
    assert [(start, count) for start, count, _ in got] == [(0, 10), (10, 10), (20, 5), (30, 1)]
    means = [mean for _, _, mean in got]
    assert means == pytest.approx([10.0, 14.5, 22.0, 35.0], abs=0.01)  # 0..9 clamped up to 10; 99 to 35


def test_past_the_cap_nothing_is_queued_and_the_audit_log_says_so(hub: Hub) -> None:
    grant = hub.grant("coop", [STREAM], "summary:10s", dp=policy(cap=2.0, epsilon=0.5))
    hub.record(STREAM, [(T0 + i, 22.0) for i in range(100)])
    result = hub.summariser.step(T0 + 100)  # ten windows closed; the cap pays for four
    assert (result.queued, result.refused_budget) == (4, 6)
    assert outbox.depth(hub.ledger) == 4
    standing = budget.standing(hub.ledger, "coop", policy(), now=T0 + 100)
    assert standing.spent == 2.0
    assert standing.left == 0.0
    (debit,) = _audit(hub, "dp-debit")
    assert (debit["grant"], debit["releases"], debit["spent"]) == (grant.id, 4, 2.0)
    (drop,) = _audit(hub, "drop")
    assert drop["reason"] == "privacy budget"
    assert drop["count"] == 6
    assert drop["renews_at"] == (math.floor((T0 + 100) / DAY) + 1) * DAY
    # Later windows of the same period are refused too, and cost nothing.
    hub.record(STREAM, [(T0 + 100 + i, 22.0) for i in range(50)])
    assert hub.summariser.step(T0 + 150).queued == 0
    assert outbox.depth(hub.ledger) == 4
    assert budget.standing(hub.ledger, "coop", policy(), now=T0 + 150).spent == 2.0


def test_grants_to_one_recipient_share_its_budget(hub: Hub) -> None:
    hub.grant("coop", [STREAM], "summary:10s", dp=policy(cap=2.0))
    hub.grant("coop", ["living_room.humidity"], "summary:10s", dp=policy(cap=2.0))
    hub.record(STREAM, [(T0 + i, 22.0) for i in range(100)])
    hub.record("living_room.humidity", [(T0 + i, 22.0) for i in range(100)])
    assert hub.summariser.step(T0 + 100).queued == 4


def test_a_new_period_renews_the_budget(hub: Hub) -> None:
    hub.grant("coop", [STREAM], "summary:10s", dp=policy(cap=1.0))
    next_day = (math.floor(T0 / DAY) + 1) * DAY
    hub.record(STREAM, [(T0 + i, 22.0) for i in range(100)])
    hub.summariser.step(T0 + 100)
    assert outbox.depth(hub.ledger) == 2
    assert hub.summariser.step(next_day - 1).queued == 0  # the rest of the day: refused as they close
    hub.record(STREAM, [(next_day + i, 22.0) for i in range(30)])
    result = hub.summariser.step(next_day + 30)
    assert (result.queued, result.refused_budget) == (2, 2)
    assert budget.standing(hub.ledger, "coop", policy(cap=1.0), now=next_day + 30).spent == 1.0
    assert [b["start"] for b in _bodies(hub)][2:] == [next_day - 10, next_day]
    periods = hub.ledger.execute("SELECT period_start, spent FROM dp_budget ORDER BY period_start").fetchall()
    assert periods == [(math.floor(T0 / DAY) * DAY, 1.0), (next_day, 1.0)]


def test_revocation_stops_noisy_releases_and_their_debits(hub: Hub) -> None:
    grant = hub.grant("coop", [STREAM], "summary:10s", dp=policy(cap=100.0))
    hub.record(STREAM, [(T0 + i, 22.0) for i in range(100)])
    hub.summariser.step(T0 + 50)
    queued = outbox.depth(hub.ledger)
    assert queued > 0
    assert revoke(hub.ledger, grant.id, now=T0 + 51) == queued
    spent = budget.standing(hub.ledger, "coop", policy(cap=100.0), now=T0 + 100).spent
    assert hub.summariser.step(T0 + 100).queued == 0
    assert outbox.depth(hub.ledger) == 0
    assert budget.standing(hub.ledger, "coop", policy(cap=100.0), now=T0 + 100).spent == spent


async def test_a_subscriber_receives_noisy_means_within_the_bounds_naming_their_policy(
    hub: Hub, broker: Broker, subscriber: Seen
) -> None:
    # A temperature that drifts from 18 to 26 °C, with readings beyond the bounds the grant clamps to.
    points = [(T0 + i, 18.0 + 8.0 * i / 600 + (40.0 if i % 97 == 0 else 0.0)) for i in range(600)]
    hub.record(STREAM, points)
    grant = hub.grant("coop", [STREAM], "summary:1m", dp=policy(cap=50.0, epsilon=0.5))
    hub.summariser.step(T0 + 700)
    publisher = hub.publisher(broker.port)
    task = await run_publisher(publisher)
    try:
        await subscriber.until(lambda: outbox.depth(hub.ledger) == 0 and len(subscriber.data()) >= 11)
    finally:
        await stop_publisher(publisher, task)
    received = [m for m in subscriber.data() if m["grant"] == grant.id]
    # T0 is 20 s into a minute: eleven whole minutes after the grant, the last two without readings
    # (sent all the same, noised: whether a window had readings is what the noise hides).
    assert [(m["start"] - T0) for m in received] == [40 + 60 * k for k in range(11)]
    differs = 0
    for message in received:
        assert "min" not in message
        assert "max" not in message
        assert message["dp"]["mechanism"] == "laplace"
        assert message["dp"]["epsilon"] == 0.5
        assert message["dp"]["bounds"] == [10.0, 35.0]
        assert message["dp"]["cap"] == 50.0
        window = [v for ts, v in points if message["start"] <= ts < message["end"]]
        assert message["mean"] is None or 10.0 <= message["mean"] <= 35.0
        if not window:
            continue
        true = statistics.fmean(min(max(v, 10.0), 35.0) for v in window)
        assert message["mean"] is not None
        if abs(message["mean"] - true) > 1e-6:
            differs += 1
        assert abs(message["count"] - len(window)) < 60  # noised, yet about the window's count
    assert differs == 10


def _start_without_opendp(config: Path, log: Path) -> subprocess.Popen[str]:
    """``hearth run -c config`` where ``import opendp`` fails, as it does where the package is absent."""
    absent = "import sys; sys.modules['opendp'] = None; from agent.cli import main; main()"
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-c", absent, "run", "-c", str(config)],
            stdout=out,
            stderr=out,
            text=True,
            env=traced_env(),
        )


async def test_a_hub_without_opendp_holds_a_noised_grant_and_keeps_sending_the_others(
    tmp_path: Path, broker: Broker, subscriber: Seen
) -> None:
    """A noised grant made where OpenDP was installed, on a hub run where it is not: the hub runs on,
    the exact grant's summaries leave, the noised one is held and the log says why, once."""
    now = time.time()
    hub = Hub(tmp_path / "data")
    hub.record(STREAM, [(now - 120 + i, 21.0) for i in range(115)])
    hub.grant("plain", [STREAM], "summary:10s", now=now - 130)
    held = hub.grant("noised", [STREAM], "summary:10s", now=now - 130, dp=policy())
    hub.close()
    config = tmp_path / "hearth.toml"
    config.write_text(
        f'[hub]\nid = "{HUB}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {broker.port}\ntls = false\n'
        'summarise_interval = "1s"\nsummary_lag = "1s"\n'
    )
    agent = _start_without_opendp(config, tmp_path / "agent.log")
    try:
        await subscriber.until(lambda: any("/plain/" in t for t, _, _ in subscriber.messages), limit=60)
        assert agent.poll() is None, "the hub stopped"
    finally:
        stop(agent, signal.SIGTERM)
    out = (tmp_path / "agent.log").read_text()
    assert agent.returncode == 0, out
    assert not [t for t, _, _ in subscriber.messages if "/noised/" in t]
    assert out.count(f"grant {held.id} is held") == 1, out
    assert "hearth-agent[dp]" in out
    assert "Traceback" not in out
