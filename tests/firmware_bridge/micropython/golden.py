"""On MicroPython: encode and decode every golden vector with hearth_board; one JSON line per vector."""

import json
import sys

sys.path.insert(0, "/")

import binascii
import struct

import hearth_board as mp

BOARD_SENDS = ("hello", "reading", "readings", "ack", "log", "error")


def encode(vector):
    f, seq, kind = vector["fields"], vector["seq"], vector["type"]
    if kind == "hello":
        return mp.hello(seq, f["board_id"], f["firmware"], f["sensors"], f["protocol"])
    if kind == "reading":
        return mp.reading(seq, f["sensor"], f["value"])
    if kind == "readings":
        return mp.readings(seq, f["entries"])
    if kind == "ack":
        return mp.ack(seq, f["seq"], f["status"], f["detail"])
    if kind == "log":
        return mp.log(seq, f["level"], f["text"])
    return mp.error(seq, f["code"], f["text"], f["ref"])


def plain(value):
    """JSON for a payload value; a float as the hex of its binary64 bits (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return {"f": binascii.hexlify(struct.pack(">d", value)).decode()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def decoded(wire):
    results = mp.FrameReader().feed(binascii.unhexlify(wire))
    out = []
    for item in results:
        if isinstance(item, mp.FrameError):
            out.append({"error": item.name})
        else:
            kind, seq, payload = item
            out.append(
                {"type": kind, "seq": seq, "payload": [[k, plain(payload[k])] for k in sorted(payload)]}
            )
    return out


vectors = json.load(open("/vectors.json"))  # noqa: SIM115 - no pathlib or with-less on MicroPython
for vector in vectors["valid"] + vectors["malformed"]:
    line = {"name": vector["name"], "decoded": decoded(vector["wire"])}
    if vector in vectors["valid"] and vector["type"] in BOARD_SENDS:
        line["encoded"] = binascii.hexlify(encode(vector)).decode()
    print(json.dumps(line))
