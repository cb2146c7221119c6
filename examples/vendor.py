"""An example vendor on a Hearth intent market: reads intents of its categories and answers with an offer.

Run it next to a market broker, then publish an intent with ``hearth intent create``:

    python examples/vendor.py --host market.example.org --category heating --name "Acme Heat" \\
        --text "Air-to-water heat pump, fitted in a day" --price "from 7900 EUR" --link https://acme.example

It prints one JSON line per event on stdout (``ready``, ``intent``, ``offer``, ``answer``), so a script or a
test can follow it. It needs only aiomqtt; it imports nothing from Hearth, as a real vendor would not.
What it may rely on is in docs/intents.md: the intent's fields, the offer's fields and size limit, and
that answers come on a topic under ``<prefix>/answers/`` that the offer names.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import sys
from typing import Any

import aiomqtt


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def offer_for(intent: dict[str, Any], args: argparse.Namespace, answers_topic: str) -> dict[str, Any]:
    """The offer this vendor makes for ``intent``."""
    offer: dict[str, Any] = {
        "v": 1,
        "intent": intent["intent"],
        "vendor": args.name,
        "text": args.text,
        "ref": secrets.token_hex(8),
        "reply_to": answers_topic,
    }
    if args.price:
        offer["price"] = args.price
    if args.link:
        offer["links"] = list(args.link)
    return offer


async def run(args: argparse.Namespace) -> int:
    """Offer on every intent of our categories; stop after ``--answers`` answers (0: never)."""
    prefix = args.prefix
    answers_topic = f"{prefix}/answers/{secrets.token_hex(12)}"
    tls = ssl.create_default_context(cafile=args.ca_file) if args.tls else None
    seen: set[str] = set()
    answers = 0
    async with aiomqtt.Client(
        args.host,
        args.port,
        identifier=f"vendor-{secrets.token_hex(6)}",
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=tls,
    ) as client:
        await client.subscribe(answers_topic, qos=1)
        for category in args.category:
            await client.subscribe(f"{prefix}/intents/{category}/+", qos=1)
        emit("ready", answers_topic=answers_topic)
        async for message in client.messages:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic == answers_topic:
                answers += 1
                emit("answer", answer=json.loads(payload))
                if args.answers and answers >= args.answers:
                    return 0
                continue
            if not payload:
                emit("cleared", topic=topic)
                continue
            try:
                intent = json.loads(payload)
                intent_id, reply_to = str(intent["intent"]), str(intent["reply_to"])
            except (ValueError, KeyError, TypeError):
                continue  # not an intent: a vendor ignores what it cannot read
            if intent_id in seen:
                continue
            seen.add(intent_id)
            emit("intent", intent=intent)
            offer = offer_for(intent, args, answers_topic)
            for _ in range(args.copies):
                await client.publish(reply_to, json.dumps(offer).encode(), qos=1)
            emit("offer", intent=intent_id, topic=reply_to, offer=offer, copies=args.copies)
    return 0


def main() -> int:
    """Parse the command line and run until stopped (Ctrl-C) or enough answers came."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--tls", action="store_true", help="connect with TLS (verifying the broker)")
    parser.add_argument("--ca-file", default=None)
    parser.add_argument("--prefix", default="intents/v1")
    parser.add_argument("--category", action="append", required=True, help="a category served; repeatable")
    parser.add_argument("--name", required=True, help="the vendor's name, shown to the owner")
    parser.add_argument("--text", required=True, help="the offer, in plain words")
    parser.add_argument("--price", default=None)
    parser.add_argument("--link", action="append", default=[], help="a link shown as text; repeatable")
    parser.add_argument("--copies", type=int, default=1, help="send each offer this many times (flood tests)")
    parser.add_argument("--answers", type=int, default=0, help="exit after this many answers (0: run on)")
    args = parser.parse_args()
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    except aiomqtt.MqttError as exc:
        sys.stderr.write(f"vendor: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
