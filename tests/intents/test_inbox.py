"""The inbox's intake: each kind of unwanted message maps to its drop reason; caps hold at their edges."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from agent.intents.inbox import Dropped, Limits, intake
from agent.intents.model import Offer, answer_topic_ok

INTENT = "0123456789abcdef0123456789abcdef"
PREFIX = "intents/v1"
LIMITS = Limits(max_size=1024, per_period=3, period_s=3600, inbox_cap=10)


def offer(**fields: object) -> bytes:
    body: dict[str, object] = {"v": 1, "intent": INTENT, "vendor": "Acme", "text": "a fair price"}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def take(payload: bytes, *, recent: int = 0, stored: int = 0) -> Offer | Dropped:
    return intake(payload, intent_id=INTENT, prefix=PREFIX, limits=LIMITS, recent=recent, stored=stored)


def test_a_well_formed_offer_is_kept_as_data() -> None:
    got = take(
        offer(price="9 EUR", links=["https://a.example"], ref="r-1", reply_to=f"{PREFIX}/answers/abcdefgh")
    )
    assert got == Offer(
        intent=INTENT,
        vendor="Acme",
        text="a fair price",
        price="9 EUR",
        links=["https://a.example"],
        ref="r-1",
        reply_to=f"{PREFIX}/answers/abcdefgh",
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"", "invalid", id="empty"),
        pytest.param(b"{", "invalid", id="truncated"),
        pytest.param(b"[]", "invalid", id="not-an-object"),
        pytest.param(offer(v=2), "invalid", id="version"),
        pytest.param(offer(vendor=None), "invalid", id="no-vendor"),
        pytest.param(offer(vendor=""), "invalid", id="empty-vendor"),
        pytest.param(offer(vendor="v" * 81), "invalid", id="long-vendor"),
        pytest.param(offer(text=7), "invalid", id="text-not-string"),
        pytest.param(offer(links=["l"] * 6), "invalid", id="too-many-links"),
        pytest.param(offer(links=["l" * 301]), "invalid", id="long-link"),
        pytest.param(offer(ref="has space"), "invalid", id="bad-ref"),
        pytest.param(offer(run="rm -rf /"), "invalid", id="unknown-field"),
        pytest.param(offer(intent="f" * 32), "invalid", id="other-intent"),
        pytest.param(offer(vendor="A\x1b]8;;http://x\x07"), "invalid", id="terminal-escape"),
        pytest.param(offer(text="a\u202eb"), "invalid", id="direction-override"),
        pytest.param(offer(reply_to="hearth/v1/hub/status"), "invalid", id="answer-elsewhere"),
        pytest.param(offer(reply_to=f"{PREFIX}/answers/#"), "invalid", id="answer-wildcard"),
        pytest.param(offer(text="x" * 1100), "size", id="oversize"),
    ],
)
def test_each_unwanted_message_has_its_reason(payload: bytes, reason: str) -> None:
    got = take(payload)
    assert isinstance(got, Dropped)
    assert got.reason == reason


def test_size_is_checked_at_its_exact_edge() -> None:
    base = offer(text="")
    pad = LIMITS.max_size - len(base)
    assert isinstance(take(offer(text="x" * pad)), Offer)
    assert take(offer(text="x" * (pad + 1))) == Dropped(
        "size", f"{LIMITS.max_size + 1} bytes, more than 1024"
    )


def test_rate_and_cap_are_checked_before_decoding() -> None:
    assert take(offer(), recent=2) == take(offer(), recent=2, stored=9)
    assert isinstance(take(offer(), recent=2), Offer)
    assert take(b"junk", recent=3) == Dropped("rate", "3 offers already this period")
    assert take(b"junk", stored=10) == Dropped("full", "the inbox holds 10 offers")


def test_newlines_and_tabs_are_fine_in_an_offer_text_only() -> None:
    assert isinstance(take(offer(text="line one\n\tline two")), Offer)
    assert isinstance(take(offer(vendor="Acme\nLtd")), Dropped)


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        (f"{PREFIX}/answers/abcdefgh", True),
        (f"{PREFIX}/answers/" + "a" * 64, True),
        (f"{PREFIX}/answers/abcdefg", False),
        (f"{PREFIX}/answers/" + "a" * 65, False),
        (f"{PREFIX}/answers/abcdefgh/more", False),
        (f"{PREFIX}/answers/+", False),
        (f"{PREFIX}/intents/heating/abcdefgh", False),
        (f"other/{PREFIX}/answers/abcdefgh", False),
    ],
)
def test_answers_go_only_under_the_markets_answer_topics(topic: str, ok: bool) -> None:
    assert answer_topic_ok(PREFIX, topic) is ok


def test_random_bytes_never_raise() -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    valid = offer(links=["https://a.example"], ref="r")
    for _ in range(2000):
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        got = take(bytes(data))
        assert isinstance(got, Offer | Dropped), f"seed {seed}"
        if isinstance(got, Offer):
            assert msgspec.json.decode(msgspec.json.encode(got), type=Offer) == got, f"seed {seed}"
