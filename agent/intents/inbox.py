"""What becomes of a message on an intent's reply topic: an ``Offer`` for the inbox, or a counted drop.

Pure: the bytes, the intent and the inbox's counts in; a decision out. Cheapest checks first, so a flood
costs a length comparison per message: size, then the rate (offers kept in the last period), then the
inbox's cap, then decoding, which bounds every field and refuses control characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import msgspec

from agent.intents.model import Offer, answer_topic_ok, has_control_chars

DropReason = Literal["size", "rate", "full", "invalid"]


@dataclass(frozen=True)
class Limits:
    """The market's caps on offers (``[market]``)."""

    max_size: int = 4096
    per_period: int = 20
    period_s: float = 3600.0
    inbox_cap: int = 200


class Dropped(NamedTuple):
    """An offer that is not kept, and why."""

    reason: DropReason
    detail: str


_decoder = msgspec.json.Decoder(Offer)


def intake(  # noqa: PLR0911 - one return per check reads as the list of rules
    payload: bytes, *, intent_id: str, prefix: str, limits: Limits, recent: int, stored: int
) -> Offer | Dropped:
    """Decide about ``payload`` for intent ``intent_id``, given ``recent`` offers kept this period."""
    if len(payload) > limits.max_size:
        return Dropped("size", f"{len(payload)} bytes, more than {limits.max_size}")
    if recent >= limits.per_period:
        return Dropped("rate", f"{recent} offers already this period")
    if stored >= limits.inbox_cap:
        return Dropped("full", f"the inbox holds {stored} offers")
    try:
        offer = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        return Dropped("invalid", str(exc))
    if offer.intent != intent_id:
        return Dropped("invalid", "the offer names another intent")
    texts = [offer.vendor, offer.text, offer.price or "", *offer.links]
    if any(has_control_chars(t, allow_newlines=t is offer.text) for t in texts):
        return Dropped("invalid", "control characters")
    if offer.reply_to is not None and not answer_topic_ok(prefix, offer.reply_to):
        return Dropped("invalid", "the reply topic is not an answer topic of this market")
    return offer
