"""The owner's intents, their offers and answers in the ledger file (SQL only), each change audited.

Audit kinds, so "What left" tells the whole story: ``intent`` (made: its topic, text and the data that
goes with it), ``intent publish`` (it left), ``intent offer`` (an offer came), ``intent answer`` (what the
owner answered, to which topic), ``intent end`` (withdrawn or expired, with the offers dropped) and
``intent clear`` (the retained message was removed from the broker). Dropped offers are counted on the
intent's row, not audited one by one, so a flood cannot grow the audit log.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from agent.config import HubClock
from agent.consent import budget
from agent.consent.ledger import append_audit
from agent.errors import IntentError, See
from agent.intents.inbox import Dropped, Limits, intake
from agent.intents.model import Answer, Offer, encode_answer
from agent.intents.shown import Charge
from agent.store.sqlite import transaction

_COLUMNS = (
    "id, category, text, via, broker, client_id, topic, reply_topic, payload, grants, created_at,"
    " expires_at, published_at, ended_at, end_reason, cleared_at, dropped_size, dropped_rate,"
    " dropped_invalid, dropped_full"
)
_DROP_COLUMN = {
    "size": "dropped_size",
    "rate": "dropped_rate",
    "invalid": "dropped_invalid",
    "full": "dropped_full",
}
_HINT = "{see} shows every intent"


class Intent(NamedTuple):
    """One intent as the ledger keeps it; times are unix seconds (wall clock)."""

    id: str
    category: str
    text: str
    via: str  # market | upstream
    broker: str
    client_id: str
    topic: str
    reply_topic: str
    payload: bytes
    grants: list[str]
    created_at: float
    expires_at: float
    published_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    cleared_at: float | None = None
    dropped: dict[str, int] = {}  # noqa: RUF012 - a NamedTuple default, never mutated

    def status(self, now: float) -> str:
        """``waiting`` (not yet out), ``published``, ``withdrawn`` or ``expired``."""
        if self.ended_at is not None:
            return self.end_reason or "ended"
        if now >= self.expires_at:
            return "expired"
        return "published" if self.published_at is not None else "waiting"


class InboxOffer(NamedTuple):
    """One kept offer, with the owner's answer if there is one."""

    number: int
    received_at: float
    offer: Offer
    answer: str | None
    answered_at: float | None
    answer_sent_at: float | None


def _intent(row: tuple[Any, ...]) -> Intent:
    (gid, category, text, via, broker, client_id, topic, reply, payload, grants) = row[:10]
    created, expires, published, ended, reason, cleared = row[10:16]
    return Intent(
        gid,
        category,
        text,
        via,
        broker,
        client_id,
        topic,
        reply,
        payload,
        json.loads(grants),
        created,
        expires,
        published,
        ended,
        reason,
        cleared,
        {"size": row[16], "rate": row[17], "invalid": row[18], "full": row[19]},
    )


def add_intent(
    conn: sqlite3.Connection,
    intent: Intent,
    data: list[dict[str, Any]],
    charges: Sequence[Charge] = (),
    *,
    clock: HubClock,
) -> None:
    """Record a new intent and audit what it will publish, atomically, debiting the noised windows it shows
    from the market's privacy budget; ``IntentError`` (and nothing recorded or debited) if it cannot pay,
    saying on ``clock`` when the budget renews."""
    with transaction(conn, immediate=True):
        for charge in charges:
            _debit(conn, charge, now=intent.created_at, clock=clock)
        conn.execute(
            f"INSERT INTO intents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"  # noqa: S608
            " 0, 0, 0, 0)",
            (*intent[:9], json.dumps(intent.grants), *intent[10:16]),
        )
        detail = {
            "intent": intent.id,
            "category": intent.category,
            "text": intent.text,
            "via": intent.via,
            "broker": intent.broker,
            "topic": intent.topic,
            "reply_topic": intent.reply_topic,
            "grants": intent.grants,
            "data": data,
            "expires_at": intent.expires_at,
        }
        append_audit(conn, [(intent.created_at, "intent", detail)])


def _debit(conn: sqlite3.Connection, charge: Charge, *, now: float, clock: HubClock) -> None:
    """Charge the recipient's budget for every window of ``charge``, or refuse the whole intent."""
    grant, policy = charge.grant, charge.grant.dp
    assert policy is not None  # a Charge is made only under a noised grant
    before = budget.standing(conn, grant.recipient, policy, now=now)
    allowed = budget.debit(
        conn,
        grant_id=grant.id,
        recipient=grant.recipient,
        stream=charge.stream,
        policy=policy,
        loss=charge.loss,
        windows=charge.windows,
        now=now,
    )
    wanted = len(charge.windows)
    if allowed < wanted:
        renews = clock.format(before.period_end, "%Y-%m-%d %H:%M %Z")
        raise IntentError(
            f"the {grant.recipient} privacy budget has {before.left:.3g} {policy.unit} left this period,"
            f" and {wanted} noised windows of {charge.stream} cost {wanted * charge.loss:.3g}",
            hint=f"show at most {allowed} windows, or wait until the budget renews at {renews}",
        )


