"""Grants, granularity, strand patterns, the gate, receipts and the audit chain (pure pieces)."""

from __future__ import annotations

import json

import pytest

from agent.consent import audit
from agent.consent.gate import Admitted, Refused, admit
from agent.consent.grants import new_grant
from agent.consent.granularity import Granularity, parse_granularity, rounded, rounding
from agent.consent.receipts import receipt_for
from agent.consent.strands import listing, matches, overlaps, unknown
from agent.errors import ConsentError

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("summary:10s", Granularity("summary", 10.0)),
        ("summary:1h", Granularity("summary", 3600.0)),
        ("summary:90m", Granularity("summary", 5400.0)),
        ("events", Granularity("events")),
        ("raw", Granularity("raw")),
    ],
)
def test_granularity_parses(text: str, expected: Granularity) -> None:
    assert parse_granularity(text) == expected
    assert parse_granularity(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hourly", "unknown granularity"),
        ("summary:", "unknown granularity"),
        ("summary:10x", "invalid summary window"),
        ("summary:100ms", "shorter than"),
        ("mean:1h", "unknown granularity"),
    ],
    ids=["word", "no-window", "bad-unit", "too-short", "other-kind"],
)
def test_granularity_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConsentError, match=message):
        parse_granularity(text)


@pytest.mark.parametrize(
    ("pattern", "stream", "hit"),
    [
        ("living_room.temperature", "living_room.temperature", True),
        ("living_room.temperature", "living_room.humidity", False),
        ("living_room.*", "living_room.humidity", True),
        ("*.temperature", "kitchen.temperature", True),
        ("*", "kitchen.temperature", True),
        ("*", "context.activity", True),
        ("*.*", "context.activity", True),
        ("living_room.*", "living_room_2.humidity", False),
        ("context.*", "context.activity", True),
    ],
)
def test_globs_stay_in_a_part_and_lone_star_is_every_strand(pattern: str, stream: str, hit: bool) -> None:
    assert matches(pattern, stream) is hit


# What a hub makes, as agent.sources.strands lists it: names, and ``<prefix>.*`` for all under a prefix.
MADE = ("kitchen_board.*", "context.activity", "labels.activity", "forecast.living_room.temperature.*")


@pytest.mark.parametrize(
    ("pattern", "known"),
    [
        ("kitchen_board.temp", True),  # a board's streams, named when it connects
        ("kitchen_board.*", True),
        ("kitchen*.*", True),
        ("k?tchen*.t*", True),
        ("*.temp", True),
        ("kitchen_board", False),  # a prefix alone is no strand
        ("garden.temp", False),
        ("context.activity", True),
        ("context.*", True),
        ("context.appliance", False),
        ("*.activity", True),
        ("forecast.living_room.temperature.1h", True),
        ("forecast.living_room.temperature.*", True),
        ("forecast.*.*.*", True),
        ("forecast.*", False),  # one part after forecast: no forecast strand has so few
        ("forecast.kitchen.power.1h", False),
        ("*", True),
        ("kitchen_" + "?" * 3000 + ".*", False),  # long globs are compared without recursion
        ("k*" + "*" * 3000 + ".temp", True),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else str(v),
)
def test_a_pattern_overlaps_what_the_hub_makes_only_where_a_strand_could_be_both(
    pattern: str, known: bool
) -> None:
    assert any(overlaps(pattern, made) for made in MADE) is known


def test_unknown_refuses_a_name_the_hub_lacks_and_warns_of_a_glob_that_names_nothing_yet() -> None:
    recorded = ["living_room.temperature", "tank.level"]
    assert unknown(["tank.level", "*.temperature", "kitchen_board.temp"], recorded=recorded, made=MADE) == []
    assert unknown(["*"], recorded=[], made=[]) == []  # every strand, also future ones, never warns
    (warning,) = unknown(["climate.*", "tank.level"], recorded=recorded, made=MADE)
    assert warning.startswith("climate.* names no strand on this hub yet")
    with pytest.raises(ConsentError, match=r"no strand 'tank.levle' on this hub") as refused:
        unknown(["tank.*", "tank.levle"], recorded=recorded, made=MADE)
    assert refused.value.field == "strand"
    assert refused.value.hint is not None
    assert "living_room.temperature" in refused.value.hint
    assert "kitchen_board.*" in refused.value.hint


def test_a_misspelt_name_is_answered_with_the_hubs_names_of_as_many_parts_closest_to_it() -> None:
    recorded = ["living_room.temperature", "anomaly.living_room.temperature", "tank.level"]
    made = ["forecast.living_room.temperature.*", "battery.*"]
    hint = listing(recorded, made, near="livng_room.temperature")
    assert hint.startswith("did you mean living_room.temperature? strands on this hub: anomaly.living_room")
    assert listing(recorded, made, near="nosuch.stream").startswith("strands on this hub: ")


@pytest.mark.parametrize(
    ("precision", "said"),
    [(2, "2 decimal places"), (1, "1 decimal place"), (0, "whole numbers"), (-3, "the nearest 1,000")],
)
def test_rounding_is_said_in_plain_words_also_above_the_decimal_point(precision: int, said: str) -> None:
    assert rounding(precision) == said
    assert rounded(123456.789, precision) == round(123456.789, precision)


def _grant(**kw: object):  # type: ignore[no-untyped-def]
    args = {
        "recipient": "coop",
        "purpose": "heating advice",
        "strands": ["living_room.*"],
        "granularity": "summary:10s",
        "precision": 1,
        "now": T0,
    }
    args.update(kw)
    return new_grant(**args)  # type: ignore[arg-type]


def test_raw_needs_an_explicit_choice() -> None:
    with pytest.raises(ConsentError, match="explicitly"):
        _grant(granularity="raw")
    assert _grant(granularity="raw", allow_raw=True).granularity == "raw"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"recipient": "Energy Coop"}, "invalid recipient"),
        ({"purpose": " "}, "purpose"),
        ({"strands": []}, "at least one strand"),
        ({"strands": ["living room"]}, "invalid strand"),
        ({"strands": ["living_room"]}, "names no stream"),
        ({"strands": ["living_room*"]}, "names no stream"),
        ({"strands": ["living_room.*"], "granularity": "events"}, "names no context strand"),
        ({"expires_at": T0 - 1}, "expire before"),
    ],
)
def test_bad_grants_are_refused_with_a_reason(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConsentError, match=message):
        _grant(**kw)


