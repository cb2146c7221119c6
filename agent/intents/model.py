"""What an intent is on the wire, what an offer may be, and the topics they use (pure, no I/O).

An intent is published retained on ``<prefix>/intents/<category>/<intent id>`` and names its reply topic
``<prefix>/offers/<intent id>``. Offers are untrusted: they are decoded into ``Offer`` (sizes, lengths and
characters bounded) or dropped. An answer goes to the topic the offer names, which must lie under
``<prefix>/answers/`` so that no vendor can make a hub publish anywhere else.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Annotated, Any, Literal

import msgspec

from agent.errors import IntentError

# The vocabulary: a vendor subscribes to the categories it serves. Short, stable, documented in
# docs/intents.md; a new category is a new entry here and there.
CATEGORIES: dict[str, str] = {
    "heating": "heating and hot water: heat pumps, boilers, radiators, servicing",
    "insulation": "insulation, windows, draught-proofing",
    "solar": "solar panels, home batteries, inverters",
    "energy": "electricity and gas tariffs, energy advice",
    "appliances": "household appliances: fridges, washing machines, ovens",
    "repairs": "repairs and maintenance in the home",
    "insurance": "home and contents insurance",
    "connectivity": "internet and phone contracts",
}

VERSION = 1
MAX_TEXT = 280
MAX_ANSWER = 2000
MIN_LIFETIME_S = 1.0
MAX_LIFETIME_S = 90 * 86400.0

_ID = r"[0-9a-f]{32}"
_ANSWER_LEAF = r"[A-Za-z0-9_-]{8,64}"

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ANSWER)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Link = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Ref = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class IntentMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What an intent publishes: nothing in it names the hub, its owner or its other intents."""

    v: int = VERSION
    intent: str
    category: str
    text: str
    reply_to: str
    expires: int  # unix seconds, to the minute
    data: list[dict[str, Any]] = []


class Offer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A vendor's offer as the inbox keeps it: data only; links are text, never followed."""

    v: Literal[1] = 1
    intent: str
    vendor: Short
    text: Text
    price: Short | None = None
    links: Annotated[list[Link], msgspec.Meta(max_length=5)] = []
    ref: Ref | None = None
    reply_to: Topic | None = None


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """The owner's answer to one offer: the offer's reference and the owner's words, nothing else."""

    v: int = VERSION
    intent: str
    ref: str | None = None
    text: str


def new_id() -> str:
    """A fresh random intent id (128 bits), shared with nothing else the hub has."""
    return secrets.token_hex(16)


def new_client_id() -> str:
    """A fresh random MQTT client id for one intent's connection."""
    return "i" + secrets.token_hex(11)


def intent_topic(prefix: str, category: str, intent_id: str) -> str:
    """Where the intent is published (retained)."""
    return f"{prefix}/intents/{category}/{intent_id}"


def reply_topic(prefix: str, intent_id: str) -> str:
    """Where vendors send offers for the intent."""
    return f"{prefix}/offers/{intent_id}"


def answers_root(prefix: str) -> str:
    """The topics an offer may ask its answer on: ``<prefix>/answers/<8-64 of A-Za-z0-9_->``."""
    return f"{prefix}/answers/"


def answer_topic_ok(prefix: str, topic: str) -> bool:
    """True when ``topic`` is an answer topic of this market (no wildcards, nothing elsewhere)."""
    return re.fullmatch(re.escape(answers_root(prefix)) + _ANSWER_LEAF, topic) is not None


def is_intent_id(text: str) -> bool:
    """True for a well-formed intent id."""
    return re.fullmatch(_ID, text) is not None


def check_category(category: str) -> str:
    """``category`` if it is in the vocabulary; ``IntentError`` naming the choices otherwise."""
    if category not in CATEGORIES:
        raise IntentError(
            f"unknown category {category!r}",
            hint="one of " + ", ".join(CATEGORIES) + " (see docs/intents.md)",
        )
    return category


def has_control_chars(text: str, *, allow_newlines: bool) -> bool:
    """True when ``text`` holds terminal control or direction-override characters."""
    allowed = {"\n", "\t"} if allow_newlines else set()
    return any(
        (unicodedata.category(c) in ("Cc", "Cf") and c not in allowed) or c in "\u2028\u2029" for c in text
    )


def check_text(text: str, *, what: str, limit: int, allow_newlines: bool) -> str:
    """``text`` stripped, if it is non-empty, at most ``limit`` characters and free of control characters."""
    text = text.strip()
    if not text:
        raise IntentError(f"the {what} is empty", hint=f"say in plain words what the {what} is about")
    if len(text) > limit:
        raise IntentError(f"the {what} is {len(text)} characters long", hint=f"at most {limit}")
    if has_control_chars(text, allow_newlines=allow_newlines):
        raise IntentError(f"the {what} holds control characters", hint="plain text only")
    return text


def check_lifetime(lifetime_s: float) -> float:
    """``lifetime_s`` if it is between a second and 90 days."""
    if not MIN_LIFETIME_S <= lifetime_s <= MAX_LIFETIME_S:
        raise IntentError(
            f"a lifetime of {lifetime_s:g} s is out of range", hint="between 1s and 90d, for example 14d"
        )
    return lifetime_s


def check_unlinkable(text: str, identifiers: list[str]) -> None:
    """Refuse an intent whose text or data names the hub (its id or name): it must not say whose it is."""
    lowered = text.casefold()
    for ident in identifiers:
        if len(ident) >= 3 and ident.casefold() in lowered:
            raise IntentError(
                f"the intent would name this hub ({ident!r})",
                hint="an intent says what you want, never who you are: leave the hub's id and name out of its"
                " text and of the streams it shows",
            )


def encode_intent(message: IntentMessage) -> bytes:
    """The published bytes of an intent."""
    return msgspec.json.encode(message)


def decode_intent(payload: bytes) -> IntentMessage:
    """An intent read off the market (vendors use this); ``msgspec.ValidationError`` if it is not one."""
    return msgspec.json.decode(payload, type=IntentMessage)


def encode_answer(answer: Answer) -> bytes:
    """The published bytes of an answer."""
    return msgspec.json.encode(answer)