def intents(conn: sqlite3.Connection) -> list[Intent]:
    """Every intent, newest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM intents ORDER BY created_at DESC, id")  # noqa: S608
    return [_intent(row) for row in rows]


def get_intent(conn: sqlite3.Connection, intent_id: str) -> Intent:
    """One intent by id; ``IntentError`` if there is none."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM intents WHERE id = ?", (intent_id,)).fetchone()  # noqa: S608
    if row is None:
        raise IntentError(f"no intent {intent_id!r}", hint=_HINT, see=See("intents"))
    return _intent(row)


def find_intent(conn: sqlite3.Connection, text: str) -> Intent:
    """The intent whose id is ``text`` or starts with it (at least 4 characters, unambiguous)."""
    if len(text) < 4:
        raise IntentError(f"intent id {text!r} is too short", hint="give at least its first 4 characters")
    if re.fullmatch(r"[0-9a-f]{4,32}", text) is None:
        raise IntentError(f"no intent {text!r}", hint=_HINT, see=See("intents"))
    rows = conn.execute("SELECT id FROM intents WHERE id LIKE ?", (text + "%",)).fetchall()
    if len(rows) > 1:
        raise IntentError(f"{text!r} names more than one intent", hint="give more of its id")
    if not rows:
        raise IntentError(f"no intent {text!r}", hint=_HINT, see=See("intents"))
    return get_intent(conn, rows[0][0])


def offer_count(conn: sqlite3.Connection, intent_id: str) -> int:
    """How many offers the inbox keeps for ``intent_id``."""
    (count,) = conn.execute("SELECT count(*) FROM intent_offers WHERE intent_id = ?", (intent_id,)).fetchone()
    return int(count)


def inbox(conn: sqlite3.Connection, intent_id: str) -> list[InboxOffer]:
    """The offers kept for ``intent_id``, in the order they came."""
    rows = conn.execute(
        "SELECT number, received_at, offer, answer, answered_at, answer_sent_at FROM intent_offers"
        " WHERE intent_id = ? ORDER BY number",
        (intent_id,),
    )
    return [
        InboxOffer(n, at, msgspec.json.decode(offer, type=Offer), answer, answered, sent)
        for n, at, offer, answer, answered, sent in rows
    ]


def mark_published(conn: sqlite3.Connection, intent_id: str, *, now: float) -> None:
    """The broker took the intent: audit that it left."""
    with transaction(conn, immediate=True):
        intent = get_intent(conn, intent_id)
        if intent.published_at is not None:
            return
        conn.execute("UPDATE intents SET published_at = ? WHERE id = ?", (now, intent_id))
        append_audit(
            conn,
            [
                (
                    now,
                    "intent publish",
                    {"intent": intent_id, "topic": intent.topic, "bytes": len(intent.payload)},
                )
            ],
        )


def end(conn: sqlite3.Connection, intent_id: str, *, reason: str, now: float) -> Intent:
    """End an intent (``withdrawn``, ``expired``, ``grant ended``); ``IntentError`` if it already ended."""
    with transaction(conn, immediate=True):
        intent = get_intent(conn, intent_id)
        if intent.ended_at is not None:
            raise IntentError(f"intent {intent_id} has already ended ({intent.end_reason})")
        conn.execute("UPDATE intents SET ended_at = ?, end_reason = ? WHERE id = ?", (now, reason, intent_id))
        append_audit(
            conn,
            [
                (
                    now,
                    "intent end",
                    {
                        "intent": intent_id,
                        "reason": reason,
                        "offers": offer_count(conn, intent_id),
                        "dropped": intent.dropped,
                    },
                )
            ],
        )
    return get_intent(conn, intent_id)


def end_due(conn: sqlite3.Connection, *, now: float, active_grants: set[str]) -> list[str]:
    """End intents whose lifetime is over or one of whose grants ended; their ids."""
    ended = []
    for intent in intents(conn):
        if intent.ended_at is not None:
            continue
        if now >= intent.expires_at:
            end(conn, intent.id, reason="expired", now=now)
        elif not set(intent.grants) <= active_grants:
            end(conn, intent.id, reason="grant ended", now=now)
        else:
            continue
        ended.append(intent.id)
    return ended


