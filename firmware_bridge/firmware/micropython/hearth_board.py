"""Hearth firmware bridge for MicroPython boards: COBS frames, CRC-32, a tiny CBOR subset.

Runs on MicroPython (no cbor2 there) and on CPython (where the tests check it against the golden
vectors). See firmware_bridge/PROTOCOL.md. Typical use, in main.py::

    board = Board(uart.write, "pico-1", "1.0.0", [("temperature", "°C")], on_command)
    board.begin()
    while True:
        board.feed(uart.read() or b"")
        board.send_reading(0, read_temperature())
"""

import struct

try:
    from binascii import crc32 as _crc32
except ImportError:  # some MicroPython ports build binascii without crc32
    _crc32 = None

PROTOCOL_VERSION = 1
MAX_BODY = 512
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 1

HELLO = 0x01
HELLO_REQUEST = 0x02
READING = 0x03
READINGS = 0x04
COMMAND = 0x05
ACK = 0x06
LOG = 0x07
ERROR = 0x08

ERR_UNSUPPORTED_VERSION = 1
ERR_UNKNOWN_COMMAND = 2
ERR_BAD_ARGUMENT = 3


class FrameError(ValueError):
    """A received frame is not valid; ``name`` is the error's name in PROTOCOL.md."""

    def __init__(self, name, detail=""):
        # super(), not ValueError.__init__: MicroPython's built-in exceptions have no __init__ attribute.
        super().__init__(name + (": " + detail if detail else ""))
        self.name = name


def crc32(data):
    """CRC-32/ISO-HDLC of ``data``."""
    if _crc32 is not None:
        return _crc32(data) & 0xFFFFFFFF
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def cobs_encode(data):
    """COBS-encode ``data`` (the result holds no zero byte)."""
    out = bytearray(1)
    code_at = 0
    code = 1
    for byte in data:
        if byte == 0:
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
        else:
            out.append(byte)
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at = len(out)
                out.append(0)
                code = 1
    out[code_at] = code
    return bytes(out)