def _summary(start: float, **extra: float) -> dict[str, float]:
    return {
        "start": start,
        "end": start + 10,
        "count": 3,
        "mean": 21.456,
        "min": 20.04,
        "max": 22.96,
        **extra,
    }


def _admit(grant, **kw):  # type: ignore[no-untyped-def]
    args = {
        "revoked": False,
        "now": T0 + 100,
        "stream": "living_room.temperature",
        "kind": "summary",
        "body": _summary(T0 + 10),
        "data_start": T0 + 10,
        "data_end": T0 + 20,
        "hub_id": "hub",
        "prefix": "hearth/v1",
    }
    args.update(kw)
    return admit(grant, **args)


def test_gate_admits_rounded_summaries_on_the_recipients_topic() -> None:
    verdict = _admit(_grant())
    assert isinstance(verdict, Admitted)
    assert verdict.topic == "hearth/v1/hub/coop/living_room.temperature"
    assert (verdict.body["mean"], verdict.body["min"], verdict.body["max"]) == (21.5, 20.0, 23.0)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"revoked": True}, "revoked"),
        ({"now": T0 + 10_000}, "expired"),
        ({"stream": "kitchen_plug.power"}, "does not cover"),
        ({"kind": "raw"}, "allows summary:10s"),
        ({"body": {"start": T0 + 10, "end": T0 + 70}}, "window does not match"),
        ({"data_start": T0 - 10}, "before grant"),
    ],
    ids=["revoked", "expired", "uncovered", "wrong-kind", "wrong-window", "before-grant"],
)
def test_gate_refuses(kw: dict[str, object], reason: str) -> None:
    grant = _grant(expires_at=T0 + 1000)
    verdict = _admit(grant, **kw)
    assert isinstance(verdict, Refused)
    assert reason in verdict.reason


def test_gate_refuses_without_a_grant() -> None:
    assert isinstance(_admit(None), Refused)


def test_receipt_names_recipient_purpose_and_withdrawal() -> None:
    grant = _grant(expires_at=T0 + 86400)
    receipt = receipt_for(grant, hub_id="hub-1")
    json.dumps(receipt)
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["thirdPartyName"] == "coop"
    assert purpose["purpose"] == "heating advice"
    assert purpose["piiCategory"] == ["living_room.*"]
    assert receipt["consentReceiptID"] == f"receipt-{grant.id}"
    assert receipt["withdrawal"] == f"hearth consent revoke {grant.id}"
    assert receipt["event"]["expires"].startswith("2023-11-15")


def _log(n: int) -> list[audit.Entry]:
    return audit.chain(0, audit.GENESIS, [(T0 + i, "publish", {"seq": i}) for i in range(n)])


def test_intact_chain_verifies() -> None:
    entries = _log(5)
    assert audit.verify(entries, head=(5, entries[-1].hash)) == []


def test_edited_entry_is_detected() -> None:
    entries = _log(5)
    entries[2] = entries[2]._replace(detail='{"seq":99}')
    assert any("entry 3" in p and "edited" in p for p in audit.verify(entries))


def test_removed_entry_is_detected() -> None:
    entries = _log(5)
    del entries[1]
    problems = audit.verify(entries)
    assert any("entry 2 is missing" in p for p in problems)


def test_truncated_tail_is_detected_against_the_head() -> None:
    entries = _log(5)
    assert any("removed from the end" in p for p in audit.verify(entries[:3], head=(5, entries[-1].hash)))