def mark_cleared(conn: sqlite3.Connection, intent_id: str, *, now: float) -> None:
    """The retained intent was removed from the broker."""
    with transaction(conn, immediate=True):
        intent = get_intent(conn, intent_id)
        conn.execute("UPDATE intents SET cleared_at = ? WHERE id = ?", (now, intent_id))
        append_audit(conn, [(now, "intent clear", {"intent": intent_id, "topic": intent.topic})])


def record_offers(
    conn: sqlite3.Connection,
    intent_id: str,
    payloads: list[bytes],
    *,
    prefix: str,
    limits: Limits,
    now: float,
) -> dict[str, int]:
    """Put what came on the reply topic through the inbox's intake; counts kept and dropped by reason."""
    counts = {"kept": 0, "size": 0, "rate": 0, "invalid": 0, "full": 0}
    if not payloads:
        return counts
    with transaction(conn, immediate=True):
        intent = get_intent(conn, intent_id)
        if intent.ended_at is not None or now >= intent.expires_at:
            return counts
        (recent,) = conn.execute(
            "SELECT count(*) FROM intent_offers WHERE intent_id = ? AND received_at > ?",
            (intent_id, now - limits.period_s),
        ).fetchone()
        (stored, last) = conn.execute(
            "SELECT count(*), coalesce(max(number), 0) FROM intent_offers WHERE intent_id = ?", (intent_id,)
        ).fetchone()
        audits: list[tuple[float, str, dict[str, Any]]] = []
        for payload in payloads:
            verdict = intake(
                payload, intent_id=intent_id, prefix=prefix, limits=limits, recent=recent, stored=stored
            )
            if isinstance(verdict, Dropped):
                counts[verdict.reason] += 1
                continue
            last += 1
            recent += 1
            stored += 1
            counts["kept"] += 1
            conn.execute(
                "INSERT INTO intent_offers (intent_id, number, received_at, offer) VALUES (?, ?, ?, ?)",
                (intent_id, last, now, msgspec.json.encode(verdict).decode()),
            )
            audits.append(
                (
                    now,
                    "intent offer",
                    {"intent": intent_id, "offer": last, "vendor": verdict.vendor, "bytes": len(payload)},
                )
            )
        for reason, column in _DROP_COLUMN.items():
            if counts[reason]:
                conn.execute(
                    f"UPDATE intents SET {column} = {column} + ? WHERE id = ?",  # noqa: S608 - fixed names
                    (counts[reason], intent_id),
                )
        append_audit(conn, audits)
    return counts


def add_answer(conn: sqlite3.Connection, intent_id: str, number: int, text: str, *, now: float) -> str:
    """Record the owner's answer to offer ``number`` (sent by the next exchange); the topic it goes to."""
    with transaction(conn, immediate=True):
        intent = get_intent(conn, intent_id)
        if intent.ended_at is not None or now >= intent.expires_at:
            raise IntentError(
                f"intent {intent_id} has ended: its connection to the market is closed",
                hint="answers go out over the intent's own connection, while the intent runs",
            )
        row = conn.execute(
            "SELECT offer, answer FROM intent_offers WHERE intent_id = ? AND number = ?", (intent_id, number)
        ).fetchone()
        if row is None:
            raise IntentError(
                f"intent {intent_id} has no offer {number}",
                hint="{see} shows its offers",
                see=See("intent", intent_id),
            )
        offer = msgspec.json.decode(row[0], type=Offer)
        if row[1] is not None:
            raise IntentError(f"offer {number} is already answered")
        if offer.reply_to is None:
            raise IntentError(
                f"offer {number} named no topic for an answer", hint="the vendor cannot be answered"
            )
        conn.execute(
            "UPDATE intent_offers SET answer = ?, answered_at = ? WHERE intent_id = ? AND number = ?",
            (text, now, intent_id, number),
        )
        append_audit(
            conn,
            [
                (
                    now,
                    "intent answer",
                    {"intent": intent_id, "offer": number, "topic": offer.reply_to, "text": text},
                )
            ],
        )
    return offer.reply_to


def pending_answers(conn: sqlite3.Connection, intent_id: str) -> list[tuple[int, str, bytes]]:
    """Answers recorded and not yet sent: (offer number, topic, payload)."""
    out = []
    for item in inbox(conn, intent_id):
        if item.answer is not None and item.answer_sent_at is None and item.offer.reply_to is not None:
            payload = encode_answer(Answer(intent=intent_id, ref=item.offer.ref, text=item.answer))
            out.append((item.number, item.offer.reply_to, payload))
    return out


def mark_answer_sent(conn: sqlite3.Connection, intent_id: str, number: int, *, now: float) -> None:
    """The broker took the answer to offer ``number``."""
    with transaction(conn, immediate=True):
        conn.execute(
            "UPDATE intent_offers SET answer_sent_at = ? WHERE intent_id = ? AND number = ?",
            (now, intent_id, number),
        )