def cobs_decode(data):
    """Decode COBS ``data``; raise FrameError("CobsError") if it is not valid."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > n:
            raise FrameError("CobsError")
        block = data[i : i + code - 1]
        if 0 in block:
            raise FrameError("CobsError")
        out += block
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# -- CBOR subset ------------------------------------------------------------------------------------


def _head(out, major, value):
    m = major << 5
    if value < 24:
        out.append(m | value)
    elif value <= 0xFF:
        out.append(m | 24)
        out.append(value)
    elif value <= 0xFFFF:
        out.append(m | 25)
        out += struct.pack(">H", value)
    elif value <= 0xFFFFFFFF:
        out.append(m | 26)
        out += struct.pack(">I", value)
    else:
        out.append(m | 27)
        out += struct.pack(">Q", value)


def _half_bits(single_bits):
    """Half-precision bits of a float32 (given as bits) if it is exactly representable, else None."""
    sign = (single_bits >> 16) & 0x8000
    exp = (single_bits >> 23) & 0xFF
    mant = single_bits & 0x7FFFFF
    if exp == 0xFF:
        return None if mant else sign | 0x7C00
    if exp == 0:
        return None if mant else sign
    e = exp - 127
    if -14 <= e <= 15:
        return None if mant & 0x1FFF else sign | ((e + 15) << 10) | (mant >> 13)
    if -24 <= e < -14:
        full = mant | 0x800000
        shift = -e - 1
        return None if full & ((1 << shift) - 1) else sign | (full >> shift)
    return None


# The largest finite float32: CPython's struct refuses to pack anything larger as ">f" (OverflowError),
# MicroPython packs it as infinity; neither is the value, so such numbers go out as binary64.
_FLOAT32_MAX = 3.4028234663852886e38
_INF = float("inf")


def _float(out, value):
    if value != value:  # noqa: PLR0124 - NaN; MicroPython's math may lack isnan
        out += b"\xf9\x7e\x00"
        return
    magnitude = abs(value)
    if magnitude <= _FLOAT32_MAX or magnitude == _INF:
        single = struct.pack(">f", value)
        if struct.unpack(">f", single)[0] == value:
            half = _half_bits(struct.unpack(">I", single)[0])
            if half is not None:
                out.append(0xF9)
                out += struct.pack(">H", half)
            else:
                out.append(0xFA)
                out += single
            return
    out.append(0xFB)
    out += struct.pack(">d", value)


def cbor_dumps(value, out=None):
    """Encode ints, floats, str, lists and int-keyed dicts (keys ascending) as canonical CBOR."""
    if out is None:
        out = bytearray()
    if isinstance(value, bool) or value is None:
        raise TypeError("not part of the protocol: " + repr(value))
    if isinstance(value, int):
        if value >= 0:
            _head(out, 0, value)
        else:
            _head(out, 1, -1 - value)
    elif isinstance(value, float):
        _float(out, value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        _head(out, 3, len(raw))
        out += raw
    elif isinstance(value, (list, tuple)):
        _head(out, 4, len(value))
        for item in value:
            cbor_dumps(item, out)
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for key in sorted(value):
            cbor_dumps(key, out)
            cbor_dumps(value[key], out)
    else:
        raise TypeError("not part of the protocol: " + repr(value))
    return out


def _half_to_float(h):
    exp = (h >> 10) & 0x1F
    mant = h & 0x3FF
    if exp == 0:
        value = mant * 2.0**-24
    elif exp == 31:
        value = float("nan") if mant else float("inf")
    else:
        value = (1 + mant / 1024.0) * 2.0 ** (exp - 15)
    return -value if h & 0x8000 else value


def _item(data, pos, depth):  # noqa: PLR0911, PLR0912 - one branch per CBOR major type
    if depth > 8 or pos >= len(data):
        raise FrameError("PayloadError", "truncated or too deep")
    initial = data[pos]
    major = initial >> 5
    info = initial & 0x1F
    pos += 1
    if major == 7:
        sizes = {25: 2, 26: 4, 27: 8}
        if info not in sizes or pos + sizes[info] > len(data):
            raise FrameError("PayloadError", "unsupported simple value")
        raw = data[pos : pos + sizes[info]]
        pos += sizes[info]
        if info == 25:
            return _half_to_float(struct.unpack(">H", raw)[0]), pos
        return struct.unpack(">f" if info == 26 else ">d", raw)[0], pos
    if info < 24:
        value = info
    elif 24 <= info <= 27:
        size = 1 << (info - 24)
        if pos + size > len(data):
            raise FrameError("PayloadError", "truncated")
        value = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    else:
        raise FrameError("PayloadError", "indefinite lengths are not part of the protocol")
    if major == 0:
        return value, pos
    if major == 1:
        return -1 - value, pos
    if major == 3:
        if pos + value > len(data):
            raise FrameError("PayloadError", "truncated text")
        try:
            return bytes(data[pos : pos + value]).decode("utf-8"), pos + value
        except UnicodeError:
            raise FrameError("PayloadError", "text is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _item(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        result = {}
        for _ in range(value):
            key, pos = _item(data, pos, depth + 1)
            result[key], pos = _item(data, pos, depth + 1)
        return result, pos
    raise FrameError("PayloadError", "unsupported CBOR type")


def cbor_loads(data):
    """Decode one CBOR item (the protocol's subset) that fills ``data`` exactly."""
    value, pos = _item(data, 0, 0)
    if pos != len(data):
        raise FrameError("PayloadError", "trailing bytes")
    return value


# -- frames -----------------------------------------------------------------------------------------


def encode_frame(kind, seq, payload):
    """Wire bytes (00, COBS body, 00) of a message of type ``kind`` with a payload dict."""
    head = bytes([kind, seq & 0xFF, (seq >> 8) & 0xFF]) + cbor_dumps(payload)
    body = head + struct.pack("<I", crc32(head))
    if len(body) > MAX_BODY:
        raise FrameError("FrameTooLarge", "body of {} bytes".format(len(body)))  # noqa: UP032 - MicroPython
    return b"\x00" + cobs_encode(body) + b"\x00"


def decode_frame(chunk):
    """``(kind, seq, payload)`` of the bytes between two delimiters; raise FrameError if malformed."""
    if len(chunk) > MAX_ENCODED:
        raise FrameError("FrameTooLarge")
    body = cobs_decode(chunk)
    if len(body) < 8:
        raise FrameError("FrameTooShort")
    if len(body) > MAX_BODY:
        raise FrameError("FrameTooLarge")
    if crc32(body[:-4]) != struct.unpack("<I", body[-4:])[0]:
        raise FrameError("CrcMismatch")
    kind = body[0]
    seq = body[1] | (body[2] << 8)
    if not HELLO <= kind <= ERROR:
        raise FrameError("UnknownMessageType")
    payload = cbor_loads(body[3:-4])
    if not isinstance(payload, dict):
        raise FrameError("PayloadError", "payload must be a map")
    _check(kind, payload)
    return kind, seq, payload


def _check(kind, payload):
    """Check the fields of the messages a board acts on (HELLO_REQUEST, COMMAND, ERROR)."""
    if kind == HELLO_REQUEST:
        if not isinstance(payload.get(0), int) or payload[0] < 0:
            raise FrameError("PayloadError", "HELLO_REQUEST needs a protocol version")
    elif kind == COMMAND:
        if not isinstance(payload.get(0), str):
            raise FrameError("PayloadError", "COMMAND needs a name")
        arg = payload.get(1)
        if arg is not None and not isinstance(arg, (int, float, str)):
            raise FrameError("PayloadError", "COMMAND argument must be a number or text")
    elif kind == ERROR and (not isinstance(payload.get(0), int) or not isinstance(payload.get(1), str)):
        raise FrameError("PayloadError", "ERROR needs a code and a text")


def hello(seq, board_id, firmware, sensors, protocol=PROTOCOL_VERSION):
    """HELLO: who this board is; ``sensors`` is a list of (quantity, unit)."""
    return encode_frame(HELLO, seq, {0: board_id, 1: firmware, 2: protocol, 3: [list(s) for s in sensors]})


def reading(seq, sensor, value):
    """READING: one value of sensor number ``sensor``."""
    return encode_frame(READING, seq, {0: sensor, 1: value})


def readings(seq, entries):
    """READINGS: a batch of (sensor, value, age_ms)."""
    return encode_frame(READINGS, seq, {0: [list(e) for e in entries]})


def ack(seq, command_seq, status=0, detail=""):
    """ACK of the command with sequence number ``command_seq``."""
    payload = {0: command_seq, 1: status}
    if detail:
        payload[2] = detail
    return encode_frame(ACK, seq, payload)


def log(seq, level, text):
    """LOG: a line of the board's log (0 debug .. 3 error)."""
    return encode_frame(LOG, seq, {0: level, 1: text})


def error(seq, code, text, ref=None):
    """ERROR: something went wrong, about frame ``ref``."""
    payload = {0: code, 1: text}
    if ref is not None:
        payload[2] = ref
    return encode_frame(ERROR, seq, payload)


class FrameReader:
    """Collects bytes up to each delimiter; ``feed`` returns decoded frames and FrameErrors."""

    def __init__(self):
        self._buffer = bytearray()
        self._overflow = False

    def feed(self, data):
        """Return a list of ``(kind, seq, payload)`` tuples or FrameError instances."""
        results = []
        for byte in data:
            if byte:
                if len(self._buffer) < MAX_ENCODED:
                    self._buffer.append(byte)
                else:
                    self._overflow = True
                continue
            chunk, overflow = bytes(self._buffer), self._overflow
            self._buffer = bytearray()
            self._overflow = False
            if overflow:
                results.append(FrameError("FrameTooLarge"))
            elif chunk:
                try:
                    results.append(decode_frame(chunk))
                except FrameError as exc:
                    results.append(exc)
        return results


class Board:
    """A board's side of the link: HELLO on begin and on request, commands run once and ACKed.

    ``write`` takes bytes (``uart.write``, ``sys.stdout.buffer.write``); ``on_command(name, arg)``
    returns ``(status, detail)``, status 0 when done.
    """

    def __init__(self, write, board_id, firmware, sensors, on_command=None):
        self.write = write
        self.board_id = board_id
        self.firmware = firmware
        self.sensors = list(sensors)
        self.on_command = on_command
        self.host_seen = False
        self.seq = 0
        self._reader = FrameReader()
        self._last = None

    def _next(self):
        seq = self.seq
        self.seq = (seq + 1) & 0xFFFF
        return seq

    def begin(self):
        """Announce the board."""
        self.write(hello(self._next(), self.board_id, self.firmware, self.sensors))

    def send_reading(self, sensor, value):
        """Send one reading of sensor number ``sensor``."""
        self.write(reading(self._next(), sensor, value))

    def send_readings(self, entries):
        """Send a batch of (sensor, value, age_ms)."""
        self.write(readings(self._next(), entries))

    def log(self, level, text):
        """Send a log line to the host."""
        self.write(log(self._next(), level, text))

    def feed(self, data):
        """Handle bytes from the host."""
        for item in self._reader.feed(data):
            if isinstance(item, FrameError):
                continue
            kind, seq, payload = item
            if kind == HELLO_REQUEST:
                self.host_seen = True
                self.begin()
            elif kind == COMMAND:
                self._command(seq, payload[0], payload.get(1))

    def _command(self, seq, name, arg):
        if self._last is not None and self._last[0] == seq:
            # The host resent a command whose ACK it lost: answer again, do not act twice.
            self.write(ack(self._next(), seq, self._last[1], "repeat"))
            return
        status, detail = (ERR_UNKNOWN_COMMAND, "unknown command")
        if self.on_command is not None:
            status, detail = self.on_command(name, arg)
        self._last = (seq, status)
        self.write(ack(self._next(), seq, status, detail))
